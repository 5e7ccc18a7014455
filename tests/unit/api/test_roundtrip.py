import copy
from pathlib import Path

import pytest

from kuberay_py.api import RayCluster
from kuberay_py.api.rayjob import RayJob

from .samples import SAMPLE_FILES, rayclusters, rayjobs


def test_every_expected_sample_exists():
    names = {path.name for path in SAMPLE_FILES}
    assert names >= {
        "ray-cluster.mini.yaml",
        "ray-cluster.heterogeneous.yaml",
        "ray-cluster.complete.yaml",
        "ray-cluster.autoscaler.yaml",
        "ray-cluster.complete.large.yaml",
        "ray-cluster.autoscaler.large.yaml",
        "ray-cluster.v1alpha1.yaml",
        "ray-job.sample.yaml",
        "ray-job.http-mode.yaml",
        "ray-job.use-existing-cluster.yaml",
        "ray-job.deletion-rules.yaml",
    }


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_round_trips(path: Path):
    models = [(RayCluster, m) for m in rayclusters(path)] + [(RayJob, m) for m in rayjobs(path)]
    assert models, f"{path.name} has no RayCluster and no RayJob"
    for model, manifest in models:
        original = copy.deepcopy(manifest)
        assert model.from_manifest(manifest).to_manifest() == original
        # Parsing did not touch the input either.
        assert manifest == original


def test_unknown_and_unsupported_fields_survive_a_round_trip():
    manifest = rayclusters(SAMPLE_FILES[0])[0]
    manifest = copy.deepcopy(manifest)
    manifest["spec"]["gcsFaultToleranceOptions"] = {
        "redisAddress": "redis:6379",
        "redisPassword": {"value": "x"},
    }
    manifest["spec"]["authOptions"] = {"mode": "token"}
    manifest["spec"]["futureField"] = {"nested": [1, 2, {"deep": True}]}
    manifest["spec"]["headGroupSpec"]["someNewKnob"] = "on"
    manifest["metadata"]["ownerReferences"] = [
        {"kind": "RayJob", "name": "job", "uid": "1", "apiVersion": "v1"}
    ]
    manifest["status"] = {"state": "ready", "desiredCPU": "3", "head": {"podIP": "10.0.0.1"}, "newStatus": 1}
    assert RayCluster.from_manifest(manifest).to_manifest() == manifest


def test_snake_case_keys_in_a_manifest_are_not_field_names():
    # The API server calls `num_of_hosts` an unknown field; the model keeps it aside rather than using it.
    manifest = copy.deepcopy(rayclusters(SAMPLE_FILES[0])[0])
    worker = {
        "groupName": "g",
        "num_of_hosts": 4,
        "template": {"spec": {"containers": [{"name": "w", "image": "i"}]}},
    }
    manifest["spec"]["workerGroupSpecs"] = [worker]
    cluster = RayCluster.from_manifest(manifest)
    group = cluster.spec.worker_groups()[0]
    assert group.num_of_hosts == 1
    assert group.model_extra == {"num_of_hosts": 4}
    assert cluster.to_manifest() == manifest


def test_explicit_nulls_round_trip():
    manifest = copy.deepcopy(rayclusters(SAMPLE_FILES[0])[0])
    manifest["spec"]["suspend"] = None
    assert RayCluster.from_manifest(manifest).to_manifest() == manifest
