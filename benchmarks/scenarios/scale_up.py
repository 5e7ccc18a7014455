"""Scenario 1: one RayCluster with N workers, from create to every pod created and to `state: ready`."""

from __future__ import annotations

import time

from benchmarks.manifests import create
from benchmarks.observe import Observer
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, timeout_for
from benchmarks.stack import Stack

TARGET_PODS_PER_SECOND = 100.0


async def run(stack: Stack, result: CaseResult, workers: int) -> None:
    name = "scale-up"
    pods = workers + 1
    async with Observer(stack.client, NAMESPACE) as seen:
        began = time.monotonic()
        await create(stack.client, NAMESPACE, name, workers)
        created = await seen.wait(lambda: seen.pods_of(name) >= pods, timeout_for(pods), f"{pods} pods")
        ready = await seen.wait(lambda: seen.is_ready(name), timeout_for(pods), "state: ready")
    result.add("time to all pods created", created - began, "s")
    result.add("time to state: ready", ready - began, "s")
    result.at_least("pods created per second", pods / (created - began), "pods/s", TARGET_PODS_PER_SECOND)
