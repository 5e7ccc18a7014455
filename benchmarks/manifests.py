"""The RayClusters and RayJobs the benchmarks create: one worker group, and pods that ask for almost nothing
so that thousands fit on the simulated nodes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from kuberay_py.controllers.raycluster import RAYCLUSTERS
from kuberay_py.controllers.rayjob import RAYJOBS
from kuberay_py.runtime import KubeClient, PatchType

IMAGE = "rayproject/ray:2.60.0"
GROUP = "workers"
MAX_REPLICAS = 10_000

T = TypeVar("T")


def _template(container: str) -> dict[str, Any]:
    resources = {"requests": {"cpu": "10m", "memory": "32Mi"}}
    return {"spec": {"containers": [{"name": container, "image": IMAGE, "resources": resources}]}}


def raycluster(name: str, workers: int) -> dict[str, Any]:
    """A RayCluster with one head and `workers` worker pods."""
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": name},
        "spec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {"rayStartParams": {}, "template": _template("ray-head")},
            "workerGroupSpecs": [
                {
                    "groupName": GROUP,
                    "replicas": workers,
                    "minReplicas": 0,
                    "maxReplicas": MAX_REPLICAS,
                    "rayStartParams": {},
                    "template": _template("ray-worker"),
                }
            ],
        },
    }


def rayjob(name: str) -> dict[str, Any]:
    """A K8sJobMode RayJob whose cluster (a head and one worker) is left in place when the job ends."""
    cluster = raycluster(name, 1)["spec"]
    cluster["workerGroupSpecs"][0].update(minReplicas=1, maxReplicas=1)
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "python -c \"print('hello')\"",
            "submissionMode": "K8sJobMode",
            "shutdownAfterJobFinishes": False,
            "rayClusterSpec": cluster,
        },
    }


async def concurrently(items: Collection[T], parallel: int, each: Callable[[T], Awaitable[object]]) -> None:
    """`each(item)` for every item, with up to `parallel` of them awaited at once, as a user's script or
    GitOps tool would send its requests."""
    pending = iter(items)

    async def worker() -> None:
        for item in pending:
            await each(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(min(parallel, len(items))):
            group.create_task(worker())


async def create_rayjobs(
    client: KubeClient,
    namespace: str,
    names: list[str],
    parallel: int = 16,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, float]:
    """Create RayJobs with a few requests in flight, as `create_many` does RayClusters; returns when each
    create was answered (by `clock`)."""
    answered: dict[str, float] = {}

    async def create_one(name: str) -> None:
        await client.create(RAYJOBS, rayjob(name), namespace)
        answered[name] = clock()

    await concurrently(names, parallel, create_one)
    return answered


async def create(client: KubeClient, namespace: str, name: str, workers: int) -> dict[str, Any]:
    return await client.create(RAYCLUSTERS, raycluster(name, workers), namespace)


async def create_many(
    client: KubeClient, namespace: str, names: list[str], workers: int, parallel: int = 16
) -> None:
    """Create clusters with a few requests in flight."""
    await concurrently(names, parallel, lambda name: create(client, namespace, name, workers))


async def set_workers(client: KubeClient, namespace: str, name: str, workers: int) -> int:
    """Change the worker group's replicas; returns the cluster's new generation."""
    patch = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": workers}]
    updated = await client.patch(RAYCLUSTERS, name, patch, namespace, patch_type=PatchType.JSON)
    return int(updated["metadata"]["generation"])
