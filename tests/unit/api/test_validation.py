import copy
from typing import Any

import pytest

from kuberay_py.api import (
    FieldError,
    RayCluster,
    admission_errors,
    reconcile_errors,
    validate,
    validate_manifest,
)
from kuberay_py.api import messages as m
from kuberay_py.api.crd import build_crd
from kuberay_py.api.rayjob_validation import validate_job_manifest
from tests.invalid_manifests import BASE_MANIFEST, CASES, Edit, InvalidCase, apply_edits

from .samples import SAMPLE_FILES, rayclusters, rayjobs


def test_the_table_is_large_enough_and_its_ids_unique():
    assert len(CASES) >= 25
    assert len({case.id for case in CASES}) == len(CASES)


def test_the_base_manifest_is_valid():
    assert validate_manifest(BASE_MANIFEST) == []


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_is_valid(path):
    for manifest in rayclusters(path):
        assert validate_manifest(manifest) == []
    for manifest in rayjobs(path):
        assert validate_job_manifest(manifest) == []


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_python_rejects_each_invalid_manifest(case: InvalidCase):
    errors = case.python_errors()
    matching = [e for e in errors if case.message in e.message]
    assert matching, f"expected {case.message!r}, got {[str(e) for e in errors]}"
    if case.path is not None:
        assert case.path in {e.path for e in matching}


def _crd_messages() -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update(rule["message"] for rule in node.get("x-kubernetes-validations", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(build_crd())
    return found


def test_every_cel_rule_of_the_crd_is_exercised_by_the_table():
    # Each CEL message needs a case, so that the API server and the Python twin are both tested on it.
    assert _crd_messages() - {case.message for case in CASES} == set()


def test_the_crd_rules_and_the_python_rules_share_their_messages():
    all_messages = {v for k, v in vars(m).items() if k.isupper() and isinstance(v, str)}
    assert _crd_messages() <= all_messages


def test_a_transition_rule_needs_the_old_object():
    manifest = apply_edits(BASE_MANIFEST, (Edit("spec.managedBy", "kueue.x-k8s.io/multikueue"),))
    # On a create there is nothing to compare with.
    assert validate_manifest(manifest) == []
    assert validate_manifest(manifest, old=manifest) == []


def test_errors_are_structured_and_readable():
    manifest = apply_edits(BASE_MANIFEST, (Edit("spec.workerGroupSpecs[0].minReplicas", 9),))
    [error] = validate_manifest(manifest)
    assert error == FieldError("spec.workerGroupSpecs[0].minReplicas", m.MIN_ABOVE_MAX)
    assert str(error) == f"spec.workerGroupSpecs[0].minReplicas: {m.MIN_ABOVE_MAX}"


def test_schema_errors_are_reported_together():
    manifest = apply_edits(
        BASE_MANIFEST,
        (
            Edit("spec.workerGroupSpecs[0].replicas", True),
            Edit("spec.workerGroupSpecs[1].scaleStrategy", {"workersToDelete": ["w"] * 10_001}),
            Edit("spec.headGroupSpec.template", "not a template"),
            Edit("spec.upgradeStrategy", {"rollingUpdate": {"maxUnavailable": [1]}}),
        ),
    )
    errors = {e.path: e.message for e in validate_manifest(manifest)}
    assert errors["spec.workerGroupSpecs[0].replicas"] == m.MUST_BE_INTEGER
    assert errors["spec.workerGroupSpecs[1].scaleStrategy.workersToDelete"] == (
        f"{m.TOO_MANY}: 10001: must have at most 10000 items"
    )
    assert errors["spec.headGroupSpec.template"] == m.MUST_BE_OBJECT
    assert errors["spec.upgradeStrategy.rollingUpdate.maxUnavailable"] == "must be an integer or a string"


def test_metadata_fields_the_model_does_not_declare_are_not_unknown():
    manifest = copy.deepcopy(BASE_MANIFEST)
    manifest["metadata"]["ownerReferences"] = []
    manifest["metadata"]["managedFields"] = []
    assert validate_manifest(manifest) == []


def _cluster(*edits: Edit) -> RayCluster:
    return RayCluster.from_manifest(apply_edits(BASE_MANIFEST, edits))


HEAD_ENV = "spec.headGroupSpec.template.spec.containers[0].env"


def test_reconcile_checks_restart_policy_with_autoscaler_v2():
    rc = _cluster(
        Edit("spec.enableInTreeAutoscaling", True),
        Edit("spec.autoscalerOptions.version", "v2"),
        Edit("spec.workerGroupSpecs[1].template.spec.restartPolicy", "Always"),
        Edit("spec.headGroupSpec.template.spec.restartPolicy", "Never"),
    )
    assert reconcile_errors(rc) == [
        FieldError(
            "spec.workerGroupSpecs[1].template.spec.restartPolicy", m.RESTART_POLICY_WITH_AUTOSCALER_V2
        )
    ]
    # The API server accepts this; only the controller can report it.
    assert admission_errors(rc) == []


def test_restart_policy_is_free_with_autoscaler_v1():
    # Only an explicit version v2 counts, as in KubeRay: not a Ray version that runs v2 by itself, nor the
    # head's RAY_enable_autoscaler_v2.
    for edits in (
        (Edit("spec.autoscalerOptions.version", "v1"),),
        (Edit("spec.rayVersion", "2.46.0"),),
        (Edit("spec.rayVersion"),),
        (Edit("spec.rayVersion", "2.60.0"),),
        (Edit(HEAD_ENV, [{"name": "RAY_enable_autoscaler_v2", "value": "1"}]),),
    ):
        rc = _cluster(
            Edit("spec.enableInTreeAutoscaling", True),
            Edit("spec.headGroupSpec.template.spec.restartPolicy", "OnFailure"),
            *edits,
        )
        assert reconcile_errors(rc) == []


def test_restart_policy_is_free_without_autoscaling():
    rc = _cluster(Edit("spec.headGroupSpec.template.spec.restartPolicy", "Always"))
    assert validate(rc) == []


def test_reconcile_checks_the_autoscaler_v2_variable():
    env = [{"name": "RAY_enable_autoscaler_v2", "value": "1"}]
    rc = _cluster(Edit(HEAD_ENV, env))
    assert reconcile_errors(rc) == [FieldError(HEAD_ENV, m.AUTOSCALER_V2_ENV_WITHOUT_AUTOSCALING)]

    rc = _cluster(
        Edit(HEAD_ENV, env),
        Edit("spec.enableInTreeAutoscaling", True),
        Edit("spec.autoscalerOptions.version", "v2"),
    )
    assert reconcile_errors(rc) == [
        FieldError("spec.autoscalerOptions.version", m.AUTOSCALER_VERSION_SET_TWICE)
    ]

    rc = _cluster(Edit(HEAD_ENV, env), Edit("spec.enableInTreeAutoscaling", True))
    assert reconcile_errors(rc) == []


def test_reconcile_checks_container_names():
    containers = [{"name": "ray", "image": "a"}, {"name": "ray", "image": "b"}]
    rc = _cluster(Edit("spec.workerGroupSpecs[0].template.spec.containers", containers))
    assert reconcile_errors(rc) == [
        FieldError("spec.workerGroupSpecs[0].template.spec.containers", m.CONTAINER_NAMES_NOT_UNIQUE)
    ]


def test_name_rules_apply_to_creates_only():
    # Names cannot change, and a cluster stored under KubeRay's CRD must stay updatable.
    legacy = apply_edits(BASE_MANIFEST, (Edit("metadata.name", "a" * 60),))
    assert [e.message for e in validate_manifest(legacy)] == [m.CLUSTER_NAME_TOO_LONG]
    assert validate_manifest(legacy, old=legacy) == []


def test_an_unreadable_stored_object_counts_as_none():
    manifest = apply_edits(BASE_MANIFEST, (Edit("spec.managedBy", "kueue.x-k8s.io/multikueue"),))
    assert validate_manifest(manifest, old={"spec": "garbage"}) == []


def test_create_only_rules_in_the_crd_use_optional_old_self():
    name_rules = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    assert {r["message"] for r in name_rules} == {m.CLUSTER_NAME_TOO_LONG, m.CLUSTER_NAME_NOT_DNS1035}
    for rule in name_rules:
        assert rule["optionalOldSelf"] is True
        assert rule["rule"].startswith("oldSelf.hasValue() || (")


def test_numeric_ray_start_params_must_be_numbers_within_bounds() -> None:
    manifest = copy.deepcopy(BASE_MANIFEST)
    manifest["spec"]["workerGroupSpecs"][0]["rayStartParams"] = {"num-cpus": "1e30000000", "memory": "8GB"}
    errors = {e.path: e.message for e in validate_manifest(manifest)}
    assert set(errors) == {
        "spec.workerGroupSpecs[0].rayStartParams.num-cpus",
        "spec.workerGroupSpecs[0].rayStartParams.memory",
    }
    assert "at most 2^63-1" in errors["spec.workerGroupSpecs[0].rayStartParams.memory"]


def test_head_service_external_ips_are_refused() -> None:
    manifest = copy.deepcopy(BASE_MANIFEST)
    manifest["spec"]["headGroupSpec"]["headService"] = {"spec": {"externalIPs": ["203.0.113.7"]}}
    errors = validate_manifest(manifest)
    assert [e.path for e in errors] == ["spec.headGroupSpec.headService.spec.externalIPs"]
    assert "externalIPs are not allowed" in errors[0].message
