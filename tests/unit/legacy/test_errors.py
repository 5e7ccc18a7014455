"""Input that cannot be converted: one line that names the document and the field, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from kuberay_py.legacy import ConvertError, convert_text
from tests.unit.legacy.support import example, minimal_pod, values


def message(document: dict[str, Any] | str, name: str | None = None) -> str:
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    with pytest.raises(ConvertError) as raised:
        convert_text(text) if name is None else convert_text(text, name)
    line = str(raised.value)
    assert "\n" not in line
    return line


def changed(
    change: Callable[[dict[str, Any]], object], base: Callable[[], dict[str, Any]] = example
) -> dict[str, Any]:
    document = base()
    change(document)
    return document


def spec(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["spec"]
    return result


def worker(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["spec"]["podTypes"][1]
    return result


def ray_container(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = worker(document)["podConfig"]["spec"]["containers"][0]
    return result


def test_unknown_head_pod_type() -> None:
    document = changed(lambda d: spec(d).update(headPodType="head"))
    assert (
        message(document) == "spec.headPodType: 'head' is not one of the pod types (head-node, worker-nodes)"
    )
    document = changed(lambda d: d.update(headPodType="head"), values)
    assert message(document) == "headPodType: 'head' is not one of the pod types (rayHeadType, rayWorkerType)"


def test_missing_pod_types() -> None:
    assert message(changed(lambda d: spec(d).pop("podTypes"))) == (
        "spec.podTypes: required: the head's and the workers' pod types"
    )
    assert message(changed(lambda d: d.pop("podTypes"), values)) == (
        "podTypes: required: the head's and the workers' pod types"
    )
    assert message(changed(lambda d: spec(d).update(podTypes=[]))) == (
        "spec.podTypes: must be a non-empty list of pod types"
    )
    assert (
        message(changed(lambda d: d.update(podTypes={}), values))
        == "podTypes: must have at least one pod type"
    )
    assert (
        message(changed(lambda d: d.update(podTypes=["a"]), values))
        == "podTypes: must be a mapping, not a list"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "not a mapping: expected a legacy RayCluster or legacy Helm values"),
        ("just words\n", "not a mapping: expected a legacy RayCluster or legacy Helm values"),
        ("", "empty: expected a legacy RayCluster (cluster.ray.io/v1) or legacy Helm values"),
        ("---\n...\n", "empty: expected a legacy RayCluster (cluster.ray.io/v1) or legacy Helm values"),
        (
            "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: x}\n",
            "not a legacy manifest: already a ray.io/v1 RayCluster, apply it as it is",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: ray-operator-pod}\n",
            "not a legacy manifest: a Pod of v1, not a legacy RayCluster (cluster.ray.io/v1)",
        ),
        (
            "apiVersion: cluster.ray.io/v1alpha1\nkind: RayCluster\n",
            "not a legacy manifest: a RayCluster of cluster.ray.io/v1alpha1, not a legacy RayCluster "
            "(cluster.ray.io/v1)",
        ),
        (
            "replicaCount: 3\n",
            "not a legacy manifest: neither a legacy RayCluster (cluster.ray.io/v1) nor legacy Helm values "
            "(podTypes, image)",
        ),
    ],
)
def test_documents_that_are_not_legacy_clusters(text: str, expected: str) -> None:
    assert message(text) == expected


def test_yaml_that_does_not_parse() -> None:
    assert message("spec: [unclosed\n").startswith("not valid YAML: while parsing a flow sequence")


def test_several_documents_name_the_one_at_fault() -> None:
    bad = changed(lambda d: spec(d).update(headPodType="nope"))
    text = yaml.safe_dump_all([example(), bad])
    assert message(text).startswith("document 2: spec.headPodType: 'nope' is not one of the pod types")
    assert message(yaml.safe_dump_all([example(), ["a"]])) == (
        "document 2: not a mapping: expected a legacy RayCluster or legacy Helm values"
    )
    assert message("apiVersion: v1\nkind: Service\n---\nkind: Secret\n") == (
        "no legacy RayCluster or legacy Helm values among the 2 documents"
    )


def test_two_clusters_of_the_same_name() -> None:
    assert message(yaml.safe_dump_all([example(), example()])) == (
        "document 2: metadata.name: 'example-cluster' is also the name of document 1's cluster"
    )
    other = changed(lambda d: d["metadata"].update(namespace="other"))
    assert len(convert_text(yaml.safe_dump_all([example(), other])).manifests) == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("metadata"), "metadata.name: required"),
        (lambda d: d["metadata"].update(name=7), "metadata.name: must be a non-empty string, not a number"),
        (lambda d: d["metadata"].update(labels={"a": 1}), "metadata.labels.a: must be a string, not 1"),
        (lambda d: d.pop("spec"), "spec: required"),
        (lambda d: d.update(spec=[]), "spec: must be a mapping, not a list"),
        (lambda d: spec(d).pop("headPodType"), "spec.headPodType: required"),
        (
            lambda d: spec(d).update(maxWorkers=-1),
            "spec.maxWorkers: must be a whole number of at least 0, not -1",
        ),
        (
            lambda d: spec(d).update(maxWorkers=True),
            "spec.maxWorkers: must be a whole number of at least 0, not True",
        ),
        (lambda d: spec(d).update(upscalingSpeed=0), "spec.upscalingSpeed: must be a number above 0, not 0"),
        (
            lambda d: spec(d).update(upscalingSpeed="fast"),
            "spec.upscalingSpeed: must be a number above 0, not 'fast'",
        ),
        (
            lambda d: spec(d).update(idleTimeoutMinutes=-5),
            "spec.idleTimeoutMinutes: must be a number of at least 0, not -5",
        ),
        (
            lambda d: spec(d).update(headStartRayCommands="ray start --head"),
            "spec.headStartRayCommands: must be a list of strings, not a string",
        ),
        (
            lambda d: spec(d).update(workerSetupCommands=[["nested"]]),
            "spec.workerSetupCommands[0]: must be a string, not a list",
        ),
        (lambda d: spec(d)["podTypes"].append("x"), "spec.podTypes[2]: must be a mapping, not a string"),
        (lambda d: worker(d).pop("name"), "spec.podTypes[1].name: required"),
        (
            lambda d: worker(d).update(name="head-node"),
            "spec.podTypes[1].name: 'head-node' is the name of an earlier pod type too",
        ),
        (lambda d: worker(d).pop("podConfig"), "spec.podTypes[1].podConfig: required: the pod of this type"),
        (
            lambda d: worker(d).update(minWorkers=4),
            "spec.podTypes[1].minWorkers: 4 is above maxWorkers (3)",
        ),
        (
            lambda d: worker(d).update(minWorkers=1.5),
            "spec.podTypes[1].minWorkers: must be a whole number of at least 0, not 1.5",
        ),
        (
            lambda d: worker(d).update(rayResources={"CPU": -1}),
            'spec.podTypes[1].rayResources.CPU: must be an amount of at least 0 (e.g. 1, 0.5, "8Gi"), not -1',
        ),
        (
            lambda d: worker(d).update(rayResources={"GPU": True}),
            "spec.podTypes[1].rayResources.GPU: must be a number or a quantity string, not True",
        ),
        (
            lambda d: worker(d).update(rayResources={"example.com/gpu": "lots"}),
            'spec.podTypes[1].rayResources["example.com/gpu"]: must be an amount of at least 0 '
            """(e.g. 1, 0.5, "8Gi"), not 'lots'""",
        ),
        (
            lambda d: worker(d).update(rayResources=[1]),
            "spec.podTypes[1].rayResources: must be a mapping, not a list",
        ),
        (
            lambda d: worker(d)["podConfig"].update(kind="Deployment"),
            "spec.podTypes[1].podConfig.kind: must be \"Pod\", not 'Deployment'",
        ),
        (
            lambda d: worker(d)["podConfig"].pop("spec"),
            "spec.podTypes[1].podConfig.spec: required: the pod's containers",
        ),
        (
            lambda d: worker(d)["podConfig"]["spec"].update(containers=[]),
            "spec.podTypes[1].podConfig.spec.containers: must list at least one container "
            "(the first one runs Ray)",
        ),
        (
            lambda d: ray_container(d).pop("image"),
            "spec.podTypes[1].podConfig.spec.containers[0].image: required: the Ray image",
        ),
        (
            lambda d: ray_container(d).update(args="sleep infinity"),
            "spec.podTypes[1].podConfig.spec.containers[0].args: must be a list of strings",
        ),
        (
            lambda d: spec(d).update(workerStartRayCommands=["ray start --num-cpus=lots"]),
            "spec.workerStartRayCommands[0]: --num-cpus must be an amount of at least 0, not 'lots'",
        ),
    ],
)
def test_bad_custom_resources(change: Callable[[dict[str, Any]], object], expected: str) -> None:
    assert message(changed(change)) == expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("image"), "image: required"),
        (lambda d: d.update(headPodType=3), "headPodType: must be a non-empty string, not 3"),
        (
            lambda d: d.update(operatorOnly=True),
            "operatorOnly: true: these values install the operator only, there is no cluster",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].pop("CPU"),
            "podTypes.rayWorkerType.CPU: required: the CPUs of each pod of this type",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].pop("memory"),
            "podTypes.rayWorkerType.memory: required: the memory of each pod of this type",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].update(numCPU=2),
            "podTypes.rayWorkerType.numCPU: differs from CPU: set only one of them",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].update(GPU=-1),
            "podTypes.rayWorkerType.GPU: must be a whole number of at least 0, not -1",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].update(memory="lots"),
            "podTypes.rayWorkerType.memory: must be an amount of at least 0 "
            """(e.g. 1, 0.5, "8Gi"), not 'lots'""",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].update(nodeSelector={"disk": 1}),
            "podTypes.rayWorkerType.nodeSelector.disk: must be a string, not 1",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].update(tolerations={"key": "x"}),
            "podTypes.rayWorkerType.tolerations: must be a list of tolerations",
        ),
        (
            lambda d: d["podTypes"]["rayWorkerType"].update(minWorkers=5),
            "podTypes.rayWorkerType.minWorkers: 5 is above maxWorkers (3)",
        ),
    ],
)
def test_bad_values(change: Callable[[dict[str, Any]], object], expected: str) -> None:
    assert message(changed(change, values)) == expected


def test_a_release_name_that_is_no_cluster_name() -> None:
    assert message(values(), name="My_Release").startswith("--name: RayCluster names must be DNS-1035 labels")


def test_what_only_the_new_api_rejects_is_named_in_the_output() -> None:
    document = changed(lambda d: d["metadata"].update(name="Example_Cluster"))
    assert message(document).startswith(
        "the converted RayCluster is not valid: metadata.name: RayCluster names must be DNS-1035 labels"
    )


def test_what_only_the_builders_reject() -> None:
    document = changed(lambda d: ray_container(d)["resources"].update(limits={"cpu": "lots"}))
    assert message(document) == (
        "the operator cannot build the converted cluster's pods: spec.workerGroupSpecs[0].template.spec."
        'containers[0].resources.limits.cpu: "lots" is not a quantity (examples: "500m", "2", "2Gi", "1e9")'
    )


def test_a_pod_type_needs_only_a_name_and_a_pod() -> None:
    document = changed(lambda d: spec(d)["podTypes"].append({"name": "tiny", "podConfig": minimal_pod()}))
    group = convert_text(yaml.safe_dump(document)).manifests[0]["spec"]["workerGroupSpecs"][1]
    assert (group["groupName"], group["minReplicas"], group["maxReplicas"]) == ("tiny", 0, 3)


def test_items_of_a_list_are_named() -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [example(), example()]}
    assert (
        message(listing)
        == "items[1]: metadata.name: 'example-cluster' is also the name of items[0]'s cluster"
    )
    assert message({"apiVersion": "v1", "kind": "List", "items": []}) == (
        "empty: expected a legacy RayCluster (cluster.ray.io/v1) or legacy Helm values"
    )
    two = yaml.safe_dump_all([example(), {"kind": "List", "items": [changed(lambda d: d.pop("spec"))]}])
    assert message(two) == "document 2 items[0]: spec: required"
