"""Run every case on its own fresh stack and gather the results with the machine's description."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmarks import latency, machine, repeats
from benchmarks.results import CaseResult
from benchmarks.scenarios import fairness, faults, many_clusters, memory, rayjobs, scale_up, steady
from benchmarks.settings import Settings
from benchmarks.stack import NODES, PODS_PER_NODE, CpuMeter, Operators, Stack, StackOptions
from kuberay_py.testing.binaries import KubeRay, ensure_kuberay

Scenario = Callable[..., Awaitable[None]]
"""A scenario's entry point, awaited as ``entry(stack, result, **arguments)``."""
SCENARIOS = (
    "scale-up",
    "many clusters",
    "fairness",
    "steady state",
    "memory",
    "faults",
    "rayjobs",
    "reconcile latency",
)


@dataclass(frozen=True)
class Case:
    scenario: str
    label: str
    entry: Scenario
    arguments: dict[str, Any] = field(default_factory=dict)
    repeats: int = 1
    operator: str = Operators.OURS
    stack: StackOptions | None = None
    recorded: dict[str, Any] | None = None
    """The parameters the results record, where they are not the arguments under the same names."""

    @property
    def parameters(self) -> dict[str, Any]:
        return self.arguments if self.recorded is None else self.recorded

    @property
    def slug(self) -> str:
        text = f"{self.operator} {self.scenario} {self.label}".lower()
        return re.sub(r"[^a-z0-9]+", "-", text).strip("-")

    async def body(self, stack: Stack, result: CaseResult) -> None:
        await self.entry(stack, result, **self.arguments)


def cases(settings: Settings) -> list[Case]:
    """Every case against each operator in turn, the operators of one case side by side; the plain-client
    reference once, since no operator acts in it."""
    found: list[Case] = []
    for case in _cases(settings):
        if case.parameters.get("reference"):
            found.append(replace(case, operator=Operators.NONE))
        else:
            found.extend(replace(case, operator=operator) for operator in settings.operators)
    return found


def _cases(settings: Settings) -> list[Case]:
    repeats = settings.repeats
    found = [
        Case("scale-up", f"N={n}", scale_up.run, {"workers": n}, repeats) for n in settings.scale_up_workers
    ]
    n = max(settings.scale_up_workers)
    found.append(
        Case(
            "scale-up",
            f"N={n}, plain client (reference)",
            scale_up.run_reference,
            {"workers": n},
            repeats,
            recorded={"workers": n, "reference": True},
        )
    )
    for m in settings.many_clusters:
        found.append(Case("many clusters", f"M={m}", many_clusters.run, {"clusters": m}, repeats))
    a = settings.fairness_workers
    found.append(
        Case("fairness", f"A=0→{a}", fairness.run, {"workers": a}, repeats, recorded={"a_workers": a})
    )
    storm, size = settings.storm_clusters, settings.storm_workers
    found.append(
        Case(
            "fairness",
            f"{storm} clusters of {size + 1} pods at once",
            fairness.run_storm,
            {"clusters": storm, "workers": size},
            repeats,
            recorded={"storm_clusters": storm, "storm_workers": size},
        )
    )
    clusters, seconds = settings.steady_clusters, settings.steady_seconds
    found.append(
        Case(
            "steady state",
            f"{clusters} clusters, {seconds:g} s",
            steady.run,
            {"clusters": clusters, "seconds": seconds},
        )
    )
    levels, per_cluster = settings.memory_pods, settings.pods_per_memory_cluster
    idle = settings.memory_idle_seconds
    found.append(
        Case(
            "memory",
            "pods=" + "/".join(str(level) for level in levels),
            memory.run,
            {"levels": levels, "pods_per_cluster": per_cluster, "idle": idle},
        )
    )
    workers, kills = settings.fault_workers, settings.fault_kills
    found.append(
        Case(
            "faults",
            f"0→{workers} under each kind of fault",
            faults.run,
            {"workers": workers, "kills": kills},
        )
    )
    jobs, after = settings.rayjobs, settings.rayjob_after_seconds
    found.append(
        Case(
            "rayjobs",
            f"{jobs} RayJobs at once",
            rayjobs.run,
            {"jobs": jobs, "after": after},
            repeats,
            stack=StackOptions(rayjobs=True, operator_identity=True, dashboards_refused=True),
            recorded={"rayjobs": jobs, "after_seconds": after},
        )
    )
    return found


async def run_case(
    case: Case, log_dir: Path, kuberay: KubeRay | None = None
) -> tuple[CaseResult, str | None]:
    """Run a case `repeats` times, each on a fresh stack; errors are recorded in the result, never raised.
    Also returns the Kubernetes version."""
    runs: list[CaseResult] = []
    version = None
    for attempt in range(case.repeats):
        run, version = await _run_once(case, log_dir, attempt, kuberay)
        runs.append(run)
        if run.error:
            break
    return repeats.combine(runs), version


async def _run_once(
    case: Case, log_dir: Path, attempt: int, kuberay: KubeRay | None
) -> tuple[CaseResult, str | None]:
    result = CaseResult(case.scenario, case.label, dict(case.parameters), operator=case.operator)
    version = None
    load_before = os.getloadavg()
    slug = case.slug if case.repeats == 1 else f"{case.slug}-{attempt + 1}"
    try:
        async with Stack(log_dir, slug, case.operator, kuberay, case.stack) as stack:
            version = await stack.kubernetes_version()
            meter = CpuMeter(stack)
            meter.start()
            await case.body(stack, result)
            result.cpu_seconds = meter.stop()
            final = await stack.operator_metrics()
            result.details["reconcile"] = latency.summarize([*stack.retired_scrapes, final])
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.details["load_average"] = {"before": list(load_before), "after": list(os.getloadavg())}
    return result, version


async def run_suite(
    settings: Settings, log_dir: Path, only: set[str] | None, progress: Callable[[str], None]
) -> dict[str, Any]:
    began = time.monotonic()
    start_load = os.getloadavg()
    results: list[CaseResult] = []
    version = None
    chosen = [c for c in cases(settings) if not only or c.scenario in only]
    kuberay = None
    if any(c.operator in (Operators.KUBERAY, Operators.KUBERAY_TUNED) for c in chosen):
        kuberay = await asyncio.to_thread(ensure_kuberay)
    for case in chosen:
        progress(f"{case.scenario} {case.label} [{case.operator}] ...")
        result, seen_version = await run_case(case, log_dir, kuberay)
        version = version or seen_version
        results.append(result)
        progress(f"  {_one_line(result)}")
    results.extend(latency.results(results))
    description = machine.describe(version or "unknown")
    description["load_average_at_start"] = list(start_load)
    description["load_average_at_end"] = list(os.getloadavg())
    description["simulated_nodes"] = {"nodes": NODES, "pods_per_node": PODS_PER_NODE}
    if kuberay is not None:
        description["kuberay_version"] = kuberay.version
    return {
        "mode": settings.mode,
        "settings": asdict(settings),
        "machine": description,
        "duration_seconds": round(time.monotonic() - began, 1),
        "results": [r.to_json() for r in results],
    }


def _one_line(result: CaseResult) -> str:
    if result.error:
        return f"error: {result.error}"
    runs = result.details.get("repeats", 1)
    shown = ", ".join(f"{m.name} {m.value:g} {m.unit}" for m in result.measures[:3])
    return f"{shown}" + (f" (median of {runs})" if runs > 1 else "")
