"""The RayCluster controller on the in-memory API backend: a started cache of what it watches, the reconciler
on it, and settle()."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from kuberay_py.controllers.raycluster import RAYCLUSTERS, RayClusterReconciler, cache_selectors
from kuberay_py.runtime import PODS, ROLE_BINDINGS, ROLES, SERVICE_ACCOUNTS, SERVICES, Cache, EventRecorder
from kuberay_py.testing.memory_client import InMemoryClient


async def settle() -> None:
    """A few turns of the event loop, for the informers to deliver what was written."""
    for _ in range(20):
        await asyncio.sleep(0)


@asynccontextmanager
async def watching(client: InMemoryClient) -> AsyncIterator[Cache]:
    """A started and synced cache of what the RayCluster controller watches."""
    cache = Cache(client, selectors=cache_selectors())
    for resource in (RAYCLUSTERS, PODS, SERVICES, SERVICE_ACCOUNTS, ROLES, ROLE_BINDINGS):
        cache.informer(resource)
    cache.start()
    await cache.wait_synced()
    try:
        yield cache
    finally:
        await cache.stop()


@dataclass
class World:
    client: InMemoryClient
    cache: Cache
    reconciler: RayClusterReconciler


@asynccontextmanager
async def reconciling(client: InMemoryClient) -> AsyncIterator[World]:
    """`client`, a started and synced cache of what the RayCluster controller watches, and the reconciler on
    them, recording its events as controller "test"."""
    async with watching(client) as cache:
        recorder = EventRecorder(client, reporting_controller="test", reporting_instance="test")
        yield World(client, cache, RayClusterReconciler(client, cache, recorder))
