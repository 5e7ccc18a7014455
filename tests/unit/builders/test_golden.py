"""What the builders produce for every sample in config/samples, compared with reviewed golden files.

After a deliberate change: `.venv/bin/python -m tests.unit.builders.regenerate`, then review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.unit.builders.regenerate import golden_file, rendered, sample_files

SAMPLES = sample_files()


def test_every_sample_has_a_golden_file() -> None:
    assert len(SAMPLES) >= 7
    assert {p.name for p in golden_file(SAMPLES[0]).parent.glob("*.yaml")} == {p.name for p in SAMPLES}


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_rendering_matches_the_golden_file(sample: Path) -> None:
    expected = golden_file(sample).read_text()
    actual = rendered(sample)
    assert actual == expected, (
        f"{sample.name} renders differently from {golden_file(sample).name}; if the change is intended, run "
        "`.venv/bin/python -m tests.unit.builders.regenerate` and review the diff"
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_golden_files_hold_one_head_and_one_pod_per_worker_host(sample: Path) -> None:
    sources = [d for d in yaml.safe_load_all(sample.read_text()) if d and d.get("kind") == "RayCluster"]
    objects = list(yaml.safe_load_all(golden_file(sample).read_text()))
    pods = [o for o in objects if o["kind"] == "Pod"]
    groups = [g for source in sources for g in source["spec"].get("workerGroupSpecs", [])]
    assert len(pods) == len(sources) + sum(g.get("numOfHosts", 1) for g in groups)
    assert sum(o["kind"] == "Service" for o in objects) == len(sources)
    autoscaled = any(source["spec"].get("enableInTreeAutoscaling") for source in sources)
    assert any(o["kind"] == "Role" for o in objects) == autoscaled
