"""The RayCluster controller on the in-memory API backend: a started cache of what it watches; settle()."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kuberay_py.controllers.raycluster import RAYCLUSTERS, cache_selectors
from kuberay_py.runtime import PODS, ROLE_BINDINGS, ROLES, SERVICE_ACCOUNTS, SERVICES, Cache
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
