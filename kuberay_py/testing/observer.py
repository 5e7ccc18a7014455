"""An independent observer of Ray pods: a watch of its own (the runtime's Informer, straight on the real API
server, never through a fault proxy) that records the worst moments, so tests can assert on them and not only
on the end state.

Per (cluster, group) it keeps the most active pods ever seen at once, per cluster the most active head pods,
and on request the fewest ready pods. Active means not being deleted and not Failed or Succeeded. The cluster
is the pod's ``ray.io/cluster`` label, the group its ``ray.io/group`` label, and a head has
``ray.io/node-type=head``.

Each watch event moves the cached state from one resourceVersion to the next, so the counts after each event
are a moment the API server really had. A relist is not: it stores the new list before removing what
vanished, so during one the counts could show old and new pods together. The observer therefore updates its
records only between relists (when the informer starts watching again).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from kuberay_py.runtime.client import Client, ObjectList, WatchEvent
from kuberay_py.runtime.informer import Informer
from kuberay_py.runtime.objects import Obj
from kuberay_py.runtime.resources import PODS
from kuberay_py.testing.lifecycle import StartStop, cancel_and_wait

CLUSTER_LABEL = "ray.io/cluster"
GROUP_LABEL = "ray.io/group"
NODE_TYPE_LABEL = "ray.io/node-type"

Slot = tuple[str, str]  # (cluster, group)


def is_active(pod: Obj) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Failed", "Succeeded")


def is_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return (
        is_active(pod)
        and status.get("phase") == "Running"
        and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
    )


def slot_of(pod: Obj) -> Slot:
    labels = pod["metadata"].get("labels") or {}
    return labels.get(CLUSTER_LABEL, ""), labels.get(GROUP_LABEL, "")


def is_head(pod: Obj) -> bool:
    return (pod["metadata"].get("labels") or {}).get(NODE_TYPE_LABEL) == "head"


@dataclass(frozen=True, slots=True)
class _Counted:
    """What one pod adds to the counts."""

    slot: Slot
    active: bool
    head: bool
    ready: bool

    @classmethod
    def of(cls, pod: Obj) -> _Counted:
        active = is_active(pod)
        return cls(slot_of(pod), active, active and is_head(pod), is_ready(pod))


class PodObserver(StartStop):
    """Watches the pods of `namespace` (None: every namespace) that match `label_selector` while it runs;
    ``async with`` it, or :meth:`start` and :meth:`stop`."""

    def __init__(
        self, client: Client, namespace: str | None, *, label_selector: str | None = CLUSTER_LABEL
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.max_active: Counter[Slot] = Counter()
        self.max_heads: Counter[str] = Counter()  # cluster -> most active heads at once
        self.min_ready: dict[Slot, int] = {}  # only after start_tracking_ready()
        self.names_seen: set[str] = set()
        self.deleted: list[str] = []
        self._counted: dict[tuple[str, str], _Counted] = {}
        self._active: Counter[Slot] = Counter()
        self._heads: Counter[str] = Counter()
        self._ready: Counter[Slot] = Counter()
        self._listing = False
        self._tracking_ready = False
        self.informer = Informer(
            cast(Client, _RelistTap(client, self)), PODS, namespace=namespace, label_selector=label_selector
        )
        self.informer.add_handler(self)
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Run the watch and return once the first list has been counted."""
        self._task = asyncio.create_task(self.informer.run(), name="pod-observer")
        synced = asyncio.ensure_future(self.informer.wait_synced())
        try:
            await asyncio.wait({synced, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            synced.cancel()
        if self._task.done():
            self._task.result()  # the informer failed for good: say why

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    # -- what tests read -----------------------------------------------------------------------------------
    def pods(self, cluster: str | None = None, group: str | None = None) -> list[Obj]:
        return [
            p
            for p in self.informer.store.values()
            if (cluster is None or slot_of(p)[0] == cluster) and (group is None or slot_of(p)[1] == group)
        ]

    def active(self, cluster: str | None = None, group: str | None = None) -> list[Obj]:
        return [p for p in self.pods(cluster, group) if is_active(p)]

    def ready(self, cluster: str | None = None, group: str | None = None) -> list[Obj]:
        return [p for p in self.pods(cluster, group) if is_ready(p)]

    def heads(self, cluster: str | None = None) -> list[Obj]:
        return [p for p in self.active(cluster) if is_head(p)]

    def most_active(self, cluster: str, group: str) -> int:
        return self.max_active[(cluster, group)]

    def most_heads(self, cluster: str) -> int:
        return self.max_heads[cluster]

    def start_tracking_ready(self) -> None:
        """From now on record, per (cluster, group), the fewest ready pods seen at any moment."""
        self._tracking_ready = True
        self.min_ready.clear()
        if not self._listing:
            self._record(self._ready)

    def overshoots(self, desired: Mapping[Slot, int]) -> dict[Slot, int]:
        """The slots whose most active pods exceeded `desired`, with that most."""
        return {slot: self.max_active[slot] for slot, n in desired.items() if self.max_active[slot] > n}

    def assert_no_overshoot(self, cluster: str, group: str, desired: int) -> None:
        most = self.most_active(cluster, group)
        assert most <= desired, f"{cluster}/{group}: {most} active pods at once, desired {desired}"

    def assert_single_head(self, cluster: str) -> None:
        most = self.most_heads(cluster)
        assert most <= 1, f"{cluster}: {most} active head pods at once"

    # -- informer handler ----------------------------------------------------------------------------------
    def on_add(self, obj: Obj) -> None:
        self.names_seen.add(obj["metadata"]["name"])
        self._count(obj, _Counted.of(obj))

    def on_update(self, old: Obj, new: Obj) -> None:
        self._count(new, _Counted.of(new))

    def on_delete(self, obj: Obj) -> None:
        self.deleted.append(obj["metadata"]["name"])
        self._count(obj, None)

    def _count(self, pod: Obj, now: _Counted | None) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        before = self._counted.pop(key, None)
        for counted, sign in ((before, -1), (now, 1)):
            if counted is not None:
                self._active[counted.slot] += sign * counted.active
                self._heads[counted.slot[0]] += sign * counted.head
                self._ready[counted.slot] += sign * counted.ready
        if now is not None:
            self._counted[key] = now
        if not self._listing:
            self._record(c.slot for c in (before, now) if c is not None)

    def _record(self, slots: Iterable[Slot]) -> None:
        for slot in slots:
            if self._active[slot] > self.max_active[slot]:
                self.max_active[slot] = self._active[slot]
            if self._heads[slot[0]] > self.max_heads[slot[0]]:
                self.max_heads[slot[0]] = self._heads[slot[0]]
            ready = self._ready[slot]
            if self._tracking_ready and (ready or slot in self.min_ready):
                self.min_ready[slot] = min(self.min_ready.get(slot, ready), ready)

    def _listing_started(self) -> None:
        self._listing = True

    def _watching(self) -> None:
        if self._listing:
            self._listing = False
            self._record(list(self._active) + list(self._ready))


class _RelistTap:
    """The client the informer sees: it tells the observer when a list starts and when watching resumes."""

    def __init__(self, client: Client, observer: PodObserver) -> None:
        self._client = client
        self._observer = observer

    async def list(self, *args: Any, **kwargs: Any) -> ObjectList:
        self._observer._listing_started()
        return await self._client.list(*args, **kwargs)

    def watch(self, *args: Any, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        self._observer._watching()
        return self._client.watch(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
