"""Targets that compare kuberay-py with KubeRay from the same run: a ratio of two results of one case."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

OURS = "kuberay-py"
KUBERAY = "KubeRay"
REFERENCE = "none"


@dataclass(frozen=True)
class RelativeTarget:
    scenario: str
    case: str
    measure: str
    against: str
    """The operator whose figure is the yardstick; REFERENCE for the plain client's case."""
    at_least: float | None = None
    at_most: float | None = None
    against_case: str | None = None
    """The yardstick's case when it is not the same case (the plain client's)."""

    def describe(self) -> str:
        bound = f"≥ {self.at_least:g}x" if self.at_least is not None else f"≤ {self.at_most:g}x"
        who = "the plain client" if self.against == REFERENCE else self.against
        return f"{self.scenario} {self.case}, {self.measure}: {bound} {who}"


TARGETS = (
    RelativeTarget("scale-up", "N=1000", "pods created per second", KUBERAY, at_least=1.5),
    RelativeTarget(
        "scale-up",
        "N=1000",
        "pods created per second",
        REFERENCE,
        at_least=0.95,
        against_case="N=1000, plain client (reference)",
    ),
    RelativeTarget("many clusters", "M=1000", "time to all clusters ready", KUBERAY, at_most=0.7),
)


def _index(report: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, float]]:
    """(scenario, case, operator) -> measure name -> value."""
    found: dict[tuple[str, str, str], dict[str, float]] = {}
    for result in report["results"]:
        if result.get("error"):
            continue
        key = (result["scenario"], result["case"], result.get("operator", OURS))
        found[key] = {m["name"]: m["value"] for m in result["measures"]}
    return found


def memory_targets(report: dict[str, Any]) -> list[RelativeTarget]:
    """RSS at every size at most KubeRay's: one target per size the memory case measured."""
    names = {
        m["name"]
        for r in report["results"]
        if r["scenario"] == "memory" and r.get("operator", OURS) == OURS and not r.get("error")
        for m in r["measures"]
        if m["name"].startswith("operator RSS at ") and m["name"].endswith(" pods")
    }
    cases = {r["case"] for r in report["results"] if r["scenario"] == "memory"}
    return [
        RelativeTarget("memory", c, n, KUBERAY, at_most=1.0) for c in sorted(cases) for n in sorted(names)
    ]


def verdicts(report: dict[str, Any]) -> Iterator[tuple[RelativeTarget, float, float, bool]]:
    """Each target both of whose figures the report has: (target, ours, theirs, met)."""
    index = _index(report)
    for target in (*TARGETS, *memory_targets(report)):
        ours = index.get((target.scenario, target.case, OURS), {}).get(target.measure)
        theirs_case = target.against_case or target.case
        theirs = index.get((target.scenario, theirs_case, target.against), {}).get(target.measure)
        if ours is None or theirs is None or theirs == 0:
            continue
        ratio = ours / theirs
        met = ratio >= target.at_least if target.at_least is not None else ratio <= (target.at_most or 0.0)
        yield target, ours, theirs, met
