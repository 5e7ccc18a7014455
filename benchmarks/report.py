"""The suite's results as markdown: one table of every measure, and one of CPU use per case."""

from __future__ import annotations

from typing import Any

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


def measures_table(report: dict[str, Any]) -> str:
    lines = ["| Scenario | Case | Measure | Value | Target |", "|---|---|---|---:|---|"]
    for result in report["results"]:
        if result.get("error"):
            lines.append(f"| {result['scenario']} | {result['case']} | **failed** | {result['error']} | |")
            continue
        for measure in result["measures"]:
            value = f"{_number(measure['value'])} {measure['unit']}"
            if measure.get("low") is not None and measure["low"] != measure["high"]:
                value += f" ({_number(measure['low'])} to {_number(measure['high'])})"
            lines.append(
                f"| {result['scenario']} | {result['case']} | {measure['name']} | {value} | "
                f"{_target(measure)} |"
            )
    return "\n".join(lines)


def cpu_table(report: dict[str, Any]) -> str:
    header = "| Case | wall s | " + " | ".join(PROCESSES) + " |"
    lines = [header, "|---|" + "---:|" * (len(PROCESSES) + 1)]
    for result in report["results"]:
        cpu = result.get("cpu_seconds") or {}
        if not cpu:
            continue
        cells = " | ".join(_number(cpu.get(name, 0.0)) for name in PROCESSES)
        lines.append(f"| {result['scenario']} {result['case']} | {_number(cpu.get('wall', 0.0))} | {cells} |")
    return "\n".join(lines)


def faults_table(report: dict[str, Any]) -> str:
    """One row per kind of fault of the faults scenario; empty when it did not run."""
    rows = [row for result in report["results"] for row in (result.get("details") or {}).get("faults", [])]
    if not rows:
        return ""
    lines = [
        "| Fault | injected | most workers seen / desired | most heads | all ready after | operator exits |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['kind']} | {row['faults_injected']} | {row['most_workers']} / {row['desired']} | "
            f"{row['most_heads']} | {_number(row['converge_seconds'])} s | {row['unexpected_exits']} |"
        )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    faults = faults_table(report)
    return "\n\n".join(
        [
            f"## Benchmarks ({report['mode']})",
            machine_line(report),
            measures_table(report),
            *(["Faults injected while one cluster scales 0 -> N:", faults] if faults else []),
            "CPU seconds used during each case, by process (all share the same cores; other: everything else "
            "running on the machine meanwhile):",
            cpu_table(report),
        ]
    )
