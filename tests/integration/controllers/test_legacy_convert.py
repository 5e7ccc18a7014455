"""`kuberay-py convert` end to end: the legacy docs' example clusters and chart values, converted by the
command, applied to the real API server and brought up by the operator on the simulated kubelet."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.testing.controlplane import ControlPlane
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("operator")

FIXTURES = Path(__file__).resolve().parents[2] / "unit" / "legacy" / "fixtures"


def convert(*args: str) -> list[dict[str, Any]]:
    """The RayClusters the command prints; it must succeed."""
    proc = subprocess.run(
        [sys.executable, "-m", "kuberay_py", "convert", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith("kuberay-py convert: warning: ") for line in proc.stderr.splitlines())
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


async def kubectl(plane: ControlPlane, *args: str, input: str | None = None) -> str:
    proc = await asyncio.to_thread(plane.kubectl, *args, input=input)
    return proc.stdout


async def ready_cluster(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        rc: dict[str, Any] = json.loads(
            await kubectl(plane, "get", "raycluster", name, "-n", namespace, "-o", "json")
        )
        return rc if (rc.get("status") or {}).get("state") == "ready" else None

    result: dict[str, Any] = await eventually(check, timeout=120, what=f"{name} ready")
    return result


async def test_converted_legacy_clusters_come_up_ready(control_plane: ControlPlane, namespace: str) -> None:
    clusters = [
        *convert(str(FIXTURES / "example-cluster.yaml")),
        *convert(str(FIXTURES / "example-cluster2.yaml")),
        *convert("--name", "helm-cluster", str(FIXTURES / "values.yaml")),
    ]
    expected_workers = {
        "example-cluster": {"worker-nodes": 2},
        "example-cluster2": {"worker-nodes": 1},
        "helm-cluster": {"ray-worker-type": 2},
    }
    assert [c["metadata"]["name"] for c in clusters] == list(expected_workers)
    for cluster in clusters:
        await kubectl(control_plane, "create", "-n", namespace, "-f", "-", input=json.dumps(cluster))

    for name, workers in expected_workers.items():
        rc = await ready_cluster(control_plane, namespace, name)
        assert rc["status"]["readyWorkerReplicas"] == sum(workers.values())
        pods = json.loads(
            await kubectl(
                control_plane, "get", "pods", "-n", namespace, "-l", f"ray.io/cluster={name}", "-o", "json"
            )
        )["items"]
        groups = Counter(pod["metadata"]["labels"]["ray.io/group"] for pod in pods)
        assert groups == {"headgroup": 1, **workers}
        (head,) = [pod for pod in pods if pod["metadata"]["labels"]["ray.io/node-type"] == "head"]
        # Autoscaling was always on in the legacy operator; it runs as the head's sidecar now.
        assert [c["name"] for c in head["spec"]["containers"]][1:] == ["autoscaler"]
        ray_args = " ".join(head["spec"]["containers"][0]["args"])
        assert "ray start --head" in ray_args and "sleep infinity" not in ray_args
