"""What a benchmark case produces: named measures with units and, where there is one, the target."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Measure:
    name: str
    value: float
    unit: str
    target: str = ""
    """Human-readable target, e.g. "≥ 100"; empty when the figure is only reported."""
    met: bool | None = None
    low: float | None = None
    high: float | None = None
    """The lowest and highest of repeated runs, when the value is their median."""


@dataclass
class CaseResult:
    scenario: str
    case: str
    parameters: dict[str, Any] = field(default_factory=dict)
    measures: list[Measure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    operator: str = "kuberay-py"
    """Which operator the case ran against (see benchmarks.stack.Operators)."""

    def add(self, name: str, value: float, unit: str, target: str = "", met: bool | None = None) -> None:
        self.measures.append(Measure(name, round(value, 4), unit, target, met))

    def at_least(self, name: str, value: float, unit: str, target: float) -> None:
        self.add(name, value, unit, f"≥ {target:g}", value >= target)

    def at_most(self, name: str, value: float, unit: str, target: float) -> None:
        self.add(name, value, unit, f"≤ {target:g}", value <= target)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def well_formed(result: dict[str, Any]) -> list[str]:
    """Problems with one case's JSON: an error, no measures, or a value that is not a finite number ≥ 0."""
    problems = []
    label = f"{result.get('scenario')} {result.get('case')}"
    if result.get("error"):
        problems.append(f"{label}: {result['error']}")
    if not result.get("measures"):
        problems.append(f"{label}: no measures")
    for measure in result.get("measures", []):
        value = measure.get("value")
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            problems.append(f"{label}: {measure.get('name')} = {value!r}")
    return problems
