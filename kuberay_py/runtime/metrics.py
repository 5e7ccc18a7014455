"""Prometheus metrics, named and labelled like controller-runtime's so existing dashboards work.

All metrics live in :data:`REGISTRY` (one per process, like controller-runtime's global registry); the
manager's HTTP server exposes it at ``/metrics``. Register your own collectors there too.

===========================================  ==========  ==================================================
metric                                       labels      meaning
===========================================  ==========  ==================================================
controller_runtime_reconcile_total             controller, result (success|error|requeue|requeue_after)
controller_runtime_reconcile_errors_total      controller reconciles that raised
controller_runtime_reconcile_time_seconds      controller histogram of reconcile durations
controller_runtime_active_workers              controller workers currently reconciling
controller_runtime_max_concurrent_reconciles   controller configured workers
workqueue_depth                                controller, name  keys waiting
workqueue_adds_total                           controller, name  adds handled
workqueue_retries_total                        controller, name  rate-limited re-adds
workqueue_queue_duration_seconds               controller, name  wait from add to pick-up
workqueue_work_duration_seconds                controller, name  time from pick-up to done
workqueue_unfinished_work_seconds              controller, name  work in progress not yet observed
workqueue_longest_running_processor_seconds    controller, name  age of the oldest item in progress
rest_client_requests_total                     verb, code  API requests (verb: get, list, watch, create,
                                                           update, patch, delete; code: HTTP status or
                                                           ``<error>`` when no answer came)
rest_client_request_duration_seconds           verb       histogram of API request latency
leader_election_master_status                  name       1 while this process holds the lease
===========================================  ==========  ==================================================
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# controller-runtime exports no *_created series; dashboards built for it do not expect them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_RECONCILE_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0,
    40.0, 50.0, 60.0,
)  # fmt: skip
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))  # 10 ns .. 1000 s, as client-go's workqueue
_REST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
    registry=REGISTRY,
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=_RECONCILE_BUCKETS,
    registry=REGISTRY,
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
    registry=REGISTRY,
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
    registry=REGISTRY,
)

WORKQUEUE_DEPTH = Gauge(
    "workqueue_depth", "Current depth of workqueue", ["controller", "name"], registry=REGISTRY
)
WORKQUEUE_ADDS = Counter(
    "workqueue_adds_total",
    "Total number of adds handled by workqueue",
    ["controller", "name"],
    registry=REGISTRY,
)
WORKQUEUE_RETRIES = Counter(
    "workqueue_retries_total",
    "Total number of retries handled by workqueue",
    ["controller", "name"],
    registry=REGISTRY,
)
WORKQUEUE_QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["controller", "name"],
    buckets=_QUEUE_BUCKETS,
    registry=REGISTRY,
)
WORKQUEUE_WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes",
    ["controller", "name"],
    buckets=_QUEUE_BUCKETS,
    registry=REGISTRY,
)

REST_CLIENT_REQUESTS = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by verb and status code",
    ["verb", "code"],
    registry=REGISTRY,
)
REST_CLIENT_DURATION = Histogram(
    "rest_client_request_duration_seconds",
    "Request latency in seconds, partitioned by verb",
    ["verb"],
    buckets=_REST_BUCKETS,
    registry=REGISTRY,
)

LEADER_ELECTION_STATUS = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates "
    "master",
    ["name"],
    registry=REGISTRY,
)


class InProgressSource(Protocol):
    """A work queue that can say how long its in-progress items have been running."""

    controller: str
    name: str

    def in_progress_since(self) -> Iterable[float]:
        """Monotonic start times of the items being processed now."""
        ...


class _InProgressCollector(Collector):
    """Computes the two in-progress gauges at scrape time instead of ticking a timer per queue."""

    def __init__(self) -> None:
        self.sources: weakref.WeakSet[InProgressSource] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        unfinished = GaugeMetricFamily(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration",
            labels=["controller", "name"],
        )
        longest = GaugeMetricFamily(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running",
            labels=["controller", "name"],
        )
        now = time.monotonic()
        for source in list(self.sources):
            ages = [now - start for start in source.in_progress_since()]
            labels = [source.controller, source.name]
            unfinished.add_metric(labels, sum(ages))
            longest.add_metric(labels, max(ages, default=0.0))
        yield unfinished
        yield longest


_IN_PROGRESS = _InProgressCollector()
REGISTRY.register(_IN_PROGRESS)


def track_in_progress(source: InProgressSource) -> None:
    """Report ``source`` in the in-progress gauges for as long as it lives."""
    _IN_PROGRESS.sources.add(source)
