"""The suite's results as markdown: one table of every measure, and one of CPU use per case."""

from __future__ import annotations

from typing import Any

from benchmarks.comparison import KUBERAY, OURS, REFERENCE, verdicts

PROCESSES = (
    "operator",
    "kube-apiserver",
    "etcd",
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "benchmark",
    "other",
)


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _target(measure: dict[str, Any]) -> str:
    if not measure.get("target"):
        return ""
    mark = {True: "met", False: "missed", None: ""}[measure.get("met")]
    return f"{measure['target']} {mark}".strip()


def machine_line(report: dict[str, Any]) -> str:
    m = report["machine"]
    commit = (m.get("git_commit") or "unknown")[:12]
    if m.get("git_dirty"):
        commit += " (with uncommitted changes)"
    load = " / ".join(f"{x:.2f}" for x in m.get("load_average_at_start", []))
    return (
        f"{m['cores']} cores ({m['cpu_model']}), {m['memory_bytes'] / 2**30:.0f} GiB, Python {m['python']}, "
        f"Kubernetes {m['kubernetes_version']}, commit {commit}, {m['date']}; "
        f"load average at start {load}; {report['mode']} mode took {report['duration_seconds']:.0f} s"
    )


def _value(measure: dict[str, Any]) -> str:
    value = f"{_number(measure['value'])} {measure['unit']}"
    if measure.get("low") is not None and measure["low"] != measure["high"]:
        value += f" ({_number(measure['low'])} to {_number(measure['high'])})"
    return value


def operators_of(report: dict[str, Any]) -> list[str]:
    """The operators in the report, in the order they ran (the plain-client reference last)."""
    seen = list(dict.fromkeys(r.get("operator", OURS) for r in report["results"]))
    return sorted(seen, key=lambda o: o == REFERENCE)


def measures_table(report: dict[str, Any]) -> str:
    """Every measure of every case, one column per operator, and kuberay-py's figure over KubeRay's."""
    operators = operators_of(report)
    columns = [("no operator" if o == REFERENCE else o) for o in operators]
    compare = OURS in operators and KUBERAY in operators
    header = (
        "| Scenario | Case | Measure | "
        + " | ".join(columns)
        + (" | ratio" if compare else "")
        + " | Target |"
    )
    lines = [header, "|---|---|---|" + "---:|" * (len(columns) + compare) + "---|"]
    cases: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for result in report["results"]:
        cases.setdefault((result["scenario"], result["case"]), {})[result.get("operator", OURS)] = result
    for (scenario, case), by_operator in cases.items():
        failed = [f"{o}: {r['error']}" for o, r in by_operator.items() if r.get("error")]
        if failed:
            lines.append(f"| {scenario} | {case} | **failed** | {'; '.join(failed)} |")
        names = list(dict.fromkeys(m["name"] for r in by_operator.values() for m in r.get("measures", [])))
        for name in names:
            found = {
                o: next((m for m in r.get("measures", []) if m["name"] == name), None)
                for o, r in by_operator.items()
            }
            cells = [(_value(m) if (m := found.get(o)) else "") for o in operators]
            ours, theirs = found.get(OURS), found.get(KUBERAY)
            ratio = ""
            if ours and theirs and theirs["value"]:
                ratio = f"{ours['value'] / theirs['value']:.2f}x"
            target = _target(ours) if ours else ""
            lines.append(
                f"| {scenario} | {case} | {name} | "
                + " | ".join(cells)
                + (f" | {ratio}" if compare else "")
                + f" | {target} |"
            )
    return "\n".join(lines)


def comparison_table(report: dict[str, Any]) -> str:
    """The targets set against KubeRay (or the plain client) from the same run; empty without KubeRay."""
    rows = list(verdicts(report))
    if not rows:
        return ""
    lines = ["| Target | kuberay-py | yardstick | ratio | |", "|---|---:|---:|---:|---|"]
    for target, ours, theirs, met in rows:
        lines.append(
            f"| {target.describe()} | {_number(ours)} | {_number(theirs)} | {ours / theirs:.2f}x | "
            f"{'met' if met else 'missed'} |"
        )
    return "\n".join(lines)


def cpu_table(report: dict[str, Any]) -> str:
    header = "| Case | Operator | wall s | " + " | ".join(PROCESSES) + " |"
    lines = [header, "|---|---|" + "---:|" * (len(PROCESSES) + 1)]
    for result in report["results"]:
        cpu = result.get("cpu_seconds") or {}
        if not cpu:
            continue
        cells = " | ".join(_number(cpu.get(name, 0.0)) for name in PROCESSES)
        operator = result.get("operator", OURS)
        lines.append(
            f"| {result['scenario']} {result['case']} | {operator} | "
            f"{_number(cpu.get('wall', 0.0))} | {cells} |"
        )
    return "\n".join(lines)


def faults_table(report: dict[str, Any]) -> str:
    """One row per kind of fault of the faults scenario; empty when it did not run."""
    rows = [
        (result.get("operator", OURS), row)
        for result in report["results"]
        for row in (result.get("details") or {}).get("faults", [])
    ]
    if not rows:
        return ""
    lines = [
        "| Operator | Fault | injected | most workers seen / desired | most heads | all ready after | "
        "operator exits |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for operator, row in rows:
        lines.append(
            f"| {operator} | {row['kind']} | {row['faults_injected']} | "
            f"{row['most_workers']} / {row['desired']} | "
            f"{row['most_heads']} | {_number(row['converge_seconds'])} s | {row['unexpected_exits']} |"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    faults = faults_table(report)
    compared = comparison_table(report)
    return "\n\n".join(
        [
            f"## Benchmarks ({report['mode']})",
            machine_line(report),
            *(["Targets against KubeRay, from this run:", compared] if compared else []),
            measures_table(report),
            *(["Faults injected while one cluster scales 0 -> N:", faults] if faults else []),
            "CPU seconds used during each case, by process (all share the same cores; other: everything else "
            "running on the machine meanwhile):",
            cpu_table(report),
        ]
    )
