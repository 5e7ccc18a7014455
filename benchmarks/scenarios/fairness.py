"""Scenario 3: while cluster A scales from 0 to N workers, how long until a small cluster B's scale-up
from 1 to 2 workers produces its pod. One big scale-up must not starve everyone else.

Three B clusters are scaled, when A has created about 10%, 40% and 70% of its pods, so the figure is not a
single lucky sample; the worst is compared with the target. The delay runs from sending B's patch (so it
includes the API server's latency under A's load) to the new pod's ADDED event reaching the benchmark, on a
watch of B's pods only, so that it does not queue behind A's events.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.manifests import create, set_workers
from benchmarks.observe import CLUSTER_LABEL, Observer
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, timeout_for
from benchmarks.stack import Stack

TARGET_SECONDS = 1.0
TRIGGERS = (0.1, 0.4, 0.7)


async def _sample(
    seen: Observer, smalls: Observer, stack: Stack, big: str, small: str, at_pods: int, began: float
) -> dict[str, Any]:
    await seen.wait(lambda: seen.pods_of(big) >= at_pods, timeout_for(at_pods), f"{at_pods} pods of A")
    a_at_patch = seen.pods_of(big)
    sent = time.monotonic()
    await set_workers(stack.client, NAMESPACE, small, 2)
    stored = time.monotonic()
    appeared = await smalls.wait(lambda: smalls.pods_of(small) >= 3, 120.0, f"the new pod of {small}")
    return {
        "cluster": small,
        "a_pods_at_patch": a_at_patch,
        "patch_seconds": round(stored - sent, 4),
        "delay_seconds": round(appeared - sent, 4),
        "b_pod_seen_after_a_patch_seconds": round(appeared - began, 4),
    }


async def run(stack: Stack, result: CaseResult, workers: int) -> None:
    big, smalls = "a", [f"b{i}" for i in range(len(TRIGGERS))]
    only_b = f"{CLUSTER_LABEL} in ({','.join(smalls)})"
    async with Observer(stack.client, NAMESPACE) as seen, Observer(stack.client, NAMESPACE, only_b) as b_pods:
        await create(stack.client, NAMESPACE, big, 0)
        for small in smalls:
            await create(stack.client, NAMESPACE, small, 1)
        await seen.wait(lambda: seen.ready_clusters >= len(smalls) + 1, 120.0, "A and B clusters ready")

        began = time.monotonic()
        generation = await set_workers(stack.client, NAMESPACE, big, workers)
        samples = [
            await _sample(seen, b_pods, stack, big, small, 1 + max(1, int(workers * share)), began)
            for small, share in zip(smalls, TRIGGERS, strict=True)
        ]
        pods = workers + 1
        created = await seen.wait(lambda: seen.pods_of(big) >= pods, timeout_for(pods), f"{pods} pods of A")
        ready = await seen.wait(lambda: seen.is_ready(big, generation), timeout_for(pods), "A ready")

    delays = [s["delay_seconds"] for s in samples]
    result.at_most("B's new pod after its scale-up (worst of 3)", max(delays), "s", TARGET_SECONDS)
    result.add("B's new pod after its scale-up (median of 3)", statistics.median(delays), "s")
    # Watches lag under load: compare when B's pod and A's last pod were seen, not a count read off a watch.
    during = sum(1 for s in samples if s["b_pod_seen_after_a_patch_seconds"] < created - began)
    result.add("B samples taken while A was still creating pods", during, "of 3")
    result.add("A: time to all pods created", created - began, "s")
    result.add("A: time to state: ready", ready - began, "s")
    result.add("A: pods created per second", workers / (created - began), "pods/s")
    result.details["samples"] = samples
