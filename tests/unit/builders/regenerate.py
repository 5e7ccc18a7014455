"""Rewrite the golden files of the builders from the samples in config/samples.

    .venv/bin/python -m tests.unit.builders.regenerate

Run it only after a deliberate change to what the builders produce, and review the diff of
tests/unit/builders/golden/ line by line before committing it: the golden files are the reviewed record of
what the operator creates for each sample.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kuberay_py.builders import render_manifests

HERE = Path(__file__).resolve().parent
GOLDEN_DIR = HERE / "golden"
SAMPLES_DIR = HERE.parents[2] / "config" / "samples"


def sample_files() -> list[Path]:
    """The samples with a golden file: those without a RayJob (RayJob renderings have none reviewed yet)."""
    return [path for path in sorted(SAMPLES_DIR.glob("*.yaml")) if not _has_rayjob(path)]


def _has_rayjob(path: Path) -> bool:
    return any(
        isinstance(d, dict) and d.get("kind") == "RayJob" for d in yaml.safe_load_all(path.read_text())
    )


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
