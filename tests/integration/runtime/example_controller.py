"""A small controller built only on the public runtime API: one ConfigMap per labelled namespace.

For every Namespace labelled ``runtime-example=<group>``, it keeps a ConfigMap ``namespace-info`` in that
namespace, owned by the Namespace, whose data names the namespace and the instance that last reconciled it.
A deleted or edited ConfigMap is put back. It records an Event when it creates or repairs one.
"""

from __future__ import annotations

from typing import Any

import structlog

from kuberay_py.runtime import (
    CONFIG_MAPS,
    NAMESPACES,
    AlreadyExists,
    Cache,
    Client,
    EventRecorder,
    Manager,
    NotFound,
    Request,
    ResourceSelector,
    Result,
    WriteFence,
)
from kuberay_py.runtime.objects import is_deleting, owner_reference

CONFIG_MAP_NAME = "namespace-info"
GROUP_LABEL = "runtime-example"

log = structlog.get_logger(__name__)


class NamespaceInfoReconciler:
    def __init__(
        self, client: Client, cache: Cache, recorder: EventRecorder, instance: str, fence: WriteFence
    ) -> None:
        self.client = client
        self.cache = cache
        self.recorder = recorder
        self.instance = instance
        self.fence = fence

    async def reconcile(self, request: Request) -> Result:
        namespace = self.cache.get(NAMESPACES, request.name)
        if namespace is None or is_deleting(namespace):
            return Result()  # the garbage collector removes the ConfigMap with its owner
        desired = {"namespace": request.name, "reconciledBy": self.instance}
        current = self.cache.get(CONFIG_MAPS, CONFIG_MAP_NAME, request.name)
        if current is not None and current.get("data") == desired:
            return Result()
        if not self.fence.allowed():
            return Result()  # not (or no longer surely) the leader, or shutting down: write nothing
        if current is None:
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": CONFIG_MAP_NAME,
                    "namespace": request.name,
                    "ownerReferences": [owner_reference(namespace, block_owner_deletion=False)],
                },
                "data": desired,
            }
            try:
                await self.client.create(CONFIG_MAPS, body)
            except AlreadyExists:
                return Result(requeue=True)  # the cache has not caught up yet
            self.recorder.normal(namespace, "Created", f"created {CONFIG_MAP_NAME}", action="Create")
            log.info("created namespace-info")
        else:
            try:
                await self.client.patch(
                    CONFIG_MAPS,
                    CONFIG_MAP_NAME,
                    {"data": {**{k: None for k in current.get("data") or {}}, **desired}},
                    request.name,
                )
            except NotFound:
                return Result(requeue=True)
            self.recorder.normal(namespace, "Repaired", f"restored {CONFIG_MAP_NAME}", action="Update")
            log.info("repaired namespace-info")
        return Result()


def cache_selectors(group: str) -> dict[Any, ResourceSelector]:
    """Cache only this group's namespaces and the ConfigMaps this controller writes."""
    return {
        NAMESPACES: ResourceSelector(label_selector=f"{GROUP_LABEL}={group}"),
        CONFIG_MAPS: ResourceSelector(field_selector=f"metadata.name={CONFIG_MAP_NAME}"),
    }


def add_to(manager: Manager, instance: str) -> None:
    """Wire the controller into a manager, as an operator's main() would."""
    recorder = manager.event_recorder("namespace-info-controller")
    reconciler = NamespaceInfoReconciler(
        manager.client, manager.cache, recorder, instance, manager.write_fence
    )
    manager.controller("namespace-info").for_(NAMESPACES).owns(CONFIG_MAPS).complete(reconciler)
