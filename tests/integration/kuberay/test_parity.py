"""Every sample, ours and KubeRay's, created with each operator; what they made is compared field by field.
Each difference must be fixed or listed, with its reason, in docs/differences-from-kuberay.md: the test
reads the document's tables, so the document cannot drift from what the operators do."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.testing.binaries import KubeRay
from kuberay_py.testing.parity import (
    Difference,
    compare,
    documented_patterns,
    intermittent_patterns,
    is_documented,
    shape,
)
from tests.integration.kuberay.sides import OUR_SAMPLES, REPO, Side, Snapshot, documents, rayclusters_of

DIFFERENCES_DOC = REPO / "docs" / "differences-from-kuberay.md"
SETTLE_TIMEOUT = 180.0
QUIET_SECONDS = 8.0
# Most samples need nothing this machine lacks: far fewer ready would mean the comparison saw little.
MIN_READY_SAMPLES = 25


@dataclass
class Sample:
    path: Path
    namespace: str
    clusters: list[str]
    refused: dict[str, str] = field(default_factory=dict)  # side label -> the API server's message


@dataclass
class ParityRun:
    samples: list[Sample]
    snapshots: dict[str, Snapshot]
    differences: dict[str, list[Difference]]  # sample file name -> differences

    def all_differences(self) -> Iterator[tuple[str, Difference]]:
        for sample, found in self.differences.items():
            for difference in found:
                yield sample, difference


def _samples(kuberay: KubeRay) -> list[Sample]:
    paths = sorted(OUR_SAMPLES.glob("*.yaml")) + sorted(kuberay.samples_dir.glob("ray-cluster.*.yaml"))
    found = []
    for index, path in enumerate(paths):
        clusters = [str(c["metadata"]["name"]) for c in rayclusters_of(path)]
        if clusters:
            origin = "ours" if path.parent == OUR_SAMPLES else "kuberay"
            found.append(Sample(path, f"parity-{origin}-{index:02d}", clusters))
    return found


def _create(side: Side, sample: Sample) -> None:
    side.kubectl("create", "namespace", sample.namespace)
    for doc in documents(sample.path):
        if doc.get("kind") == "RayJob":
            continue  # RayClusters are compared here; a sample's RayJob would only add a job of KubeRay's
        doc.setdefault("metadata", {})["namespace"] = sample.namespace
        proc = side.kubectl("create", "-f", "-", input=yaml.safe_dump(doc), check=False)
        if proc.returncode != 0 and doc.get("kind") == "RayCluster":
            sample.refused[side.label] = proc.stderr.strip()


def _all_ready(snapshot: Snapshot, label: str, samples: list[Sample]) -> bool:
    for sample in samples:
        if label in sample.refused:
            continue
        for name in sample.clusters:
            cluster = snapshot.cluster(sample.namespace, name)
            if cluster is None or (cluster.get("status") or {}).get("state") != "ready":
                return False
    return True


def _settle(sides: tuple[Side, ...], samples: list[Sample]) -> None:
    """Until every cluster on both sides is ready, or nothing has changed on either side for a while (some
    samples ask for nodes this machine lacks, such as TPU node pools, and stay pending on both)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    last: object = None
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        snapshots = [side.snapshot() for side in sides]
        if all(_all_ready(snap, side.label, samples) for snap, side in zip(snapshots, sides, strict=True)):
            return
        versions = [snap.versions() for snap in snapshots]
        if versions != last:
            last, still_since = versions, time.monotonic()
        elif time.monotonic() - still_since >= QUIET_SECONDS:
            return
        time.sleep(1.0)


@pytest.fixture(scope="module")
def parity(
    kuberay: KubeRay, kuberay_side: Side, ours_side: Side, tmp_path_factory: pytest.TempPathFactory
) -> ParityRun:
    samples = _samples(kuberay)
    sides = (kuberay_side, ours_side)
    for sample in samples:
        for side in sides:
            _create(side, sample)
    _settle(sides, samples)
    time.sleep(3.0)  # the last Events and status writes after the last pod turned ready
    snapshots = {side.label: side.snapshot() for side in sides}
    differences: dict[str, list[Difference]] = {}
    for sample in samples:
        if sample.refused:
            continue
        for name in sample.clusters:
            theirs = snapshots[kuberay_side.label].made(sample.namespace, name)
            ours = snapshots[ours_side.label].made(sample.namespace, name)
            assert theirs is not None and ours is not None, f"{sample.path.name}: {name} missing"
            found = compare(shape(theirs), shape(ours))
            differences.setdefault(sample.path.name, []).extend(found)
    report = {
        "refused": {s.path.name: s.refused for s in samples if s.refused},
        "states": {
            f"{s.path.name} {label}": [
                ((snap.cluster(s.namespace, n) or {}).get("status") or {}).get("state") for n in s.clusters
            ]
            for s in samples
            for label, snap in snapshots.items()
        },
        "differences": {s: [str(d) for d in found] for s, found in differences.items()},
    }
    (tmp_path_factory.getbasetemp() / "parity.json").write_text(json.dumps(report, indent=1))
    return ParityRun(samples, snapshots, differences)


def _patterns() -> list[str]:
    return documented_patterns(DIFFERENCES_DOC.read_text())


def test_both_operators_accept_the_same_samples(parity: ParityRun) -> None:
    """A sample one operator takes and the other refuses is a difference too; it must be documented as
    `admission[<file>]`."""
    patterns = _patterns()
    unexplained = []
    for sample in parity.samples:
        if len(sample.refused) == 1:
            key = f"admission[{sample.path.name}]"
            if not is_documented(key, patterns):
                unexplained.append(f"{key}: refused by {sample.refused}")
    assert not unexplained, "\n".join(unexplained)


def test_every_difference_is_documented(parity: ParityRun) -> None:
    patterns = _patterns()
    missing: dict[str, list[str]] = {}
    for sample, difference in parity.all_differences():
        if not is_documented(difference.key, patterns):
            missing.setdefault(str(difference), []).append(sample)
    shown = [f"{d}\n    in {', '.join(sorted(set(s))[:4])}" for d, s in sorted(missing.items())]
    assert not missing, f"{len(missing)} differences are neither fixed nor documented:\n" + "\n".join(shown)


def test_every_documented_difference_still_exists(parity: ParityRun) -> None:
    """A row for a difference that no sample shows any more is stale: the document must say what is true."""
    keys = [d.key for _, d in parity.all_differences()]
    keys += [f"admission[{s.path.name}]" for s in parity.samples if len(s.refused) == 1]
    intermittent = set(intermittent_patterns(DIFFERENCES_DOC.read_text()))
    assert intermittent <= set(_patterns())
    stale = [p for p in _patterns() if p not in intermittent and not any(is_documented(k, [p]) for k in keys)]
    assert not stale, f"documented differences no sample shows: {stale}"


def test_a_sample_ready_with_one_operator_is_ready_with_the_other(parity: ParityRun) -> None:
    """Some samples ask for nodes this machine has not (TPU node pools, a GKE bucket driver) and stay
    pending with both; every other sample must reach ready with both."""
    ready: dict[str, set[str]] = {}
    for sample in parity.samples:
        if sample.refused:
            continue
        for name in sample.clusters:
            for label, snapshot in parity.snapshots.items():
                cluster: dict[str, Any] = snapshot.cluster(sample.namespace, name) or {}
                if (cluster.get("status") or {}).get("state") == "ready":
                    ready.setdefault(label, set()).add(f"{sample.path.name} {name}")
    ours, theirs = ready.get("kuberay-py", set()), ready.get("KubeRay", set())
    assert ours == theirs, f"ready only with KubeRay: {theirs - ours}; only with kuberay-py: {ours - theirs}"
    assert len(ours) >= MIN_READY_SAMPLES, sorted(ours)
