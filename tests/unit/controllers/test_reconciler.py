"""The reconciler on the in-memory API backend: fast checks of the write path and of the stale-cache guard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberay_py.controllers.raycluster import RAYCLUSTERS, RayClusterReconciler, cache_selectors
from kuberay_py.runtime import (
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
    Cache,
    EventRecorder,
    InMemoryClient,
    Request,
)
from tests.unit.controllers.podfactory import cluster

NS = "default"


@pytest.fixture
async def world() -> AsyncIterator[tuple[InMemoryClient, Cache, RayClusterReconciler]]:
    client = InMemoryClient()
    cache = Cache(client, selectors=cache_selectors())
    for resource in (RAYCLUSTERS, PODS, SERVICES, SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS):
        cache.informer(resource)
    cache.start()
    await cache.wait_synced()
    recorder = EventRecorder(client, reporting_controller="test", reporting_instance="test")
    yield client, cache, RayClusterReconciler(client, cache, recorder)
    await cache.stop()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def create_cluster(client: InMemoryClient, *groups: dict[str, Any], **flags: Any) -> dict[str, Any]:
    manifest = cluster(*groups, **flags).to_manifest()
    manifest["metadata"] = {"name": "demo", "namespace": NS}
    created = await client.create(RAYCLUSTERS, manifest)
    await settle()
    return created


def worker_pods(client: InMemoryClient) -> list[dict[str, Any]]:
    return [p for p in client.objects(PODS) if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]


async def test_first_reconcile_creates_service_head_and_workers(world: Any) -> None:
    client, _cache, reconciler = world
    await create_cluster(client, {"groupName": "small", "replicas": 3})
    await reconciler.reconcile(Request(NS, "demo"))
    assert [s["metadata"]["name"] for s in client.objects(SERVICES)] == ["demo-head-svc"]
    heads = [p for p in client.objects(PODS) if p["metadata"]["labels"]["ray.io/node-type"] == "head"]
    assert len(heads) == 1 and len(worker_pods(client)) == 3
    owner = heads[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "RayCluster" and owner["controller"] is True


async def test_stale_cache_never_causes_duplicate_creates(world: Any) -> None:
    client, _cache, reconciler = world
    await create_cluster(client, {"groupName": "small", "replicas": 5})
    # Reconcile again at once, before the pod informer has delivered the first pass's creates.
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.reconcile(Request(NS, "demo"))
    assert len(worker_pods(client)) == 5
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    assert len(worker_pods(client)) == 5


async def test_status_is_written_once_and_not_again_when_nothing_changed(world: Any) -> None:
    client, _cache, reconciler = world
    await create_cluster(client, {"groupName": "small", "replicas": 1})
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()

    def status_writes() -> int:
        # The reconciler patches a RayCluster only through its status subresource.
        return sum(1 for a in client.actions if a.verb == "patch" and a.resource == RAYCLUSTERS)

    writes = status_writes()
    assert writes >= 1
    for _ in range(3):
        await reconciler.reconcile(Request(NS, "demo"))
        await settle()
    assert status_writes() == writes
    status = (await client.get(RAYCLUSTERS, "demo", NS))["status"]
    assert status["desiredWorkerReplicas"] == 1 and "state" not in status  # pods exist but never ran


async def test_invalid_spec_creates_nothing_and_says_why(world: Any) -> None:
    client, _cache, reconciler = world
    rc = cluster({"groupName": "small", "replicas": 1}).to_manifest()
    rc["metadata"] = {"name": "demo", "namespace": NS}
    containers = rc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"]
    containers.append(dict(containers[0]))
    await client.create(RAYCLUSTERS, rc)
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    assert client.objects(PODS) == [] and client.objects(SERVICES) == []
    status = (await client.get(RAYCLUSTERS, "demo", NS))["status"]
    valid = next(c for c in status["conditions"] if c["type"] == "SpecValid")
    assert (
        valid["status"] == "False" and "container names in a pod template must be unique" in valid["message"]
    )


async def test_a_missing_cluster_is_a_no_op(world: Any) -> None:
    client, _cache, reconciler = world
    result = await reconciler.reconcile(Request(NS, "nothing-here"))
    assert result.requeue_after is None and client.objects(PODS) == []
