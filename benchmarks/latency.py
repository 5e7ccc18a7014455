"""Scenario 6: reconcile latency, from the operator's own `controller_runtime_reconcile_time_seconds`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.metrics import Scrape, combined, histogram_quantile
from benchmarks.results import CaseResult

HISTOGRAM = "controller_runtime_reconcile_time_seconds"
CONTROLLER = "raycluster"


def _summary(count: float, total: float, buckets: Mapping[str, float]) -> dict[str, Any]:
    by_bound = {float(bound): value for bound, value in buckets.items()}
    return {
        "count": count,
        "sum_seconds": total,
        "p50_seconds": histogram_quantile(0.5, by_bound),
        "p99_seconds": histogram_quantile(0.99, by_bound),
        "buckets": dict(buckets),
    }


def summarize(scrapes: list[Scrape]) -> dict[str, Any]:
    """Quantiles and counts of every reconcile a case's operator processes ran."""
    merged = combined(scrapes)
    buckets = {
        labels["le"]: value for labels, value in merged.select(HISTOGRAM + "_bucket", controller=CONTROLLER)
    }
    return _summary(
        merged.count(HISTOGRAM, controller=CONTROLLER),
        merged.total(HISTOGRAM + "_sum", controller=CONTROLLER),
        buckets,
    )


def merge(summaries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One summary for several: counts, sums and histogram buckets added up."""
    buckets: dict[str, float] = {}
    for summary in summaries:
        for bound, value in summary["buckets"].items():
            buckets[bound] = buckets.get(bound, 0.0) + value
    return _summary(sum(s["count"] for s in summaries), sum(s["sum_seconds"] for s in summaries), buckets)


def _rows(case: str, summary: Mapping[str, Any], operator: str) -> CaseResult:
    result = CaseResult("reconcile latency", case, operator=operator)
    result.add("reconciles", summary["count"], "reconciles")
    if summary["count"]:
        result.add("p50", 1000.0 * summary["p50_seconds"], "ms")
        result.add("p99", 1000.0 * summary["p99_seconds"], "ms")
        result.add("mean", 1000.0 * summary["sum_seconds"] / summary["count"], "ms")
    return result


def results(cases: list[CaseResult]) -> list[CaseResult]:
    """One result per case whose operator reconciled anything (not the plain-client reference), and per
    operator one for all its cases together (their histograms summed)."""
    summaries = [(c, s) for c in cases if (s := c.details.get("reconcile")) and s["count"]]
    rows = [_rows(f"{c.scenario} {c.case}", s, c.operator) for c, s in summaries]
    for operator in dict.fromkeys(c.operator for c, _ in summaries):
        overall = merge([s for c, s in summaries if c.operator == operator])
        rows.append(_rows("all cases", overall, operator))
    return rows
