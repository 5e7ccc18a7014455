"""Hostile RayClusters beside a normal one: each gets SpecValid=False and a Warning Event naming the field, or
is refused at admission, and none of them slows the operator down for the normal cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberay_py.runtime import KubeClient
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.controllers.objects import (
    create,
    kubectl,
    manifest,
    raycluster,
    scale,
    wait_state,
)
from tests.integration.controllers.tracking import PodTracker
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("operator")

BOMB = "1e30000000"
W0_RAY = "spec.workerGroupSpecs[0].template.spec.containers[0]"
HEAD_RAY = "spec.headGroupSpec.template.spec.containers[0]"


def _with(name: str, edit: Any) -> dict[str, Any]:
    obj = manifest(name, {"groupName": "g", "replicas": 1})
    edit(obj["spec"])
    return obj


def _ray(spec: dict[str, Any], group: str = "worker") -> dict[str, Any]:
    section = spec["workerGroupSpecs"][0] if group == "worker" else spec["headGroupSpec"]
    container: dict[str, Any] = section["template"]["spec"]["containers"][0]
    return container


# name -> (edit of a valid manifest, the field the report must name)
INVALID: dict[str, tuple[Any, str]] = {
    "bomb-limit-cpu": (
        lambda s: _ray(s)["resources"].update(limits={"cpu": BOMB}),
        f"{W0_RAY}.resources.limits.cpu",
    ),
    "bomb-request-cpu": (
        lambda s: _ray(s)["resources"]["requests"].update(cpu=BOMB),
        f"{W0_RAY}.resources.requests.cpu",
    ),
    "bomb-limit-memory": (
        lambda s: _ray(s, "head")["resources"].update(limits={"memory": BOMB}),
        f"{HEAD_RAY}.resources.limits.memory",
    ),
    "bomb-gpu": (
        lambda s: _ray(s)["resources"].update(limits={"nvidia.com/gpu": BOMB}),
        f"{W0_RAY}.resources.limits.nvidia.com/gpu",
    ),
    "bomb-num-cpus": (
        lambda s: s["workerGroupSpecs"][0]["rayStartParams"].update({"num-cpus": BOMB}),
        "spec.workerGroupSpecs[0].rayStartParams.num-cpus",
    ),
    "bomb-memory-param": (
        lambda s: s["headGroupSpec"]["rayStartParams"].update(memory=BOMB),
        "spec.headGroupSpec.rayStartParams.memory",
    ),
    "memory-8gb": (
        lambda s: _ray(s, "head")["resources"].update(limits={"memory": "8GB"}),
        f"{HEAD_RAY}.resources.limits.memory",
    ),
}


@contextlib.asynccontextmanager
async def health_probes(operator: OperatorProcess) -> AsyncIterator[list[float]]:
    """Probe /healthz every 0.2 s with a 1 s timeout, as a kubelet's liveness probe would; yields the list of
    probe durations, a failed probe counting as infinite."""
    url = f"http://127.0.0.1:{operator.health_port}/healthz"
    durations: list[float] = []

    def probe() -> float:
        began = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:
                return time.monotonic() - began if answer.status == 200 else float("inf")
        except OSError:
            return float("inf")

    async def loop() -> None:
        while True:
            durations.append(await asyncio.to_thread(probe))
            await asyncio.sleep(0.2)

    task = asyncio.create_task(loop())
    try:
        yield durations
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def warning_events(plane: ControlPlane, namespace: str, name: str) -> list[str]:
    out = await kubectl(
        plane,
        "get",
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={name}",
        "-o",
        "json",
    )
    return [
        str(e.get("message") or e.get("note") or "")
        for e in json.loads(out.stdout)["items"]
        if e.get("type") == "Warning" and e.get("reason") == "InvalidRayClusterSpec"
    ]


async def test_hostile_specs_are_reported_and_never_hold_up_a_normal_cluster(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, operator: OperatorProcess
) -> None:
    await create(control_plane, namespace, manifest("normal", {"groupName": "g", "replicas": 1}))
    await wait_state(control_plane, namespace, "normal")

    async with health_probes(operator) as probes, PodTracker(kube, namespace, "normal") as pods:
        for name, (edit, _) in INVALID.items():
            await create(control_plane, namespace, _with(name, edit))
        # Valid but extreme: a replica wider than a pass's budget, two groups without maxReplicas, and names
        # at their length limits.
        wide = manifest("wide", {"groupName": "wide", "replicas": 1, "numOfHosts": 600, "maxReplicas": 1})
        await create(control_plane, namespace, wide)
        unbounded = manifest(
            "unbounded", {"groupName": "a", "replicas": 1}, {"groupName": "b", "replicas": 1}
        )
        for group in unbounded["spec"]["workerGroupSpecs"]:
            del group["maxReplicas"]
        await create(control_plane, namespace, unbounded)
        longest = "l" * 53
        await create(control_plane, namespace, manifest(longest, {"groupName": "g" * 63, "replicas": 1}))

        began = time.monotonic()
        await scale(control_plane, namespace, "normal", 2)
        await eventually(lambda: len(pods.active("g")) == 2, timeout=30, what="the normal scale-up")
        scaled_in = time.monotonic() - began

        for name, (_, field) in INVALID.items():
            rc = await eventually(
                lambda name=name: _spec_invalid(control_plane, namespace, name), timeout=30, what=name
            )
            assert field in rc["message"], (name, rc["message"])
            events = await eventually(
                lambda name=name: warning_events(control_plane, namespace, name),
                timeout=30,
                what=f"{name} event",
            )
            assert any(field in e for e in events), (name, events)
        await wait_state(control_plane, namespace, "unbounded", timeout=60)
        assert (await raycluster(control_plane, namespace, "unbounded"))["status"][
            "maxWorkerReplicas"
        ] == 2**31 - 1
        await wait_state(control_plane, namespace, longest, timeout=60)
        await wait_state(control_plane, namespace, "wide", timeout=120)

    slowest = max(probes)
    print(f"normal scale-up landed {scaled_in:.2f}s after its patch; slowest /healthz {slowest:.3f}s")
    assert slowest <= 1.0, f"/healthz missed its 1 s liveness timeout: {sorted(probes)[-5:]}"
    assert scaled_in < 10.0, "a normal cluster's scale-up waited behind hostile ones"
    assert operator.proc is not None and operator.proc.poll() is None, "the operator never restarts"


async def test_a_quantity_bomb_in_group_resources_is_refused_at_admission(
    control_plane: ControlPlane, namespace: str
) -> None:
    obj = manifest("bomb-admission", {"groupName": "g", "replicas": 1, "resources": {"CPU": BOMB}})
    out = await kubectl(
        control_plane, "create", "-n", namespace, "-f", "-", input=json.dumps(obj), check=False
    )
    assert out.returncode != 0 and "exponent of at most two digits" in out.stderr


async def _spec_invalid(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    rc = await raycluster(plane, namespace, name)
    for condition in (rc.get("status") or {}).get("conditions") or []:
        if condition["type"] == "SpecValid" and condition["status"] == "False":
            result: dict[str, Any] = condition
            return result
    return None
