"""The real Ray autoscaler's KubeRay node provider drives the operator, authenticated as the autoscaler's
own ServiceAccount: it reads the cluster and its pods, scales up, and removes exactly the worker it chose."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from kuberay_py.runtime import KubeClient
from kuberay_py.testing.controlplane import ControlPlane
from tests.integration.controllers.objects import (
    kubectl,
    manifest,
    raycluster,
    ready,
)
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("operator")

DRIVER = Path(__file__).with_name("ray_autoscaler_driver.py")


async def autoscaler(
    plane: ControlPlane, namespace: str, cluster: str, token: Path, head: str, *action: str
) -> dict[str, list[str]]:
    env = {
        **os.environ,
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT_HTTPS": plane.server.rsplit(":", 1)[1],
        "RAY_KUBERAY_CA_CERT_PATH": str(plane.ca_file),
        "RAY_HEAD_POD_NAME": head,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(DRIVER), namespace, cluster, str(token), *action,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-3000:]
    result: dict[str, list[str]] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def names(pods: list[dict[str, Any]]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in pods)


async def test_ray_autoscaler_scales_through_the_operator(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, tmp_path: Path
) -> None:
    rc = manifest(
        "auto",
        {"groupName": "small", "replicas": 1, "minReplicas": 0, "maxReplicas": 5},
        enableInTreeAutoscaling=True,
    )
    async with ready(control_plane, kube, namespace, rc) as pods:
        head = names(pods.active("headgroup"))[0]
        token = tmp_path / "token"
        token.write_text(
            (await kubectl(control_plane, "create", "token", "auto", "-n", namespace)).stdout.strip()
        )

        seen = await autoscaler(control_plane, namespace, "auto", token, head, "list")
        assert seen == {"small": names(pods.active("small"))}

        await autoscaler(control_plane, namespace, "auto", token, head, "scale-up", "small", "2")
        await eventually(lambda: len(pods.ready("small")) == 3, what="3 workers after scale-up")
        assert (await raycluster(control_plane, namespace, "auto"))["spec"]["workerGroupSpecs"][0][
            "replicas"
        ] == 3

        before = names(pods.active("small"))
        victim = before[1]
        seen_names = set(pods.names_seen)
        await autoscaler(control_plane, namespace, "auto", token, head, "terminate", victim)
        spec = (await raycluster(control_plane, namespace, "auto"))["spec"]["workerGroupSpecs"][0]
        assert spec["replicas"] == 2 and spec["scaleStrategy"]["workersToDelete"] == [victim]
        await eventually(lambda: victim not in names(pods.pods()), what="the chosen worker gone")
        await asyncio.sleep(2)
        assert names(pods.active("small")) == [n for n in before if n != victim]
        assert pods.names_seen == seen_names, "the operator created a pod the autoscaler did not ask for"
        assert pods.max_active["small"] == 3

        # Next autoscaler round: it sees the pod gone and clears workersToDelete itself.
        seen = await autoscaler(control_plane, namespace, "auto", token, head, "list")
        assert seen == {"small": [n for n in before if n != victim]}
        spec = (await raycluster(control_plane, namespace, "auto"))["spec"]["workerGroupSpecs"][0]
        assert spec["scaleStrategy"]["workersToDelete"] == []
        await asyncio.sleep(1)
        assert len(pods.active("small")) == 2
