"""Watch one namespace's Ray pods and RayClusters through the runtime's informers, cheaply.

The benchmark shares the machine's cores with everything it measures, so objects are cut down to the few
fields it reads before they are stored, per-cluster counts are kept up to date on every event (no scans), and
waiting is done by futures checked on events, never by polling the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from kuberay_py.controllers.raycluster import RAYCLUSTERS
from kuberay_py.runtime import PODS, Informer, KubeClient, Resource

Obj = dict[str, Any]
CLUSTER_LABEL = "ray.io/cluster"
READY = "ready"


def _slim_pod(obj: Obj) -> Obj:
    meta = obj["metadata"]
    labels = meta.get("labels") or {}
    slim = {
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "resourceVersion": meta.get("resourceVersion"),
        "labels": {CLUSTER_LABEL: labels.get(CLUSTER_LABEL, "")},
    }
    if meta.get("deletionTimestamp"):
        slim["deletionTimestamp"] = meta["deletionTimestamp"]
    return {"metadata": slim}


def _slim_cluster(obj: Obj) -> Obj:
    meta = obj["metadata"]
    status = obj.get("status") or {}
    return {
        "metadata": {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
            "generation": meta.get("generation"),
        },
        "status": {"state": status.get("state"), "observedGeneration": status.get("observedGeneration")},
    }


@dataclass
class _Waiter:
    condition: Callable[[], bool]
    future: asyncio.Future[float]


class Watching:
    """Informers run for the length of an `async with`, and waits on conditions checked at each of their
    events (the handlers call `check()`)."""

    def __init__(self, informers: list[Informer]) -> None:
        self._informers = informers
        self._tasks: list[asyncio.Task[None]] = []
        self._waiters: list[_Waiter] = []

    async def __aenter__(self) -> Self:
        self._tasks = [asyncio.create_task(informer.run()) for informer in self._informers]
        for informer in self._informers:
            await informer.wait_synced()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        """The monotonic time `condition` first held, as seen on an event (now, if it already holds)."""
        if condition():
            return time.monotonic()
        waiter = _Waiter(condition, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                return await waiter.future
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}") from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def check(self) -> None:
        """Resolve every waiter whose condition now holds; called by the handlers on each event."""
        if not self._waiters:
            return
        now = time.monotonic()
        for waiter in list(self._waiters):
            if not waiter.future.done() and waiter.condition():
                waiter.future.set_result(now)
                self._waiters.remove(waiter)


class _LevelHandler:
    """An informer handler that only needs each object as it is now: adds and updates are one `_set`."""

    owner: Watching

    def _set(self, obj: Obj) -> None:
        raise NotImplementedError

    def on_add(self, obj: Obj) -> None:
        self._set(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        self._set(new)


class _PodCounts(_LevelHandler):
    """Live (not deleting) pods per cluster, kept exact on every event."""

    def __init__(self, owner: Watching) -> None:
        self.owner = owner
        self.per_cluster: Counter[str] = Counter()
        self._counted: dict[str, str] = {}  # pod name -> cluster, for pods counted live

    def _set(self, obj: Obj) -> None:
        meta = obj["metadata"]
        name, cluster = meta["name"], meta["labels"][CLUSTER_LABEL]
        live = "deletionTimestamp" not in meta
        if live and name not in self._counted:
            self._counted[name] = cluster
            self.per_cluster[cluster] += 1
        elif not live:
            self._drop(name)
        self.owner.check()

    def _drop(self, name: str) -> None:
        cluster = self._counted.pop(name, None)
        if cluster is not None:
            self.per_cluster[cluster] -= 1

    def on_delete(self, obj: Obj) -> None:
        self._drop(obj["metadata"]["name"])
        self.owner.check()

    @property
    def total(self) -> int:
        return len(self._counted)


class _ClusterStates(_LevelHandler):
    """Each cluster's state, and whether it is ready for its current generation."""

    def __init__(self, owner: Watching) -> None:
        self.owner = owner
        self.ready_generation: dict[str, int] = {}  # cluster -> generation it is ready for, if ready

    def _set(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        status = obj["status"]
        generation = obj["metadata"].get("generation") or 0
        if status.get("state") == READY and (status.get("observedGeneration") or 0) >= generation:
            self.ready_generation[name] = generation
        else:
            self.ready_generation.pop(name, None)
        self.owner.check()

    def on_delete(self, obj: Obj) -> None:
        self.ready_generation.pop(obj["metadata"]["name"], None)
        self.owner.check()


class Observer(Watching):
    """`async with Observer(client, namespace) as seen:` then `await seen.wait(lambda: ..., timeout)`.

    `pod_selector` narrows the pods watched. The API server sends each watch its events in order, so a watch
    of a few pods is not held up behind thousands of events of other pods that a broad watch must read first.
    """

    def __init__(self, client: KubeClient, namespace: str, pod_selector: str = CLUSTER_LABEL) -> None:
        self.pods = _PodCounts(self)
        self.clusters = _ClusterStates(self)
        pods = Informer(client, PODS, namespace=namespace, label_selector=pod_selector, transform=_slim_pod)
        clusters = Informer(client, RAYCLUSTERS, namespace=namespace, transform=_slim_cluster)
        pods.add_handler(self.pods)
        clusters.add_handler(self.clusters)
        super().__init__([pods, clusters])

    # -- what scenarios read -------------------------------------------------------------------------------
    def pods_of(self, cluster: str) -> int:
        return self.pods.per_cluster[cluster]

    @property
    def total_pods(self) -> int:
        return self.pods.total

    def is_ready(self, cluster: str, generation: int = 1) -> bool:
        """Ready, as reported for `generation` or a later one of the spec."""
        return self.clusters.ready_generation.get(cluster, 0) >= generation

    @property
    def ready_clusters(self) -> int:
        return len(self.clusters.ready_generation)


Reached = Callable[[Obj], bool]


class _FirstReached(_LevelHandler):
    """Each object's name -> the monotonic time it was first seen meeting a condition."""

    def __init__(self, owner: Watching) -> None:
        self.owner = owner
        self.first: dict[str, float] = {}

    def _set(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if obj["reached"] and name not in self.first:
            self.first[name] = time.monotonic()
            self.owner.check()

    def on_delete(self, obj: Obj) -> None:
        pass  # a milestone once reached stays reached


def _slim_reached(reached: Reached) -> Callable[[Obj], Obj]:
    def transform(obj: Obj) -> Obj:
        meta = obj["metadata"]
        slim = {
            "name": meta["name"],
            "namespace": meta.get("namespace"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        return {"metadata": slim, "reached": reached(obj)}

    return transform


class Milestones(Watching):
    """When each object of a few resources first met a condition: `async with Milestones(client, namespace,
    {"ready": (RAYCLUSTERS, lambda obj: ...)}) as seen:`, then `seen.first["ready"]` maps names to times.

    The objects are cut down to their name and whether the condition holds, so watching costs little; times
    are taken on the event that shows the change, whatever order the waits are made in."""

    def __init__(
        self, client: KubeClient, namespace: str, milestones: Mapping[str, tuple[Resource, Reached]]
    ) -> None:
        informers = []
        self.tracked: dict[str, _FirstReached] = {}
        for key, (resource, reached) in milestones.items():
            informer = Informer(client, resource, namespace=namespace, transform=_slim_reached(reached))
            self.tracked[key] = _FirstReached(self)
            informer.add_handler(self.tracked[key])
            informers.append(informer)
        super().__init__(informers)

    def first(self, key: str) -> dict[str, float]:
        return self.tracked[key].first

    def count(self, key: str, names: set[str] | None = None) -> int:
        first = self.tracked[key].first
        return len(first) if names is None else sum(1 for name in names if name in first)
