"""The legacy docs' examples, converted: the custom resources of the operator guide and the chart's values."""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.api import RayCluster, validate_manifest
from kuberay_py.builders import ray_start_command, render_cluster
from tests.unit.legacy.support import convert, converted, example, fixture, fixture_text

IMAGE = "rayproject/ray:2.60.0"
SHM = {"name": "dshm", "emptyDir": {"medium": "Memory"}}
SHM_MOUNT = {"mountPath": "/dev/shm", "name": "dshm"}
LEGACY_RESOURCES = {"requests": {"cpu": "1000m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}}
NAMES_WARNING = (
    "metadata.name: the head Service is now example-cluster-head-svc (was example-cluster-ray-head) and "
    "pods are named example-cluster-head-* and example-cluster-<group>-worker-*: point clients at the new "
    "Service, and select pods by the labels ray.io/cluster, ray.io/node-type and ray.io/group"
)


def example_cluster(head: dict[str, Any], workers: list[dict[str, Any]]) -> dict[str, Any]:
    """The RayCluster that an example named example-cluster converts to, around its groups."""
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "example-cluster"},
        "spec": {
            "enableInTreeAutoscaling": True,
            "autoscalerOptions": {"idleTimeoutSeconds": 300, "upscalingMode": "Conservative"},
            "headGroupSpec": head,
            "workerGroupSpecs": workers,
        },
    }


def _legacy_container(**extra: Any) -> dict[str, Any]:
    return {
        "name": "ray-node",
        "imagePullPolicy": "IfNotPresent",
        "image": IMAGE,
        **extra,
        "volumeMounts": [SHM_MOUNT],
        "resources": LEGACY_RESOURCES,
    }


def test_example_cluster() -> None:
    result = convert(fixture_text("example-cluster.yaml"))
    assert result.manifests == [
        example_cluster(
            head={
                # --head, the default --port and --no-monitor are the operator's own.
                "rayStartParams": {"dashboard-host": "0.0.0.0"},
                "template": {
                    "metadata": {"labels": {"component": "example-cluster-ray-head"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "volumes": [SHM],
                        "containers": [
                            _legacy_container(ports=[{"containerPort": p} for p in (6379, 10001, 8265)])
                        ],
                    },
                },
            },
            workers=[
                {
                    "groupName": "worker-nodes",
                    "replicas": 2,
                    "minReplicas": 2,
                    "maxReplicas": 3,
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "volumes": [SHM],
                            "containers": [_legacy_container()],
                        }
                    },
                }
            ],
        )
    ]
    # The legacy default speed is exactly Conservative's and maxWorkers is the groups' sum: nothing to say.
    assert result.warnings == [NAMES_WARNING]


def test_example_cluster2_keeps_tasks_off_the_head_and_custom_resources() -> None:
    manifest = converted(fixture_text("example-cluster2.yaml"))
    spec = manifest["spec"]
    assert manifest["metadata"] == {"name": "example-cluster2"}
    assert spec["headGroupSpec"]["resources"] == {"CPU": "0"}
    (group,) = spec["workerGroupSpecs"]
    assert (group["groupName"], group["replicas"], group["minReplicas"], group["maxReplicas"]) == (
        "worker-nodes",
        1,
        1,
        2,
    )
    assert group["resources"] == {"Custom1": "1", "is_spot": "1"}
    # The placeholder command is gone, so the operator's own ray start runs, with the resources as flags.
    assert "command" not in group["template"]["spec"]["containers"][0]
    cluster = RayCluster.from_manifest(manifest)
    assert "--num-cpus=0" in ray_start_command(cluster)
    assert """--resources='{"Custom1":1,"is_spot":1}'""" in ray_start_command(
        cluster, cluster.spec.worker_groups()[0]
    )


def test_chart_values() -> None:
    result = convert(fixture_text("values.yaml"), name="example-cluster")

    def pod(container: str) -> dict[str, Any]:
        cpu_and_memory = {"cpu": "1", "memory": "512Mi"}
        return {
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": container,
                        "image": IMAGE,
                        "resources": {"requests": cpu_and_memory, "limits": cpu_and_memory},
                    }
                ],
            }
        }

    assert result.manifests == [
        example_cluster(
            head={"rayStartParams": {}, "template": pod("ray-head")},
            workers=[
                {
                    "groupName": "ray-worker-type",
                    "replicas": 2,
                    "minReplicas": 2,
                    "maxReplicas": 3,
                    "rayStartParams": {},
                    "template": pod("ray-worker"),
                }
            ],
        )
    ]
    operator_settings = [
        "operatorOnly",
        "clusterOnly",
        "namespacedOperator",
        "operatorNamespace",
        "operatorImage",
    ]
    assert result.warnings == [
        *(
            f"{key}: an operator setting, not part of a cluster: left out (install the operator on its own)"
            for key in operator_settings
        ),
        "podTypes.rayWorkerType: the group is named 'ray-worker-type': a group name must be a unique DNS "
        "label",
        NAMES_WARNING,
    ]


def test_values_name_comes_from_the_release_name() -> None:
    manifest = converted(fixture_text("values.yaml"), name="my-release")
    assert manifest["metadata"] == {"name": "my-release"}


def test_cluster_only_values_with_gpus_node_selector_and_tolerations() -> None:
    manifest = converted(fixture_text("values-cluster-only.yaml"))
    spec = manifest["spec"]
    head = spec["headGroupSpec"]
    assert head["resources"] == {"CPU": "0"}
    assert head["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    (group,) = spec["workerGroupSpecs"]
    assert group["groupName"] == "gpu-workers"
    assert (group["replicas"], group["minReplicas"], group["maxReplicas"]) == (0, 0, 4)
    assert group["resources"] == {"accelerator_type_T4": "1"}
    pod = group["template"]["spec"]
    assert pod["containers"][0]["image"] == "rayproject/ray-ml:2.60.0-gpu"
    assert pod["containers"][0]["resources"] == {
        "requests": {"cpu": "8", "memory": "30Gi"},
        "limits": {"cpu": "8", "memory": "30Gi", "nvidia.com/gpu": "1"},
    }
    assert pod["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    cluster = RayCluster.from_manifest(manifest)
    assert "--num-gpus=1" in ray_start_command(cluster, cluster.spec.worker_groups()[0])


def test_every_cluster_of_a_stream_and_the_other_documents_left_out_with_a_warning() -> None:
    result = convert(fixture_text("two-clusters-and-a-service.yaml"))
    assert [m["metadata"]["name"] for m in result.manifests] == ["small-a", "small-b"]
    assert (
        result.warnings[0]
        == "document 1: left out: a Service of v1, not a legacy RayCluster (cluster.ray.io/v1)"
    )
    assert result.warnings[1].startswith(
        "document 2: metadata.name: the head Service is now small-a-head-svc"
    )
    assert result.warnings[2].startswith(
        "document 3: metadata.name: the head Service is now small-b-head-svc"
    )
    assert len(result.warnings) == 3
    # A cluster whose only pod type is the head has no worker groups.
    assert "workerGroupSpecs" not in result.manifests[1]["spec"]


@pytest.mark.parametrize(
    "name",
    [
        "example-cluster.yaml",
        "example-cluster2.yaml",
        "values.yaml",
        "values-cluster-only.yaml",
        "two-clusters-and-a-service.yaml",
        "every-warning.yaml",
    ],
)
def test_every_fixture_converts_to_what_the_api_and_the_builders_accept(name: str) -> None:
    for manifest in convert(fixture_text(name)).manifests:
        assert validate_manifest(manifest) == []
        cluster = RayCluster.from_manifest(manifest)
        assert cluster.to_manifest() == manifest
        kinds = [obj["kind"] for obj in render_cluster(cluster)]
        assert kinds[:3] == ["ServiceAccount", "Role", "RoleBinding"]  # the autoscaler's, as it is on
        assert kinds.count("Pod") == 1 + len(cluster.spec.worker_groups())


def test_the_fixtures_are_legacy_documents() -> None:
    assert fixture("example-cluster.yaml")["apiVersion"] == "cluster.ray.io/v1"
    assert "apiVersion" not in fixture("values.yaml")


def test_the_list_kubectl_get_prints() -> None:
    exported = example()
    exported["metadata"].update(uid="5e1b", resourceVersion="981", generation=1)
    exported["status"] = {"phase": "Running", "autoscalerRetries": 0}
    listing = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [exported, fixture("example-cluster2.yaml"), {"apiVersion": "v1", "kind": "ConfigMap"}],
    }
    result = convert(listing)
    assert [m["metadata"] for m in result.manifests] == [
        {"name": "example-cluster"},
        {"name": "example-cluster2"},
    ]
    assert result.warnings[0].startswith(
        "items[0]: metadata.name: the head Service is now example-cluster-head"
    )
    assert (
        result.warnings[-1]
        == "items[2]: left out: a ConfigMap of v1, not a legacy RayCluster (cluster.ray.io/v1)"
    )
