"""One result from several runs of a case: each measure's median, with the lowest and highest beside it.

A single run on a shared two-core machine can be off by a third either way; the median of three is steadier
and the range shows how far to trust it.
"""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks import latency
from benchmarks.results import CaseResult, Measure


def _median_measure(measures: list[Measure]) -> Measure:
    ordered = sorted(measures, key=lambda m: m.value)
    middle = ordered[(len(ordered) - 1) // 2]  # an actual run's value, so its verdict on the target holds
    return Measure(
        middle.name,
        middle.value,
        middle.unit,
        middle.target,
        middle.met,
        low=ordered[0].value,
        high=ordered[-1].value,
    )


def combine(runs: list[CaseResult]) -> CaseResult:
    """The median of every measure over `runs` (all of one case); the first error wins."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    combined = CaseResult(first.scenario, first.case, dict(first.parameters), operator=first.operator)
    failed = [run.error for run in runs if run.error]
    if failed:
        combined.error = failed[0]
        return combined
    for measure in first.measures:
        same = [m for run in runs for m in run.measures if m.name == measure.name]
        combined.measures.append(_median_measure(same))
    names = {name for run in runs for name in run.cpu_seconds}
    combined.cpu_seconds = {
        name: round(statistics.mean(run.cpu_seconds.get(name, 0.0) for run in runs), 2) for name in names
    }
    summaries = [run.details["reconcile"] for run in runs if run.details.get("reconcile")]
    details: dict[str, Any] = {"runs": [run.details for run in runs], "repeats": len(runs)}
    if summaries:
        details["reconcile"] = latency.merge(summaries)
    combined.details = details
    return combined
