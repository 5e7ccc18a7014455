"""Scenario 5: the operator's resident memory with 0, 1,000 and 5,000 managed pods, and per cached pod.

Pods come in clusters of 100 (1 head + 99 workers). RSS is read from /proc once the operator has made no
request for a while (20 s in the full suite, so the HTTP connections a burst opened have been closed: aiohttp
keeps idle ones 15 s); the peak during the bursts (VmHWM) is reported too. CPython rarely hands freed memory
back to the OS, so RSS after creating thousands of pods also holds what the work of creating them left
behind; the operator is then restarted against the same pods, and its RSS after the initial list and
reconciles shows the cost of the cache alone.
"""

from __future__ import annotations

from benchmarks.manifests import create_many
from benchmarks.observe import Observer
from benchmarks.procfs import peak_rss_bytes, rss_bytes
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, cluster_names, timeout_for, wait_quiet
from benchmarks.stack import Stack

MB = 1_000_000
TARGET_PODS = 5000
TARGET_MB = 150.0
TARGET_IDLE_MB = 60.0


async def _idle_rss(stack: Stack, idle: float) -> int:
    await wait_quiet(stack, quiet=idle)
    return rss_bytes(stack.operator_pid)


async def _all_ready(seen: Observer, clusters: int, pods: int) -> None:
    def done() -> bool:
        return seen.ready_clusters >= clusters and seen.total_pods >= pods

    await seen.wait(done, timeout_for(pods), f"{clusters} clusters with {pods} pods ready")


async def run(
    stack: Stack, result: CaseResult, levels: tuple[int, ...], pods_per_cluster: int, idle: float
) -> None:
    if not levels or levels[0] != 0:
        raise ValueError("memory levels must start at 0 pods")
    rss = {0: await _idle_rss(stack, idle)}
    clusters = 0
    async with Observer(stack.client, NAMESPACE) as seen:
        for level in levels[1:]:
            wanted = level // pods_per_cluster
            names = cluster_names("mem", wanted - clusters, start=clusters)
            await create_many(stack.client, NAMESPACE, names, pods_per_cluster - 1)
            clusters = wanted
            await _all_ready(seen, wanted, level)
            rss[level] = await _idle_rss(stack, idle)
    peak = peak_rss_bytes(stack.operator_pid)
    top = levels[-1]
    await stack.restart_operator()
    restarted = await _idle_rss(stack, idle)

    for level, value in rss.items():
        if level == TARGET_PODS:
            result.at_most(f"operator RSS at {level} pods", value / MB, "MB", TARGET_MB)
        elif level == 0:
            result.at_most(f"operator RSS at {level} pods", value / MB, "MB", TARGET_IDLE_MB)
        else:
            result.add(f"operator RSS at {level} pods", value / MB, "MB")
    result.add(f"operator peak RSS while reaching {top} pods", peak / MB, "MB")
    result.add(f"operator RSS at {top} pods, after a restart", restarted / MB, "MB")
    result.add("bytes per pod (RSS growth from 0 pods / pods)", (rss[top] - rss[0]) / top, "bytes")
    if len(levels) > 2:
        below = levels[-2]
        result.add(
            f"bytes per pod from {below} to {top} pods", (rss[top] - rss[below]) / (top - below), "bytes"
        )
    result.add("bytes per cached pod (after a restart)", (restarted - rss[0]) / top, "bytes")
    result.details["rss_bytes"] = {str(level): value for level, value in rss.items()}
    result.details["rss_bytes_after_restart"] = restarted
    result.details["peak_rss_bytes"] = peak
