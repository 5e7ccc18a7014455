"""The RayCluster controller's metrics, in the runtime's registry so that /metrics serves them.

Beside a gauge of its own, the operator serves KubeRay's RayCluster metrics under KubeRay's names, help texts
and labels, so dashboards and alerts built for KubeRay keep working. Each is a gauge with one series per
RayCluster:

``kuberay_cluster_info{name, namespace, uid, owner_kind}``
    Always 1. ``owner_kind`` is the cluster's ``ray.io/originated-from-crd`` label (``RayJob``,
    ``RayService``), or ``None`` when it has none.
``kuberay_cluster_condition_provisioned{name, namespace, uid, condition}``
    Always 1. ``condition`` is ``true`` while the ``RayClusterProvisioned`` condition is True, else ``false``.
``kuberay_cluster_provisioned_duration_seconds{name, namespace, uid}``
    Seconds from the cluster's creation until ``RayClusterProvisioned`` turned True (every pod ready for the
    first time); no series before that.

All three are computed at scrape time from the RayClusters in the manager's cache, as KubeRay computes the
first two: a deleted cluster's series go when it leaves the cache, so none can be left behind. KubeRay keeps
the duration in a gauge it sets when its own status write turns the condition True; here it is read back
from that condition's ``lastTransitionTime``, which gives the same number (to the second, like the
timestamps it comes from) and survives an operator restart. Nothing is reported until the RayCluster
informer has synced, so a half-listed cache does not make clusters look deleted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS, ConditionType
from kuberay_py.runtime import Cache, Manager
from kuberay_py.runtime.metrics import REGISTRY
from kuberay_py.runtime.objects import Obj

CACHE_BEHIND = Gauge(
    "kuberay_py_raycluster_cache_behind",
    "RayClusters whose pod cache has lagged this operator's own writes past the report threshold",
    registry=REGISTRY,
)

ORIGINATED_FROM_CRD_LABEL = "ray.io/originated-from-crd"
"""Set by KubeRay's RayJob and RayService controllers on the RayClusters they create."""
NO_OWNER_KIND = "None"

CLUSTER_INFO = "kuberay_cluster_info"
CONDITION_PROVISIONED = "kuberay_cluster_condition_provisioned"
PROVISIONED_DURATION = "kuberay_cluster_provisioned_duration_seconds"


class RayClusterCollector(Collector):
    """KubeRay's RayCluster metrics over the RayClusters of the caches it is given."""

    def __init__(self) -> None:
        self._caches: list[Cache] = []

    def add(self, cache: Cache) -> None:
        if cache not in self._caches:
            self._caches.append(cache)

    def discard(self, cache: Cache) -> None:
        if cache in self._caches:
            self._caches.remove(cache)

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: without this the registry would run a collection just to learn them.
        return _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # Runs on the event loop with the informers, so the stores cannot change while being read.
        info, provisioned, duration = _families()
        clusters: dict[str, Obj] = {}
        for cache in list(self._caches):
            for obj in _synced_clusters(cache):
                meta = obj.get("metadata") or {}
                # Managers in one process that watch the same cluster report it once.
                clusters.setdefault(str(meta.get("uid") or _key(meta)), obj)
        for obj in sorted(clusters.values(), key=lambda o: _key(o.get("metadata") or {})):
            meta = obj.get("metadata") or {}
            identity = [str(meta.get("name", "")), str(meta.get("namespace", "")), str(meta.get("uid", ""))]
            info.add_metric([*identity, _owner_kind(meta)], 1)
            condition = _condition(obj, ConditionType.PROVISIONED) or {}
            is_true = condition.get("status") == "True"
            provisioned.add_metric([*identity, "true" if is_true else "false"], 1)
            if is_true:
                seconds = _seconds_between(meta.get("creationTimestamp"), condition.get("lastTransitionTime"))
                if seconds is not None:
                    duration.add_metric(identity, seconds)
        # A family without series is left out, as KubeRay's Go client leaves it out.
        yield from (family for family in (info, provisioned, duration) if family.samples)


def _families() -> Iterator[GaugeMetricFamily]:
    yield GaugeMetricFamily(
        CLUSTER_INFO,
        "Metadata information about RayCluster custom resources",
        labels=["name", "namespace", "uid", "owner_kind"],
    )
    yield GaugeMetricFamily(
        CONDITION_PROVISIONED,
        "Indicates whether the RayCluster is provisioned",
        labels=["name", "namespace", "uid", "condition"],
    )
    yield GaugeMetricFamily(
        PROVISIONED_DURATION,
        "The time, in seconds, when a RayCluster's `RayClusterProvisioned` status transitions from false "
        "(or unset) to true",
        labels=["name", "namespace", "uid"],
    )


def _synced_clusters(cache: Cache) -> list[Obj]:
    """The cache's RayClusters once its informer has listed them all, else none."""
    if not any(i.resource == RAYCLUSTERS and i.has_synced for i in cache.informers):
        return []
    return cache.list(RAYCLUSTERS)


def _key(meta: Mapping[str, Any]) -> str:
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _owner_kind(meta: Mapping[str, Any]) -> str:
    labels = meta.get("labels") or {}
    # Present but empty is reported as empty, as KubeRay does.
    return str(labels[ORIGINATED_FROM_CRD_LABEL]) if ORIGINATED_FROM_CRD_LABEL in labels else NO_OWNER_KIND


def _condition(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    """The first condition of that type, as Kubernetes' condition helpers find it."""
    conditions = (obj.get("status") or {}).get("conditions")
    if not isinstance(conditions, list):
        return None
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == kind), None)


def _seconds_between(start: object, end: object) -> float | None:
    """Seconds from one RFC 3339 timestamp to another; None when either is missing or unreadable."""
    if not isinstance(start, str) or not isinstance(end, str):
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None  # TypeError: one with a zone, one without


RAYCLUSTER_METRICS = RayClusterCollector()
REGISTRY.register(RAYCLUSTER_METRICS)


def report_rayclusters(manager: Manager, collector: RayClusterCollector = RAYCLUSTER_METRICS) -> None:
    """Serve KubeRay's RayCluster metrics from ``manager``'s cache for as long as the manager runs, leader or
    standby: like KubeRay, every replica reports the clusters its cache holds."""
    cache = manager.cache
    cache.informer(RAYCLUSTERS)

    async def report() -> None:
        collector.add(cache)
        try:
            await asyncio.Event().wait()  # until the manager cancels its runnables on shutdown
        finally:
            collector.discard(cache)

    manager.add_runnable(report, needs_leader=False)
