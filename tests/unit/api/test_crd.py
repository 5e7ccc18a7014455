import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py import cli
from kuberay_py.api.crd import (
    CRD_FILE,
    JOB_CRD_FILE,
    KUSTOMIZATION_FILE,
    build_crd,
    build_job_crd,
    render_crd,
    render_crds,
    render_job_crd,
    render_kustomization,
)

CRD_DIR = Path(__file__).resolve().parents[3] / "config" / "crd"


def test_committed_crd_is_the_generated_one():
    # Regenerate with `python -m kuberay_py crd --output-dir config/crd` after changing the models.
    assert (CRD_DIR / CRD_FILE).read_text() == render_crd()
    assert (CRD_DIR / JOB_CRD_FILE).read_text() == render_job_crd()
    assert (CRD_DIR / KUSTOMIZATION_FILE).read_text() == render_kustomization()


def test_crds_stay_small():
    assert len(render_crd().encode()) < 200 * 1024
    assert len(render_job_crd().encode()) < 200 * 1024


def test_cli_prints_both_crds(capsys: pytest.CaptureFixture[str]):
    assert cli.main(["crd"]) == 0
    out = capsys.readouterr().out
    assert out == render_crds()
    assert [d["spec"]["names"]["kind"] for d in yaml.safe_load_all(out)] == ["RayCluster", "RayJob"]


def test_cli_writes_the_crd_directory(tmp_path: Path):
    assert cli.main(["crd", "--output-dir", str(tmp_path / "crd")]) == 0
    assert (tmp_path / "crd" / CRD_FILE).read_text() == render_crd()
    assert (tmp_path / "crd" / JOB_CRD_FILE).read_text() == render_job_crd()
    resources = yaml.safe_load((tmp_path / "crd" / KUSTOMIZATION_FILE).read_text())["resources"]
    assert resources == [CRD_FILE, JOB_CRD_FILE]


def test_yaml_parses_back_to_the_crd():
    assert yaml.safe_load(render_crd()) == build_crd()
    assert yaml.safe_load(render_job_crd()) == build_job_crd()


def test_the_rayjob_crd_has_kuberay_s_columns_and_a_status_subresource():
    (version,) = build_job_crd()["spec"]["versions"]
    assert version["name"] == "v1" and version["storage"] and version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["job status", "deployment status", "ray cluster name", "start time", "end time", "age"]


def test_names_and_scope():
    spec = build_crd()["spec"]
    assert build_crd()["metadata"]["name"] == "rayclusters.ray.io"
    assert spec["group"] == "ray.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": "RayCluster",
        "listKind": "RayClusterList",
        "plural": "rayclusters",
        "singular": "raycluster",
        "categories": ["all"],
    }


def test_v1_is_stored_and_v1alpha1_is_served_deprecated_with_the_same_schema():
    v1, v1alpha1 = build_crd()["spec"]["versions"]
    assert (v1["name"], v1["served"], v1["storage"]) == ("v1", True, True)
    assert "deprecated" not in v1
    assert (v1alpha1["name"], v1alpha1["served"], v1alpha1["storage"]) == ("v1alpha1", True, False)
    assert v1alpha1["deprecated"] is True
    assert "ray.io/v1" in v1alpha1["deprecationWarning"]
    assert v1alpha1["schema"] == v1["schema"]
    for version in (v1, v1alpha1):
        assert version["subresources"] == {"status": {}}


def test_printer_columns():
    for version in build_crd()["spec"]["versions"]:
        columns = [
            (c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
            for c in version["additionalPrinterColumns"]
        ]
        assert columns == [
            ("desired workers", "integer", ".status.desiredWorkerReplicas", 0),
            ("available workers", "integer", ".status.availableWorkerReplicas", 0),
            ("cpus", "string", ".status.desiredCPU", 0),
            ("memory", "string", ".status.desiredMemory", 0),
            ("gpus", "string", ".status.desiredGPU", 0),
            ("status", "string", ".status.state", 0),
            ("age", "date", ".metadata.creationTimestamp", 0),
            ("head pod IP", "string", ".status.head.podIP", 1),
            ("head service IP", "string", ".status.head.serviceIP", 1),
        ]


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_worker_group_defaults():
    worker = _schema()["properties"]["spec"]["properties"]["workerGroupSpecs"]["items"]["properties"]
    assert worker["replicas"]["default"] == 0
    assert worker["minReplicas"]["default"] == 0
    assert worker["maxReplicas"]["default"] == 2147483647
    assert worker["numOfHosts"]["default"] == 1
    assert worker["maxReplicas"]["format"] == "int32"


def test_required_fields():
    schema = _schema()
    spec = schema["properties"]["spec"]
    assert schema["required"] == ["spec"]
    assert spec["required"] == ["headGroupSpec"]
    assert spec["properties"]["headGroupSpec"]["required"] == ["template"]
    assert spec["properties"]["workerGroupSpecs"]["items"]["required"] == ["template", "groupName"]


def test_kubernetes_core_types_are_kept_unchecked():
    spec = _schema()["properties"]["spec"]["properties"]
    head = spec["headGroupSpec"]["properties"]
    redis_password = spec["gcsFaultToleranceOptions"]["properties"]["redisPassword"]
    for node in (head["template"], head["headService"], redis_password["properties"]["valueFrom"]):
        assert node["x-kubernetes-preserve-unknown-fields"] is True
    # Just enough structure for the rules to see the containers.
    containers = head["template"]["properties"]["spec"]["properties"]["containers"]
    assert containers["type"] == "array"


def _walk(node: Any, path: str = ""):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.get("properties", {}).items():
            yield from _walk(value, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            yield from _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            yield from _walk(node["additionalProperties"], f"{path}{{}}")


def test_schema_is_structural():
    # Every node states its type, unless it is int-or-string or explicitly keeps unknown fields.
    for path, node in _walk(_schema()):
        has_type = (
            "type" in node
            or node.get("x-kubernetes-int-or-string")
            or node.get("x-kubernetes-preserve-unknown-fields")
        )
        assert has_type, path
        assert not {"anyOf", "oneOf", "allOf", "$ref"} & node.keys(), path
    metadata = _schema()["properties"]["metadata"]
    assert set(metadata.get("properties", {})) <= {"name", "generateName"}


def test_lists_and_maps_walked_by_rules_are_bounded():
    # The API server estimates a rule's cost from the bounds of what it walks and refuses costly CRDs.
    walked = re.compile(r"self((?:\.\w+)*)\.(?:all|exists|exists_one|map|filter)\(")
    for path, node in _walk(_schema()):
        for rule in node.get("x-kubernetes-validations", []):
            for fields in walked.findall(rule["rule"]):
                target = node
                for name in fields.split(".")[1:]:
                    target = target["properties"][name]
                assert target.get("maxItems", target.get("maxProperties")) is not None, (path, rule["rule"])


def test_rules_have_messages_and_no_message_expressions():
    for path, node in _walk(_schema()):
        for rule in node.get("x-kubernetes-validations", []):
            assert rule["message"], path
            assert "messageExpression" not in rule
