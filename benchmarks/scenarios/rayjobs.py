"""Scenario 8: N RayJobs submitted at once, until every one has its submitter Job and shows Running.

Each RayJob is K8sJobMode with a RayCluster of a head and one worker, left in place when the job ends
(`shutdownAfterJobFinishes: false`), so nothing is deleted while it is measured. The times run from the first
create to the moment the benchmark's own watches see the last RayCluster created, the last submitter Job (a
batch/v1 Job named like its RayJob), the last RayCluster `ready` and the last RayJob `jobDeploymentStatus:
Running`; each is taken on the event that showed it, whatever order they come in.

The operator's writes are counted by the API server per resource and verb (see benchmarks.writes): the
operator runs under a certificate of its own, so the Job controller's submitter pods and the kubelet's status
writes are not taken for its own. They are counted from the first create until the operator has settled
after the last Running (nothing written for a while but dashboard warnings), so that writes an operator makes
once a job runs (KubeRay's second Service) or late (ours queues Events and writes them one at a time) are in.
Events are counted from the Events themselves: every occurrence of an Event about a RayJob or a RayCluster
(only the operator writes those) is one write, a create or a patch of its series.

Neither operator needs a dashboard before it creates a submitter: both note the head Service's address once
the cluster is ready, create the submitter, and only then, in Running, ask the dashboard about the job. No
dashboard runs on the simulated kubelet, and the stack refuses the operator's dashboard calls at once (see
`StackOptions.dashboards_refused`), so each job's polls fail quickly from its Running on: after its submitter
exists, never in the way of its own figures, and without holding a worker. The Events they cause are counted
apart from the others, and a window after the operator has settled shows what the failing polls cost.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import Any

from benchmarks.manifests import create_rayjobs
from benchmarks.metrics import Scrape
from benchmarks.observe import Milestones, Obj
from benchmarks.procfs import cpu_seconds, peak_rss_bytes, rss_bytes
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, cluster_names
from benchmarks.stack import Stack
from benchmarks.writes import READ_VERBS, WRITE_VERBS, WriteCounter, minus
from kuberay_py.controllers.raycluster import RAYCLUSTERS
from kuberay_py.controllers.rayjob import RAYJOBS
from kuberay_py.runtime import EVENTS, JOBS

MB = 1_000_000
RUNNING = "Running"
# Event reasons of a failed dashboard poll (ours; KubeRay writes none).
DASHBOARD_REASONS = ("RayDashboardUnreachable",)
ALL_WRITES = (*WRITE_VERBS, "deletecollection")
CODES_OF = ("rayjobs", "rayjobs/status", "rayclusters", "rayclusters/status", "services", "jobs", "pods")
# Only the operator writes Events about these.
OPERATOR_KINDS = ("RayJob", "RayCluster")
# The resources reported one by one, per job: (measure, resource, verbs).
PER_JOB = (
    ("RayJob status writes", "rayjobs/status", ("update", "patch")),
    ("RayJob writes (metadata: finalizer)", "rayjobs", ("update", "patch")),
    ("RayCluster creates", "rayclusters", ("create",)),
    ("RayCluster status writes", "rayclusters/status", ("update", "patch")),
    ("submitter Job creates", "jobs", ("create",)),
    ("pod creates", "pods", ("create",)),
    ("Service creates", "services", ("create",)),
)


def _timeout(jobs: int) -> float:
    """A bound against hangs, never a verdict on speed: KubeRay at its defaults takes one job at a time."""
    return 180.0 + jobs * 3.0


def _exists(obj: Obj) -> bool:
    return True


def _ready(obj: Obj) -> bool:
    return bool((obj.get("status") or {}).get("state") == "ready")


def _running(obj: Obj) -> bool:
    return bool((obj.get("status") or {}).get("jobDeploymentStatus") == RUNNING)


def _sum(requests: dict[str, float], resource: str, verbs: tuple[str, ...]) -> float:
    return sum(requests.get(f"{resource} {verb}", 0.0) for verb in verbs)


def _writes(requests: dict[str, float]) -> float:
    return sum(v for key, v in requests.items() if key.rsplit(" ", 1)[1] in ALL_WRITES)


def _reads(requests: dict[str, float]) -> float:
    return sum(v for key, v in requests.items() if key.rsplit(" ", 1)[1] in READ_VERBS)


async def _operator_events(stack: Stack) -> dict[str, int]:
    """Occurrences of each reason of the Events about RayJobs and RayClusters in the namespace (a series
    counts each time it happened)."""
    found: Counter[str] = Counter()
    token = None
    while True:
        page = await stack.client.list(EVENTS, NAMESPACE, limit=500, continue_token=token)
        for event in page.items:
            if (event.get("regarding") or {}).get("kind") not in OPERATOR_KINDS:
                continue
            count = (event.get("series") or {}).get("count") or event.get("deprecatedCount") or 1
            found[str(event.get("reason"))] += int(count)
        token = page.continue_token
        if not token:
            return dict(sorted(found.items()))


def _not_dashboard(events: dict[str, int]) -> int:
    return sum(count for reason, count in events.items() if reason not in DASHBOARD_REASONS)


def _non_event_writes(counts: dict[tuple[str, str], float]) -> float:
    return sum(v for (resource, verb), v in counts.items() if resource != "events" and verb in ALL_WRITES)


async def _settled(
    stack: Stack, counter: WriteCounter, quiet: float = 2.0, limit: float = 120.0
) -> tuple[dict[str, int], dict[tuple[str, str], float], float]:
    """Wait until the operator has written nothing but dashboard warnings (which go on) for `quiet` seconds:
    no new Event occurrence of another reason and no write of another resource. Returns its Events, its
    request counts and how long that took."""
    began = time.monotonic()
    events, counts = await _operator_events(stack), await counter.scrape()
    still_since = time.monotonic()
    while time.monotonic() - began < limit and time.monotonic() - still_since < quiet:
        await asyncio.sleep(0.5)
        now_events, now_counts = await _operator_events(stack), await counter.scrape()
        moved = _not_dashboard(now_events) != _not_dashboard(events)
        if moved or _non_event_writes(now_counts) != _non_event_writes(counts):
            still_since = time.monotonic()
        events, counts = now_events, now_counts
    return events, counts, time.monotonic() - began


def _reconciles(scrape: Scrape) -> dict[str, dict[str, float]]:
    """Reconciles per controller and result in a window."""
    found: dict[str, dict[str, float]] = {}
    for labels, value in scrape.select("controller_runtime_reconcile_total"):
        if value:
            found.setdefault(labels.get("controller", ""), {})[labels.get("result", "")] = value
    return found


def _write_codes(scrape: Scrape) -> dict[str, float]:
    """Every client's writes of the resources a RayJob involves, by verb and response code: "services POST
    409". The API server cannot say whose they are; for Services and RayClusters only the operator writes."""
    found: dict[str, float] = {}
    for labels, value in scrape.select("apiserver_request_total"):
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        if value and labels.get("verb") in ("POST", "PUT", "PATCH", "DELETE") and resource in CODES_OF:
            key = f"{resource} {labels['verb']} {labels.get('code', '')}"
            found[key] = found.get(key, 0.0) + value
    return dict(sorted(found.items()))


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def run(stack: Stack, result: CaseResult, jobs: int, after: float) -> None:
    if stack.operator_cert is None:
        raise ValueError("the RayJob case needs the operator under its own identity (StackOptions)")
    names = cluster_names("rayjob", jobs)
    wanted = set(names)
    counter = WriteCounter(stack.plane)
    milestones = {
        "cluster": (RAYCLUSTERS, _exists),
        "submitter": (JOBS, _exists),
        "ready": (RAYCLUSTERS, _ready),
        "running": (RAYJOBS, _running),
    }
    pid = stack.operator_pid

    def done() -> bool:
        return all(
            (
                seen.count("submitter", wanted) >= jobs,
                seen.count("ready") >= jobs,
                seen.count("running", wanted) >= jobs,
            )
        )

    async with Milestones(stack.client, NAMESPACE, milestones) as seen:
        codes_before = await counter.family("apiserver_request_total")
        before, operator_before = await counter.scrape(), await stack.operator_metrics()
        cpu_before = cpu_seconds(pid)
        began = time.monotonic()
        created = await create_rayjobs(stack.client, NAMESPACE, names)
        submitted = time.monotonic()
        try:
            await seen.wait(done, _timeout(jobs), "every submitter, ready cluster and Running RayJob")
        except TimeoutError as exc:
            counts = {key: seen.count(key) for key in milestones}
            raise TimeoutError(f"{exc}; seen of {jobs}: {counts}") from None
        finished = time.monotonic()
        cpu_window = cpu_seconds(pid) - cpu_before
        at_running, operator_at_end = await counter.scrape(), await stack.operator_metrics()
        events, at_end, drained = await _settled(stack, counter)
        codes = _write_codes((await counter.family("apiserver_request_total")).minus(codes_before))
        # Then: every job polls a dashboard that is not there, and nothing else happens.
        after_before, operator_after_before = await counter.scrape(), await stack.operator_metrics()
        cpu_after_start, after_start = cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(after)
        after_counts, operator_after = await counter.scrape(), await stack.operator_metrics()
        after_seconds = time.monotonic() - after_start
        cpu_after = cpu_seconds(pid) - cpu_after_start
    peak, resident = peak_rss_bytes(pid), rss_bytes(pid)

    submitters = [seen.first("submitter")[name] for name in names]
    lags = [seen.first("submitter")[name] - created[name] for name in names]
    result.add("time to create every RayJob", submitted - began, "s")
    result.add("time to every RayCluster created", max(seen.first("cluster").values()) - began, "s")
    result.add("time to every submitter Job created", max(submitters) - began, "s")
    result.add("time to every RayCluster ready", max(seen.first("ready").values()) - began, "s")
    result.add("time to every RayJob Running", max(seen.first("running")[n] for n in names) - began, "s")
    result.add("RayJobs to a submitter per second", jobs / (max(submitters) - began), "jobs/s")
    result.add("submitter after its RayJob, median", statistics.median(lags), "s")
    result.add("submitter after its RayJob, p90", _quantile(lags, 0.9), "s")

    requests = minus(at_end, before)
    others = {key: value for key, value in requests.items() if not key.startswith("events ")}
    event_writes = _not_dashboard(events)
    result.add("operator API writes per RayJob", (_writes(others) + event_writes) / jobs, "writes")
    for measure, resource, verbs in PER_JOB:
        result.add(f"{measure} per RayJob", _sum(requests, resource, verbs) / jobs, "writes")
    result.add("Event writes per RayJob (dashboard warnings left out)", event_writes / jobs, "writes")
    other = _writes(others) - sum(_sum(requests, resource, verbs) for _, resource, verbs in PER_JOB)
    result.add("other writes per RayJob", other / jobs, "writes")
    result.add("operator API reads (get/list/watch) per RayJob", _reads(requests) / jobs, "requests")
    result.add("operator CPU until every RayJob Running", cpu_window, "s")
    result.add("operator peak RSS", peak / MB, "MB")
    result.add("operator RSS at the end", resident / MB, "MB")
    result.add("operator's writes all done, after every RayJob Running", drained, "s")

    minutes = after_seconds / 60.0
    after_requests = minus(after_counts, after_before)
    result.add(
        "then, dashboards unreachable: operator writes per minute per RayJob",
        _writes(after_requests) / minutes / jobs,
        "writes/min",
    )
    result.add("then: operator CPU, share of one core", 100.0 * cpu_after / after_seconds, "%")

    reconciles = _reconciles(operator_at_end.minus(operator_before))
    after_reconciles = _reconciles(operator_after.minus(operator_after_before))
    result.add(
        "RayJob reconciles per RayJob", sum(reconciles.get("rayjob", {}).values()) / jobs, "reconciles"
    )
    result.add(
        "then: RayJob reconciles per minute per RayJob",
        sum(after_reconciles.get("rayjob", {}).values()) / minutes / jobs,
        "reconciles/min",
    )
    details: dict[str, Any] = {
        "window_seconds": round(finished - began, 2),
        "operator_requests": requests,
        "operator_requests_until_running": minus(at_running, before),
        "operator_requests_per_job": {key: round(v / jobs, 3) for key, v in requests.items()},
        "operator_events_by_reason": events,
        "apiserver_writes_by_code_all_clients": codes,
        "reconciles": reconciles,
        "after_window_seconds": round(after_seconds, 2),
        "after_window_requests": after_requests,
        "after_window_reconciles": after_reconciles,
        "submitter_lag_seconds": {"min": min(lags), "max": max(lags)},
    }
    result.details.update(details)
