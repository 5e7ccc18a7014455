"""The `ray start` command: flags, their order, resources derived from the Ray container, and overrides."""

from typing import Any

import pytest

from kuberay_py.builders import (
    BuildError,
    BuildOptions,
    format_ray_start,
    ray_start_command,
    ray_start_params,
)
from kuberay_py.builders.ray_resources import (
    add_accelerator_resources,
    container_resource_params,
    custom_resources_flag,
    group_resource_params,
)
from tests.unit.builders.support import container, manifest, parse, worker


def _worker_with(container_resources: dict[str, Any], **fields: Any) -> dict[str, Any]:
    template = {"spec": {"containers": [container("ray-worker", resources=container_resources)]}}
    return worker("w", template=template, **fields)


def test_head_command() -> None:
    cluster = parse(manifest())
    assert ray_start_command(cluster) == (
        "ray start --head --block --dashboard-agent-listen-port=52365 --dashboard-host=0.0.0.0 "
        "--memory=2147483648 --metrics-export-port=8080 --num-cpus=1"
    )


def test_worker_command_joins_the_head_by_its_fqdn() -> None:
    cluster = parse(manifest(workers=[worker("small")]))
    group = cluster.spec.worker_groups()[0]
    assert ray_start_command(cluster, group, BuildOptions(cluster_domain="k8s.internal")) == (
        "ray start --address=demo-head-svc.ml.svc.k8s.internal:6379 --block "
        "--dashboard-agent-listen-port=52365 --memory=1073741824 --metrics-export-port=8080 --num-cpus=1"
    )


def test_no_monitor_on_the_head_only_when_autoscaling() -> None:
    assert "--no-monitor" not in ray_start_command(parse(manifest()))
    autoscaled = parse(manifest(workers=[worker()], enableInTreeAutoscaling=True))
    assert "--no-monitor" in ray_start_command(autoscaled).split()
    assert "--no-monitor" not in ray_start_command(autoscaled, autoscaled.spec.worker_groups()[0])


def test_user_params_are_sorted_flags_and_true_is_bare() -> None:
    assert format_ray_start(
        {"z-last": "1", "a-first": "x y", "block": "true", "flag": "TRUE"}, head=False
    ) == ("ray start --a-first=x y --block --flag --z-last=1")


def test_boolean_valued_options_keep_their_value() -> None:
    # `ray start --include-dashboard` without a value is a usage error.
    assert (
        format_ray_start({"include-dashboard": "true"}, head=True)
        == "ray start --head --include-dashboard=true"
    )


def test_user_params_override_defaults_and_derived_resources() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["rayStartParams"] = {
        "dashboard-host": "127.0.0.1",
        "num-cpus": "0",
        "memory": "1000",
        "port": "6380",
    }
    cluster = parse(manifest(head=head, workers=[worker()]))
    params = ray_start_params(cluster)
    assert params["dashboard-host"] == "127.0.0.1"
    assert params["num-cpus"] == "0"
    assert params["memory"] == "1000"
    # The head's GCS port is where workers connect.
    assert ray_start_params(cluster, cluster.spec.worker_groups()[0])["address"] == (
        "demo-head-svc.ml.svc.cluster.local:6380"
    )


def test_empty_param_values_count_as_unset() -> None:
    group = worker("w", rayStartParams={"num-cpus": ""})
    cluster = parse(manifest(workers=[group]))
    assert ray_start_params(cluster, cluster.spec.worker_groups()[0])["num-cpus"] == "1"


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"limits": {"cpu": "500m"}}, {"num-cpus": "1"}),
        ({"limits": {"cpu": "2500m"}}, {"num-cpus": "3"}),
        ({"requests": {"cpu": "3"}}, {"num-cpus": "3"}),
        ({"limits": {"cpu": "2"}, "requests": {"cpu": "1"}}, {"num-cpus": "2"}),
        ({"limits": {"cpu": "0"}, "requests": {"cpu": "1500m"}}, {"num-cpus": "2"}),
        ({"limits": {"memory": "2Gi"}}, {"memory": "2147483648"}),
        ({"limits": {"memory": "1e9"}}, {"memory": "1000000000"}),
        ({"limits": {"memory": "512M"}}, {"memory": "512000000"}),
        ({"limits": {"memory": 1073741824}}, {"memory": "1073741824"}),
        # Memory comes from the limit only: a request is no promise of what the pod may use.
        ({"requests": {"memory": "2Gi"}}, {}),
        ({"limits": {"nvidia.com/gpu": "2"}}, {"num-gpus": "2"}),
        ({"limits": {"amd.com/gpu": 1}}, {"num-gpus": "1"}),
        ({"limits": {"nvidia.com/gpu": "0"}}, {}),
        ({"limits": {"nvidia.com/mig-2g.32gb": "1"}}, {"num-gpus": "1"}),
        # KubeRay matches the lowercase suffix only.
        ({"limits": {"example.com/GPU": "1"}}, {}),
        ({"limits": {"google.com/tpu": "4"}}, {}),
        ({}, {}),
    ],
)
def test_resources_from_the_ray_container(resources: dict[str, Any], expected: dict[str, str]) -> None:
    assert container_resource_params({"resources": resources}, "c") == expected


def test_group_resources_override_the_container() -> None:
    group = _worker_with(
        {"limits": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}},
        resources={"CPU": "2", "memory": "3Gi", "TPU": "4", "accel": "500m"},
    )
    cluster = parse(manifest(workers=[group]))
    params = ray_start_params(cluster, cluster.spec.worker_groups()[0])
    assert params["num-cpus"] == "2"
    assert params["memory"] == str(3 * 1024**3)
    assert params["num-gpus"] == "1"  # not in the group's map: still from the container
    assert params["resources"] == """'{"TPU":4,"accel":0.5}'"""


def test_group_gpu_and_custom_resources() -> None:
    assert group_resource_params({"GPU": "1", "custom": "2"}, "g") == {
        "num-gpus": "1",
        "resources": """'{"custom":2}'""",
    }


def test_tpus_join_the_resources_of_ray_start() -> None:
    group = _worker_with({"limits": {"cpu": "1", "google.com/tpu": "4"}, "requests": {"google.com/tpu": "4"}})
    cluster = parse(manifest(workers=[group]))
    assert "--resources='{\"TPU\":4}'" in ray_start_command(cluster, cluster.spec.worker_groups()[0]).split()


def test_the_head_gets_its_accelerators_too() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["template"]["spec"]["containers"][0]["resources"]["limits"]["aws.amazon.com/neuroncore"] = "2"
    assert ray_start_params(parse(manifest(head=head)))["resources"] == """'{"neuron_cores":2}'"""


def _with_accelerators(limits: dict[str, Any], params: dict[str, str]) -> dict[str, str]:
    add_accelerator_resources(params, {"resources": {"limits": limits}}, "c")
    return params


@pytest.mark.parametrize(
    ("limits", "params", "resources"),
    [
        # Merged into the user's resources, rewritten as KubeRay writes JSON.
        ({"google.com/tpu": "4"}, {"resources": """'{"custom": 2.0}'"""}, """'{"TPU":4,"custom":2}'"""),
        ({"google.com/tpu": "4"}, {"resources": '{"custom":1}'}, """'{"TPU":4,"custom":1}'"""),
        ({"google.com/tpu": "500m"}, {}, """'{"TPU":0.5}'"""),
        # Only the first accelerator in sorted order.
        ({"google.com/tpu": "4", "aws.amazon.com/neuroncore": "2"}, {}, """'{"neuron_cores":2}'"""),
        ({"google.com/tpu": "0", "aws.amazon.com/neuroncore": "0"}, {}, None),
        # A user's resources that name an accelerator already are left as written.
        ({"google.com/tpu": "4"}, {"resources": "'{\"neuron_cores\": 1}'"}, "'{\"neuron_cores\": 1}'"),
        ({"google.com/tpu": "4"}, {"resources": "'{\"TPU\": 8}'"}, "'{\"TPU\": 8}'"),
        # So are resources that are not a JSON object of numbers.
        ({"google.com/tpu": "4"}, {"resources": '\'{"TPU": "4"}\''}, '\'{"TPU": "4"}\''),
        ({"google.com/tpu": "4"}, {"resources": "not json"}, "not json"),
        # Other accelerators have flags of their own or none.
        ({"amd.com/gpu": "1", "habana.ai/gaudi": "8"}, {}, None),
    ],
)
def test_accelerator_resources(limits: dict[str, Any], params: dict[str, str], resources: str | None) -> None:
    assert _with_accelerators(limits, params).get("resources") == resources


def test_requests_alone_add_no_accelerator() -> None:
    params: dict[str, str] = {}
    add_accelerator_resources(params, {"resources": {"requests": {"google.com/tpu": "4"}}}, "c")
    assert params == {}


def test_group_resources_and_tpus_merge() -> None:
    group = _worker_with({"limits": {"google.com/tpu": "4"}}, resources={"CPU": "1", "accel": "1"})
    cluster = parse(manifest(workers=[group]))
    params = ray_start_params(cluster, cluster.spec.worker_groups()[0])
    assert params["resources"] == """'{"TPU":4,"accel":1}'"""


@pytest.mark.parametrize(
    ("values", "written"),
    [
        ({"a": 1.0, "B": 0.25}, """'{"B":0.25,"a":1}'"""),
        (
            {"big": 1e21, "tiny": 1.5e-7, "plain": 1e20},
            """'{"big":1e+21,"plain":100000000000000000000,"tiny":1.5e-7}'""",
        ),
        ({"a<b": 1.0}, """'{"a\\u003cb":1}'"""),
    ],
)
def test_custom_resources_are_written_as_kuberay_writes_them(values: dict[str, float], written: str) -> None:
    assert custom_resources_flag(values) == written


def test_group_labels_become_ray_node_labels() -> None:
    group = worker("w", labels={"zone": "a", "example.com/tier": "batch"})
    cluster = parse(manifest(workers=[group]))
    assert (
        ray_start_params(cluster, cluster.spec.worker_groups()[0])["labels"]
        == "example.com/tier=batch,zone=a"
    )


def test_a_bad_quantity_names_the_field() -> None:
    cluster = parse(manifest(workers=[_worker_with({"limits": {"cpu": "lots"}})]))
    with pytest.raises(BuildError, match=r"spec\.workerGroupSpecs\[0\]\.template\.spec\.containers\[0\]"):
        ray_start_params(cluster, cluster.spec.worker_groups()[0])
