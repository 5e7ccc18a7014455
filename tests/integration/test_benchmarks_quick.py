"""The quick benchmark runs end to end against real control planes and reports well-formed figures.

Timings depend on the machine and on whatever else runs on it, so nothing here judges them: only that every
scenario ran and produced finite, non-negative numbers (and positive ones where zero would mean nothing ran).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.results import well_formed
from benchmarks.suite import SCENARIOS

REPO = Path(__file__).resolve().parents[2]


def must_be_positive(scenario: str, measure: str) -> bool:
    """Figures that are zero only if the scenario did not really run."""
    if scenario == "reconcile latency":
        return measure in ("reconciles", "p50", "p99")
    return (
        measure.startswith(("time to", "A: time to", "operator RSS", "B's new pod"))
        or "per second" in measure
    )


@pytest.mark.timeout(2400)
def test_quick_benchmark_completes_with_well_formed_results(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=2300,
    )
    assert proc.returncode == 0, f"benchmark failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"

    report = json.loads(output.read_text())
    assert report["mode"] == "quick"
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["memory_bytes"] > 0
    assert machine["kubernetes_version"].startswith("v")
    assert len(machine["git_commit"]) == 40

    results = report["results"]
    assert {r["scenario"] for r in results} == set(SCENARIOS)
    assert [p for r in results for p in well_formed(r)] == []
    for result in results:
        for measure in result["measures"]:
            if must_be_positive(result["scenario"], measure["name"]):
                assert measure["value"] > 0, (result["scenario"], result["case"], measure)
        for process, seconds in result["cpu_seconds"].items():
            assert math.isfinite(seconds) and seconds >= 0, (result["case"], process, seconds)

    # Side by side: every case against both operators, the plain-client reference once.
    by_operator: dict[str, set[tuple[str, str]]] = {}
    for result in results:
        by_operator.setdefault(result["operator"], set()).add((result["scenario"], result["case"]))
    assert set(by_operator) == {"kuberay-py", "KubeRay", "none"}
    assert by_operator["kuberay-py"] == by_operator["KubeRay"]
    assert {scenario for scenario, _ in by_operator["none"]} == {"scale-up"}
    assert (
        "| Scenario | Case | Measure | kuberay-py | KubeRay | no operator | ratio | Target |" in proc.stdout
    )
