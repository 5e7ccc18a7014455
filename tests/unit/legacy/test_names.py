"""Worker group names from legacy pod type names."""

from __future__ import annotations

import pytest

from kuberay_py.api import patterns as pat
from kuberay_py.legacy.names import dns_label, group_names


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("worker-nodes", "worker-nodes"),
        ("rayWorkerType", "ray-worker-type"),
        ("worker_nodes", "worker-nodes"),
        ("GPUWorkers", "gpu-workers"),
        ("gpu.t4 pool", "gpu-t4-pool"),
        ("--Spot--", "spot"),
        ("1st", "1st"),
        ("x" * 70, "x" * 63),
        ("a" * 62 + "_b", "a" * 62),  # cut at the limit, never ending in a dash
    ],
)
def test_dns_label(name: str, label: str) -> None:
    assert dns_label(name, "fallback") == label
    assert pat.matches(pat.DNS1123_LABEL, label)


def test_nothing_usable_gives_the_fallback() -> None:
    assert dns_label("___", "group-3") == "group-3"
    assert group_names(["___", "!!"]) == ["group-0", "group-1"]


def test_names_are_made_unique_and_avoid_the_heads() -> None:
    assert group_names(["worker_nodes", "worker-nodes", "Worker.Nodes"]) == [
        "worker-nodes",
        "worker-nodes-2",
        "worker-nodes-3",
    ]
    assert group_names(["headgroup", "headGroup"]) == ["headgroup-workers", "head-group"]


def test_a_suffix_still_fits() -> None:
    names = group_names(["w" * 63, "w" * 63 + "_"])
    assert names == ["w" * 63, "w" * 61 + "-2"]
    assert all(len(n) <= 63 for n in names)
