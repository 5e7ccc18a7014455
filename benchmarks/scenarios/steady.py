"""Scenario 4: idle clusters, nothing changing. What does the operator cost the API server and the CPU?

Requests by verb come from the operator's own `rest_client_requests_total` (labelled by verb and code only);
status writes are counted on the API server's side, in its `apiserver_request_total` for the RayCluster status
subresource, since the client metric cannot tell a status patch from any other patch.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks.manifests import create_many
from benchmarks.metrics import Scrape
from benchmarks.observe import Observer
from benchmarks.procfs import cpu_seconds
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, WRITE_VERBS, cluster_names, timeout_for, wait_quiet
from benchmarks.stack import Stack

WORKERS = 3
STATUS_WRITE_VERBS = ("PATCH", "UPDATE", "APPLY")


def _status_writes(apiserver: Scrape) -> float:
    return sum(
        apiserver.total(
            "apiserver_request_total",
            group="ray.io",
            resource="rayclusters",
            subresource="status",
            verb=verb,
        )
        for verb in STATUS_WRITE_VERBS
    )


async def run(stack: Stack, result: CaseResult, clusters: int, seconds: float) -> None:
    names = cluster_names("idle", clusters)
    pods = clusters * (WORKERS + 1)
    async with Observer(stack.client, NAMESPACE) as seen:
        await create_many(stack.client, NAMESPACE, names, WORKERS)
        await seen.wait(lambda: seen.ready_clusters >= clusters, timeout_for(pods), "every cluster ready")
    settle = await wait_quiet(stack)

    pid = stack.operator_pid
    operator_before, apiserver_before = await stack.operator_metrics(), await stack.apiserver_metrics()
    cpu_before, began = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    operator_after, apiserver_after = await stack.operator_metrics(), await stack.apiserver_metrics()
    cpu_after, ended = cpu_seconds(pid), time.monotonic()

    minutes = (ended - began) / 60.0
    requests = operator_after.minus(operator_before)
    by_verb = requests.requests_by_verb()
    writes = sum(by_verb.get(verb, 0.0) for verb in WRITE_VERBS)
    status_writes = _status_writes(apiserver_after.minus(apiserver_before))
    cpu = cpu_after - cpu_before

    result.add("API requests per minute, all verbs", sum(by_verb.values()) / minutes, "req/min")
    for verb in sorted(by_verb):
        result.add(f"API requests per minute: {verb}", by_verb[verb] / minutes, "req/min")
    result.at_most("writes by the operator (create/update/patch/delete)", writes, "requests", 0)
    result.at_most("RayCluster status writes (API server's count)", status_writes, "requests", 0)
    reconciles = requests.total("controller_runtime_reconcile_total")
    result.add("reconciles during the window", reconciles, "reconciles")
    result.add("operator CPU", cpu, "s")
    result.add("operator CPU, share of one core", 100.0 * cpu / (ended - began), "%")
    result.details.update(
        {
            "window_seconds": round(ended - began, 2),
            "settle_seconds": round(settle, 2),
            "requests_by_verb": by_verb,
            "requests_by_code": requests.by_label("rest_client_requests_total", "code"),
        }
    )
