"""The resources a cluster asks for when every desired pod runs: status.desiredCPU/Memory/GPU/TPU."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from kuberay_py.builders import QuantityError, parse_quantity

_BINARY_SUFFIXES = (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024))


def pod_requests(pod: dict[str, Any]) -> dict[str, Fraction]:
    """What the scheduler reserves for the pod: each container's requests, falling back to its limits."""
    totals: dict[str, Fraction] = {}
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        wanted = {**limits, **(resources.get("requests") or {})}
        for name, value in wanted.items():
            try:
                totals[name] = totals.get(name, Fraction(0)) + parse_quantity(value)
            except QuantityError:
                continue  # admission already refused malformed quantities; a leftover one counts as nothing
    return totals


def desired_capacity(pods: Iterable[tuple[dict[str, Any], int]]) -> dict[str, str]:
    """Status fields for `count` copies of each built pod, in the shape KubeRay reports them."""
    cpu = memory = gpu = tpu = Fraction(0)
    for pod, count in pods:
        for name, value in pod_requests(pod).items():
            if name == "cpu":
                cpu += value * count
            elif name == "memory":
                memory += value * count
            elif name.endswith("gpu"):
                gpu += value * count
            elif name.endswith("tpu"):
                tpu += value * count
    return {
        "desiredCPU": format_cpu(cpu),
        "desiredMemory": format_bytes(memory),
        "desiredGPU": format_count(gpu),
        "desiredTPU": format_count(tpu),
    }


def format_cpu(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    millis = value * 1000
    return f"{-(-millis.numerator // millis.denominator)}m"  # round up: never report less than asked


def format_bytes(value: Fraction) -> str:
    whole = -(-value.numerator // value.denominator)
    for suffix, size in _BINARY_SUFFIXES:
        if whole and whole % size == 0:
            return f"{whole // size}{suffix}"
    return str(whole)


def format_count(value: Fraction) -> str:
    return str(-(-value.numerator // value.denominator))
