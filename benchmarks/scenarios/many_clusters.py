"""Scenario 2: M RayClusters of 4 pods each (1 head + 3 workers) created together, until all are ready."""

from __future__ import annotations

import time

from benchmarks.manifests import create_many
from benchmarks.observe import Observer
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, cluster_names, timeout_for
from benchmarks.stack import Stack

WORKERS = 3


async def run(stack: Stack, result: CaseResult, clusters: int) -> None:
    names = cluster_names("many", clusters)
    pods = clusters * (WORKERS + 1)
    async with Observer(stack.client, NAMESPACE) as seen:
        began = time.monotonic()
        await create_many(stack.client, NAMESPACE, names, WORKERS)
        submitted = time.monotonic()
        created = await seen.wait(lambda: seen.total_pods >= pods, timeout_for(pods), f"{pods} pods")
        ready = await seen.wait(
            lambda: seen.ready_clusters >= clusters, timeout_for(pods), f"{clusters} ready clusters"
        )
    result.add("time to submit every RayCluster", submitted - began, "s")
    result.add("time to all pods created", created - began, "s")
    result.add("time to all clusters ready", ready - began, "s")
    result.add("pods created per second", pods / (created - began), "pods/s")
    result.add("clusters ready per second", clusters / (ready - began), "clusters/s")
