"""Follow a RayCluster's pods through an informer of our own runtime and record every moment's counts, so
tests can assert on the worst moment, not just the end state."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kuberay_py.runtime import PODS, Informer, KubeClient

Obj = dict[str, Any]


def _active(pod: Obj) -> bool:
    meta = pod["metadata"]
    phase = (pod.get("status") or {}).get("phase")
    return not meta.get("deletionTimestamp") and phase not in ("Failed", "Succeeded")


def _ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return (
        _active(pod)
        and status.get("phase") == "Running"
        and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
    )


class _Following:
    """Runs an informer of our own runtime for as long as the `async with` block lasts."""

    _informer: Informer | None
    _task: asyncio.Task[None] | None

    async def _follow(self, informer: Informer) -> None:
        self._informer = informer
        informer.add_handler(self)  # type: ignore[arg-type]
        self._task = asyncio.create_task(informer.run())
        await informer.wait_synced()

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass
class PodTracker(_Following):
    client: KubeClient
    namespace: str
    cluster: str
    max_active: Counter[str] = field(default_factory=Counter)  # group -> most active pods seen at once
    names_seen: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    min_ready: dict[str, int] = field(
        default_factory=dict
    )  # group -> fewest ready pods once tracking started
    _informer: Informer | None = None
    _task: asyncio.Task[None] | None = None
    _track_ready_from: bool = False

    async def __aenter__(self) -> PodTracker:
        self._informer = Informer(
            self.client, PODS, namespace=self.namespace, label_selector=f"ray.io/cluster={self.cluster}"
        )
        self._informer.add_handler(self)
        self._task = asyncio.create_task(self._informer.run())
        await self._informer.wait_synced()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # -- what tests read ----------------------------------------------------------------------------------
    def pods(self) -> list[Obj]:
        assert self._informer is not None
        return self._informer.store.values()

    def active(self, group: str | None = None) -> list[Obj]:
        return [
            p
            for p in self.pods()
            if _active(p) and (group is None or p["metadata"]["labels"].get("ray.io/group") == group)
        ]

    def ready(self, group: str | None = None) -> list[Obj]:
        return [p for p in self.active(group) if _ready(p)]

    def start_tracking_ready(self) -> None:
        """From now on record, per group, the fewest ready pods seen at any moment."""
        self._track_ready_from = True
        self._record()

    # -- informer handler ----------------------------------------------------------------------------------
    def on_add(self, obj: Obj) -> None:
        self.names_seen.add(obj["metadata"]["name"])
        self._record()

    def on_update(self, old: Obj, new: Obj) -> None:
        self._record()

    def on_delete(self, obj: Obj) -> None:
        self.deleted.append(obj["metadata"]["name"])
        self._record()

    def _record(self) -> None:
        if self._informer is None:
            return
        active = Counter(p["metadata"]["labels"].get("ray.io/group", "") for p in self.active())
        for group, count in active.items():
            self.max_active[group] = max(self.max_active[group], count)
        if self._track_ready_from:
            ready = Counter(p["metadata"]["labels"].get("ray.io/group", "") for p in self.ready())
            for group in set(ready) | set(self.min_ready):
                self.min_ready[group] = min(self.min_ready.get(group, ready[group]), ready[group])


@dataclass
class StatusTracker(_Following):
    """Every `status.state` a RayCluster has had since tracking began, in order, from a watch."""

    client: KubeClient
    namespace: str
    name: str
    states: list[str | None] = field(default_factory=list)
    _informer: Informer | None = None
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> StatusTracker:
        from kuberay_py.controllers.raycluster import RAYCLUSTERS

        selector = f"metadata.name={self.name}"
        await self._follow(
            Informer(self.client, RAYCLUSTERS, namespace=self.namespace, field_selector=selector)
        )
        return self

    def mark(self) -> int:
        return len(self.states)

    def left_ready_since(self, mark: int) -> bool:
        return any(s != "ready" for s in self.states[mark:])

    def on_add(self, obj: Obj) -> None:
        self._record(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        if (old.get("status") or {}).get("state") != (new.get("status") or {}).get("state"):
            self._record(new)

    def on_delete(self, obj: Obj) -> None:
        pass

    def _record(self, obj: Obj) -> None:
        self.states.append((obj.get("status") or {}).get("state"))
