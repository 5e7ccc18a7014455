"""The RayJob CRD's rules in Python, case by case, and the checks only the operator makes."""

from typing import Any

import pytest

from kuberay_py.api.crd import build_job_crd
from kuberay_py.api.rayjob_validation import validate_job_manifest
from tests.invalid_manifests import Edit, apply_edits
from tests.invalid_rayjobs import JOB_BASE, JOB_CASES, JobCase


def test_the_base_job_is_valid() -> None:
    assert validate_job_manifest(JOB_BASE) == []


@pytest.mark.parametrize("case", JOB_CASES, ids=lambda c: c.id)
def test_python_rejects_each_invalid_job(case: JobCase) -> None:
    errors = case.python_errors()
    matching = [e for e in errors if case.message in e.message]
    assert matching, f"expected {case.message!r}, got {[str(e) for e in errors]}"
    if case.path is not None:
        assert case.path in {e.path for e in matching}


def _messages(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {rule["message"] for rule in node.get("x-kubernetes-validations", [])}
        return found.union(*(_messages(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_messages(v) for v in node))
    return set()


def test_every_rule_of_the_rayjob_crd_outside_the_cluster_spec_has_a_case() -> None:
    schema = build_job_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    cluster_spec = schema["properties"]["spec"]["properties"].pop("rayClusterSpec")
    own = _messages(schema) - _messages(cluster_spec)
    assert own - {case.message for case in JOB_CASES} == set()


@pytest.mark.parametrize(
    ("edits", "path", "words"),
    [
        ((Edit("spec.runtimeEnvYAML", "- a list"),), "spec.runtimeEnvYAML", "must be a YAML mapping"),
        ((Edit("spec.runtimeEnvYAML", "a: [unclosed"),), "spec.runtimeEnvYAML", "must be a YAML mapping"),
        (
            (Edit("spec.metadata", {"team": "ml"}), Edit("spec.rayClusterSpec.rayVersion", "2.5.0")),
            "spec.metadata",
            "2.6.0",
        ),
        (
            (
                Edit(
                    "spec.deletionStrategy",
                    {
                        "deletionRules": [
                            {
                                "policy": "DeleteCluster",
                                "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 60},
                            },
                            {
                                "policy": "DeleteWorkers",
                                "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 90},
                            },
                        ]
                    },
                ),
            ),
            "spec.deletionStrategy.deletionRules",
            "in order",
        ),
        (
            (
                Edit("spec.submissionMode", "SidecarMode"),
                Edit("spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy", "Always"),
            ),
            "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy",
            "Never or unset",
        ),
        (
            (Edit("spec.rayClusterSpec.workerGroupSpecs[0].rayStartParams", {"num-cpus": "many"}),),
            "spec.rayClusterSpec.workerGroupSpecs[0].rayStartParams.num-cpus",
            "",
        ),
    ],
    ids=[
        "runtime-env-list",
        "runtime-env-unparsable",
        "metadata-old-ray",
        "rules-out-of-order",
        "sidecar-restart",
        "cluster-spec",
    ],
)
def test_what_only_the_operator_checks(edits: tuple[Edit, ...], path: str, words: str) -> None:
    errors = validate_job_manifest(apply_edits(JOB_BASE, edits))
    assert any(e.path == path and words in e.message for e in errors), [str(e) for e in errors]
