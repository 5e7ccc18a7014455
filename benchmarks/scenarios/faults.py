"""Scenario 7: one RayCluster scales 0 -> N while faults are injected between the operator and the API server
(through the fault proxy) or into the operator process itself. Per kind of fault: how many were injected,
the most workers an independent watch ever saw at once against the desired count, the head pods at once,
the time until every worker was ready, and how often the operator exited when nobody killed it.

Target: 0 overshoots, 0 unexpected operator exits.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from benchmarks.manifests import GROUP, create, set_workers
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, timeout_for
from benchmarks.stack import Stack
from kuberay_py.testing import faultrules
from kuberay_py.testing.faultproxy import FaultProxy
from kuberay_py.testing.observer import PodObserver

Inject = Callable[[Stack, FaultProxy, "Injected"], Coroutine[Any, Any, None]]


@dataclass
class Injected:
    """Faults the process kinds injected themselves (the proxy counts its own)."""

    count: int = 0


@dataclass(frozen=True)
class Row:
    kind: str
    faults_injected: int
    desired: int
    most_workers: int
    most_heads: int
    converge_seconds: float
    unexpected_exits: int


@dataclass(frozen=True)
class FaultKind:
    label: str
    rules: tuple[faultrules.Rule, ...] = ()
    during: Inject | None = None
    """Runs beside the scale-up, e.g. killing the operator at random moments."""


FIVE = 0.05


def kinds(kills: int) -> list[FaultKind]:
    return [
        FaultKind("none"),
        FaultKind(
            "5% of pod-create answers lost", (faultrules.drop_response("pod-create", probability=0.05),)
        ),
        FaultKind(
            "5% of pod creates answered 429, 5% 500, 5% 504",
            (
                faultrules.error(429, "pod-create", probability=0.05),
                faultrules.error(500, "pod-create", probability=0.05 / 0.95),
                faultrules.error(504, "pod-create", probability=0.05 / 0.9),
            ),
        ),
        FaultKind(
            "5% of pod creates reset before sending", (faultrules.reset("pod-create", probability=0.05),)
        ),
        FaultKind("every pod create delayed 1 s", (faultrules.delay(1.0, "pod-create"),)),
        FaultKind(f"operator SIGKILLed {kills} times", during=_killing(kills)),
        FaultKind("API server restarted once", during=_restart_apiserver),
    ]


def _killing(times: int) -> Inject:
    async def kill(stack: Stack, proxy: FaultProxy, injected: Injected) -> None:
        rng = random.Random(20261201)
        for _ in range(times):
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            await stack.kill_operator()
            injected.count += 1
            await stack.start_operator(proxy.write_kubeconfig())

    return kill


async def _restart_apiserver(stack: Stack, proxy: FaultProxy, injected: Injected) -> None:
    await asyncio.sleep(1.0)
    await stack.restart_apiserver()
    injected.count += 1


async def run(stack: Stack, result: CaseResult, workers: int, kills: int) -> None:
    async with FaultProxy.for_control_plane(stack.plane, seed=20261201) as proxy:
        await stack.restart_operator(proxy.write_kubeconfig())
        rows = []
        for index, kind in enumerate(kinds(kills)):
            rows.append(await _one_kind(stack, proxy, kind, f"faults-{index}", workers))
        await stack.restart_operator()  # direct again, so the suite's final scrape does not need the proxy
    result.details["faults"] = [asdict(row) for row in rows]
    overshoots = sum(1 for row in rows if row.most_workers > row.desired or row.most_heads > 1)
    exits = sum(row.unexpected_exits for row in rows)
    result.at_most("fault kinds with an overshoot", overshoots, "kinds", 0)
    result.at_most("unexpected operator exits", exits, "exits", 0)
    for row in rows:
        result.add(f"converge: {row.kind}", row.converge_seconds, "s")


async def _one_kind(stack: Stack, proxy: FaultProxy, kind: FaultKind, name: str, workers: int) -> Row:
    before = sum(n for _, _, n in proxy.fault_table())
    injected = Injected()
    async with PodObserver(stack.client, NAMESPACE) as observer:
        await create(stack.client, NAMESPACE, name, 0)
        await _wait(lambda: len(observer.ready(name, "headgroup")) == 1, timeout_for(1))
        proxy.set_rules(*kind.rules)
        began = time.monotonic()
        await set_workers(stack.client, NAMESPACE, name, workers)
        during: asyncio.Task[None] | None = None
        if kind.during is not None:
            during = asyncio.create_task(kind.during(stack, proxy, injected))
        try:
            await _wait(lambda: len(observer.ready(name, GROUP)) == workers, timeout_for(workers))
            converged = time.monotonic() - began
            if during is not None:
                await during
        finally:
            if during is not None and not during.done():
                during.cancel()
            proxy.clear_rules()
        await asyncio.sleep(2.0)  # a late duplicate would show by now
        return Row(
            kind=kind.label,
            faults_injected=sum(n for _, _, n in proxy.fault_table()) - before + injected.count,
            desired=workers,
            most_workers=observer.most_active(name, GROUP),
            most_heads=observer.most_heads(name),
            converge_seconds=round(converged, 2),
            unexpected_exits=_unexpected_exit(stack),
        )


def _unexpected_exit(stack: Stack) -> int:
    process = stack.operator.proc if stack.operator is not None else None
    return 1 if process is not None and process.poll() is not None else 0


async def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not converged within {timeout:.0f}s")
        await asyncio.sleep(0.1)
