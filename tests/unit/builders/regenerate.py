"""Rewrite the golden files of the builders from the samples in config/samples.

    .venv/bin/python -m tests.unit.builders.regenerate

Run it only after a deliberate change to what the builders produce, and review the diff of
tests/unit/builders/golden/ line by line before committing it: the golden files are the reviewed record of
what the operator creates for each sample.
"""

from __future__ import annotations

from pathlib import Path

from kuberay_py.builders import render_manifests

HERE = Path(__file__).resolve().parent
GOLDEN_DIR = HERE / "golden"
SAMPLES_DIR = HERE.parents[2] / "config" / "samples"


def sample_files() -> list[Path]:
    return sorted(SAMPLES_DIR.glob("*.yaml"))


def golden_file(sample: Path) -> Path:
    return GOLDEN_DIR / sample.name


def rendered(sample: Path) -> str:
    return render_manifests(sample.read_text())


def main() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    for sample in sample_files():
        golden_file(sample).write_text(rendered(sample))
        print(f"wrote {golden_file(sample).relative_to(HERE.parents[2])}")


if __name__ == "__main__":
    main()
