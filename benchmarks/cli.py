"""`python -m benchmarks [--quick] [--only SCENARIO] [--output FILE]`: run, print markdown, write JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import replace
from pathlib import Path

from benchmarks.report import markdown
from benchmarks.settings import FULL, QUICK
from benchmarks.stack import Operators
from benchmarks.suite import SCENARIOS, run_suite
from kuberay_py.runtime import configure_logging

OUT = Path(__file__).resolve().parent / "out"
# Scenario names as command-line words: "many clusters" is --only many-clusters. Reconcile latency comes
# from the other scenarios' operators, so it is not a choice of its own.
BY_OPTION = {name.replace(" ", "-"): name for name in SCENARIOS if name != "reconcile latency"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the operator against a local control plane: print markdown, write JSON.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes (for CI)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BY_OPTION),
        help="run only this scenario (repeatable)",
    )
    parser.add_argument(
        "--operator",
        action="append",
        choices=Operators.ALL,
        help="run only against this operator (repeatable; default: every operator of the mode)",
    )
    parser.add_argument("--repeats", type=int, help="runs of each repeated case (default: the mode's)")
    parser.add_argument("--output", type=Path, help="JSON file to write (default: benchmarks/out/)")
    parser.add_argument("--log-dir", type=Path, help="where operator logs go (default: beside the JSON)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("console", "warning")  # the benchmark's own informers: problems only
    settings = QUICK if args.quick else FULL
    if args.operator:
        settings = replace(settings, operators=tuple(args.operator))
    if args.repeats:
        settings = replace(settings, repeats=args.repeats)
    output: Path = args.output or OUT / f"results-{settings.mode}.json"
    log_dir: Path = args.log_dir or output.parent / f"logs-{settings.mode}"
    output.parent.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    only = {BY_OPTION[name] for name in args.only or ()}
    report = asyncio.run(run_suite(settings, log_dir, only, progress))
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nJSON written to {output}; operator logs in {log_dir}", file=sys.stderr)
    return 1 if any(r.get("error") for r in report["results"]) else 0
