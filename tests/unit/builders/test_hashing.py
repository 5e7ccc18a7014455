"""The template hash changes with what defines a pod, and with nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kuberay_py.builders import (
    TEMPLATE_HASH_ANNOTATION,
    build_head_pod,
    build_worker_pod,
    group_template_hash,
    recorded_template_hash,
)
from tests.unit.builders.support import manifest, parse, worker


def _base() -> dict[str, Any]:
    return manifest(
        workers=[worker("small", replicas=2, minReplicas=1, maxReplicas=4)],
        enableInTreeAutoscaling=True,
        autoscalerOptions={"idleTimeoutSeconds": 60},
    )


def _hashes(raw: dict[str, Any]) -> tuple[str, str]:
    cluster = parse(raw)
    head = build_head_pod(cluster)
    small = build_worker_pod(cluster, cluster.spec.worker_groups()[0])
    return head["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION], small["metadata"]["annotations"][
        TEMPLATE_HASH_ANNOTATION
    ]


def _edit(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw = _base()
    change(raw)
    return raw


def _group(raw: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = raw["spec"]["workerGroupSpecs"][0]
    return group


def test_the_hash_is_short_stable_and_recorded() -> None:
    cluster = parse(_base())
    pod = build_head_pod(cluster)
    digest = recorded_template_hash(pod)
    assert digest is not None and len(digest) == 16 and int(digest, 16) >= 0
    rebuilt = recorded_template_hash(build_head_pod(parse(_base())))
    assert digest == group_template_hash(cluster, None) == rebuilt
    assert recorded_template_hash({"metadata": {}}) is None


SCALE_ONLY: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("replicas", lambda raw: _group(raw).update(replicas=3)),
    ("minReplicas", lambda raw: _group(raw).update(minReplicas=0)),
    ("maxReplicas", lambda raw: _group(raw).update(maxReplicas=9)),
    (
        "workersToDelete",
        lambda raw: _group(raw).update(scaleStrategy={"workersToDelete": ["demo-small-worker-x"]}),
    ),
    ("suspend", lambda raw: raw["spec"].update(suspend=True)),
    ("generation", lambda raw: raw["metadata"].update(generation=7)),
    ("uid", lambda raw: raw["metadata"].update(uid="0b6f1f9e-0000-4000-8000-000000000003")),
    ("status", lambda raw: raw.update(status={"state": "ready"})),
    ("cluster labels", lambda raw: raw["metadata"].update(labels={"team": "x"})),
    # Read by the autoscaler from the RayCluster itself, not from the pod.
    ("idleTimeoutSeconds", lambda raw: raw["spec"]["autoscalerOptions"].update(idleTimeoutSeconds=5)),
    ("upscalingMode", lambda raw: raw["spec"]["autoscalerOptions"].update(upscalingMode="Conservative")),
]


@pytest.mark.parametrize(("what", "change"), SCALE_ONLY, ids=[what for what, _ in SCALE_ONLY])
def test_scaling_and_bookkeeping_do_not_change_the_hash(
    what: str, change: Callable[[dict[str, Any]], None]
) -> None:
    assert _hashes(_edit(change)) == _hashes(_base())


WORKER_CHANGES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    (
        "image",
        lambda raw: _group(raw)["template"]["spec"]["containers"][0].update(image="rayproject/ray:2.61.0"),
    ),
    (
        "env",
        lambda raw: _group(raw)["template"]["spec"]["containers"][0].update(
            env=[{"name": "A", "value": "1"}]
        ),
    ),
    ("template label", lambda raw: _group(raw)["template"].update(metadata={"labels": {"team": "ml"}})),
    ("rayStartParams", lambda raw: _group(raw).update(rayStartParams={"object-store-memory": "100000000"})),
    ("resources", lambda raw: _group(raw).update(resources={"CPU": "2"})),
    ("labels", lambda raw: _group(raw).update(labels={"zone": "a"})),
    (
        "limits",
        lambda raw: _group(raw)["template"]["spec"]["containers"][0]["resources"]["limits"].update(cpu="2"),
    ),
]


@pytest.mark.parametrize(("what", "change"), WORKER_CHANGES, ids=[what for what, _ in WORKER_CHANGES])
def test_what_defines_a_worker_changes_its_hash(what: str, change: Callable[[dict[str, Any]], None]) -> None:
    assert _hashes(_edit(change))[1] != _hashes(_base())[1]


HEAD_CHANGES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("autoscaler image", lambda raw: raw["spec"]["autoscalerOptions"].update(image="my/autoscaler:2")),
    (
        "autoscaler resources",
        lambda raw: raw["spec"]["autoscalerOptions"].update(resources={"limits": {"cpu": "1"}}),
    ),
    ("autoscaler version", lambda raw: raw["spec"]["autoscalerOptions"].update(version="v1")),
    ("autoscaling off", lambda raw: raw["spec"].update(enableInTreeAutoscaling=False)),
    ("head params", lambda raw: raw["spec"]["headGroupSpec"].update(rayStartParams={"num-cpus": "0"})),
]


@pytest.mark.parametrize(("what", "change"), HEAD_CHANGES, ids=[what for what, _ in HEAD_CHANGES])
def test_what_defines_the_head_changes_its_hash(what: str, change: Callable[[dict[str, Any]], None]) -> None:
    assert _hashes(_edit(change))[0] != _hashes(_base())[0]


def test_operator_rendering_does_not_enter_the_hash() -> None:
    # What the builders add (probes, env, the preStop hook) may change between operator versions; the pods
    # of an unchanged template must keep their hash, or an upgrade of the operator would restart them all.
    cluster = parse(_base())
    pod = build_worker_pod(cluster, cluster.spec.worker_groups()[0])
    assert "preStop" in str(pod["spec"])
    assert recorded_template_hash(pod) == group_template_hash(cluster, cluster.spec.worker_groups()[0])


def test_removing_another_group_changes_no_hash() -> None:
    two = _edit(lambda raw: raw["spec"]["workerGroupSpecs"].append({**_group(raw), "groupName": "other"}))
    assert _hashes(two) == _hashes(_base())


def test_a_ray_version_change_alone_keeps_the_hash() -> None:
    # rayVersion describes the images: a new image is a template change of its own.
    assert _hashes(_edit(lambda raw: raw["spec"].update(rayVersion="2.61.0"))) == _hashes(_base())
