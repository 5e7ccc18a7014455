"""Helpers shared by the scenarios."""

from __future__ import annotations

import asyncio
import time

from benchmarks.metrics import Scrape
from benchmarks.stack import Stack

# Every case runs on a fresh control plane, whose default namespace and ServiceAccount are ready at once.
NAMESPACE = "default"
WRITE_VERBS = ("create", "update", "patch", "delete")


def timeout_for(pods: int) -> float:
    """A generous bound on waiting for `pods` pods: a limit against hangs, never a pass/fail on speed."""
    return 120.0 + pods * 0.5


def _activity(scrape: Scrape) -> tuple[float, float, float]:
    requests = scrape.total("rest_client_requests_total")
    reconciles = scrape.total("controller_runtime_reconcile_total")
    busy = scrape.total("workqueue_depth") + scrape.total("controller_runtime_active_workers")
    return requests, reconciles, busy


async def wait_quiet(stack: Stack, quiet: float = 5.0, limit: float = 180.0) -> float:
    """Wait until the operator has made no request and run no reconcile for `quiet` seconds, with nothing
    queued or in progress; returns how long that took. Gives up (and returns) after `limit` seconds."""
    began = time.monotonic()
    last = _activity(await stack.operator_metrics())
    still_since = time.monotonic()
    while time.monotonic() - began < limit:
        await asyncio.sleep(1.0)
        now = _activity(await stack.operator_metrics())
        if now[:2] != last[:2] or now[2] > 0:
            still_since = time.monotonic()
        last = now
        if time.monotonic() - still_since >= quiet:
            break
    return time.monotonic() - began


def cluster_names(prefix: str, count: int, start: int = 0) -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(start, start + count)]
