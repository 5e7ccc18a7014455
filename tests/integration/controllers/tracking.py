"""Follow a RayCluster's pods (a :class:`kuberay_py.testing.observer.PodObserver`) and its status through
informers of our own runtime, and record every moment's counts, so tests can assert on the worst moment, not
just the end state."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from kuberay_py.runtime import Informer, KubeClient
from kuberay_py.testing.observer import PodObserver

Obj = dict[str, Any]


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


class PodTracker:
    """One RayCluster's pods, per group: a :class:`PodObserver` narrowed to the cluster's label."""

    def __init__(self, client: KubeClient, namespace: str, cluster: str) -> None:
        self.client = client
        self.namespace = namespace
        self.cluster = cluster
        self._observer = PodObserver(client, namespace, label_selector=f"ray.io/cluster={cluster}")

    async def __aenter__(self) -> PodTracker:
        await self._observer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._observer.stop()

    # -- what tests read ----------------------------------------------------------------------------------
    @property
    def max_active(self) -> Counter[str]:
        """group -> most active pods seen at once."""
        return self._by_group(self._observer.max_active)

    @property
    def min_ready(self) -> dict[str, int]:
        """group -> fewest ready pods since start_tracking_ready()."""
        return dict(self._by_group(self._observer.min_ready))

    @property
    def names_seen(self) -> set[str]:
        return self._observer.names_seen

    @property
    def deleted(self) -> list[str]:
        return self._observer.deleted

    def pods(self) -> list[Obj]:
        return self._observer.pods()

    def active(self, group: str | None = None) -> list[Obj]:
        return self._observer.active(group=group)

    def ready(self, group: str | None = None) -> list[Obj]:
        return self._observer.ready(group=group)

    def start_tracking_ready(self) -> None:
        """From now on record, per group, the fewest ready pods seen at any moment."""
        self._observer.start_tracking_ready()

    async def sees(self, timeout: float = 30.0, **ready: int) -> None:
        """Wait until this tracker's own watch shows `ready[group]` ready pods per group: the API server may
        already say so (kubectl, wait_state) while the watch has not yet delivered it."""
        deadline = time.monotonic() + timeout
        while any(len(self.ready(group)) != count for group, count in ready.items()):
            if time.monotonic() > deadline:
                seen = {group: len(self.ready(group)) for group in ready}
                raise AssertionError(f"the tracker saw {seen} ready pods, not {ready}, after {timeout:.0f}s")
            await asyncio.sleep(0.1)

    def _by_group(self, counts: Mapping[tuple[str, str], int]) -> Counter[str]:
        return Counter({group: n for (cluster, group), n in counts.items() if cluster == self.cluster})


@dataclass
class ClusterFollower(_Following):
    """Follows one RayCluster, by name, through a watch; subclasses record what they need of it in
    `on_add` and `on_update`."""

    client: KubeClient
    namespace: str
    name: str
    _informer: Informer | None = None
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        from kuberay_py.controllers.raycluster import RAYCLUSTERS

        selector = f"metadata.name={self.name}"
        await self._follow(
            Informer(self.client, RAYCLUSTERS, namespace=self.namespace, field_selector=selector)
        )
        return self

    def on_delete(self, obj: Obj) -> None:
        pass


@dataclass
class StatusTracker(ClusterFollower):
    """Every `status.state` a RayCluster has had since tracking began, in order, from a watch."""

    states: list[str | None] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.states)

    def left_ready_since(self, mark: int) -> bool:
        return any(s != "ready" for s in self.states[mark:])

    def on_add(self, obj: Obj) -> None:
        self._record(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        if (old.get("status") or {}).get("state") != (new.get("status") or {}).get("state"):
            self._record(new)

    def _record(self, obj: Obj) -> None:
        self.states.append((obj.get("status") or {}).get("state"))
