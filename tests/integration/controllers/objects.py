"""RayCluster manifests, and making and reading objects through kubectl as the cluster admin."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kuberay_py.runtime import KubeClient
from kuberay_py.testing.controlplane import ControlPlane
from tests.integration.controllers.tracking import PodTracker
from tests.waiting import eventually

IMAGE = "rayproject/ray:2.60.0"


async def kubectl(
    plane: ControlPlane, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(plane.kubectl, *args, input=input, check=check)


async def get_json(plane: ControlPlane, *args: str) -> Any:
    return json.loads((await kubectl(plane, "get", *args, "-o", "json")).stdout)


async def pods_of(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get_json(plane, "pods", "-n", namespace, "-l", selector))["items"]
    return items


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or valueFrom) of a container's variables."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def manifest(name: str, *groups: dict[str, Any], **spec: Any) -> dict[str, Any]:
    def template(container: str, cpu: str) -> dict[str, Any]:
        return {
            "spec": {
                "containers": [
                    {
                        "name": container,
                        "image": IMAGE,
                        "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}},
                    }
                ]
            }
        }

    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "headGroupSpec": {"rayStartParams": {}, "template": template("ray-head", "200m")},
            "workerGroupSpecs": [
                {
                    "rayStartParams": {},
                    "template": template("ray-worker", "100m"),
                    "minReplicas": 0,
                    "maxReplicas": 100,
                    **g,
                }
                for g in groups
            ],
            **spec,
        },
    }


async def create(plane: ControlPlane, namespace: str, obj: dict[str, Any]) -> None:
    await kubectl(plane, "create", "-n", namespace, "-f", "-", input=json.dumps(obj))


async def raycluster(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    out = await kubectl(plane, "get", "raycluster", name, "-n", namespace, "-o", "json")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


async def wait_state(
    plane: ControlPlane, namespace: str, name: str, ready: bool = True, timeout: float = 90
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        rc = await raycluster(plane, namespace, name)
        is_ready = (rc.get("status") or {}).get("state") == "ready"
        return rc if is_ready == ready else None

    result: dict[str, Any] = await eventually(check, timeout=timeout, what=f"{name} ready={ready}")
    return result


@asynccontextmanager
async def ready(
    plane: ControlPlane, kube: KubeClient, namespace: str, obj: dict[str, Any]
) -> AsyncIterator[PodTracker]:
    """Create the RayCluster `obj`, follow its pods and wait until it is ready; the block gets the pods."""
    name = obj["metadata"]["name"]
    await create(plane, namespace, obj)
    async with PodTracker(kube, namespace, name) as pods:
        await wait_state(plane, namespace, name)
        yield pods


async def patch(plane: ControlPlane, namespace: str, name: str, body: Any, kind: str = "merge") -> None:
    await kubectl(
        plane, "patch", "raycluster", name, "-n", namespace, f"--type={kind}", "-p", json.dumps(body)
    )


async def scale(plane: ControlPlane, namespace: str, name: str, replicas: int) -> None:
    """Set the replicas of a RayCluster's first worker group."""
    body = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": replicas}]
    await patch(plane, namespace, name, body, kind="json")
