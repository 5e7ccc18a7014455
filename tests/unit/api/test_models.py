import pytest
from hypothesis import given
from hypothesis import strategies as st

from kuberay_py.api import (
    HeadGroupSpec,
    RayCluster,
    RayClusterSpec,
    RayClusterStatus,
    RollingUpdate,
    UpgradeStrategy,
    UpgradeType,
    WorkerGroupSpec,
    unsupported_fields,
)
from kuberay_py.api.constants import INT32_MAX

TEMPLATE = {"spec": {"containers": [{"name": "ray", "image": "rayproject/ray:2.60.0"}]}}


def worker(**fields) -> WorkerGroupSpec:
    return WorkerGroupSpec(group_name="g", template=TEMPLATE, **fields)


def cluster(**spec_fields) -> RayCluster:
    spec = RayClusterSpec(head_group_spec=HeadGroupSpec(template=TEMPLATE), **spec_fields)
    return RayCluster(metadata={"name": "c", "namespace": "ns"}, spec=spec)


def test_worker_group_defaults_match_the_crd():
    group = worker()
    assert (group.replicas, group.min_replicas, group.max_replicas, group.num_of_hosts) == (
        0,
        0,
        INT32_MAX,
        1,
    )
    assert group.desired_pods() == 0
    assert group.workers_to_delete == []


@pytest.mark.parametrize(
    ("replicas", "minimum", "maximum", "hosts", "pods"),
    [
        (3, 1, 10, 1, 3),
        (0, 2, 10, 1, 2),  # raised to minReplicas
        (12, 0, 10, 1, 10),  # capped at maxReplicas
        (2, 0, 10, 4, 8),  # numOfHosts pods per replica
        (5, 0, 0, 1, 0),
    ],
)
def test_desired_pods_clamps_replicas_then_multiplies_by_hosts(replicas, minimum, maximum, hosts, pods):
    group = worker(replicas=replicas, min_replicas=minimum, max_replicas=maximum, num_of_hosts=hosts)
    assert group.desired_pods() == pods


def test_a_suspended_group_wants_no_pods():
    assert worker(replicas=3, suspend=True).desired_pods() == 0


@given(
    replicas=st.integers(0, 1000),
    minimum=st.integers(0, 1000),
    spread=st.integers(0, 1000),
    hosts=st.integers(1, 8),
)
def test_desired_pods_stays_within_the_group_bounds(replicas, minimum, spread, hosts):
    group = worker(replicas=replicas, min_replicas=minimum, max_replicas=minimum + spread, num_of_hosts=hosts)
    pods = group.desired_pods()
    assert minimum * hosts <= pods <= (minimum + spread) * hosts
    assert pods % hosts == 0
    if minimum <= replicas <= minimum + spread:
        assert pods == replicas * hosts


def test_workers_to_delete_reads_the_scale_strategy():
    group = WorkerGroupSpec.from_dict(
        {"groupName": "g", "template": TEMPLATE, "scaleStrategy": {"workersToDelete": ["a", "b"]}}
    )
    assert group.workers_to_delete == ["a", "b"]


def test_models_are_built_by_python_name_and_dumped_by_json_name():
    rc = cluster(worker_group_specs=[worker(replicas=2, num_of_hosts=2)], enable_in_tree_autoscaling=True)
    manifest = rc.to_manifest()
    assert manifest["apiVersion"] == "ray.io/v1"
    assert manifest["kind"] == "RayCluster"
    assert manifest["metadata"] == {"name": "c", "namespace": "ns"}
    assert manifest["spec"]["enableInTreeAutoscaling"] is True
    # Only what was set: no defaults appear.
    assert manifest["spec"]["workerGroupSpecs"] == [
        {"groupName": "g", "template": TEMPLATE, "replicas": 2, "numOfHosts": 2}
    ]
    assert RayCluster.from_manifest(manifest).to_manifest() == manifest


def test_assigning_a_field_makes_it_part_of_the_manifest():
    rc = cluster(worker_group_specs=[worker()])
    rc.spec.worker_groups()[0].replicas = 4
    assert rc.to_manifest()["spec"]["workerGroupSpecs"][0]["replicas"] == 4


def test_status_uses_kuberay_field_names():
    status = RayClusterStatus.from_dict(
        {
            "desiredCPU": "3",
            "desiredGPU": 1,
            "desiredTPU": "0",
            "head": {"podIP": "10.0.0.2", "serviceIP": "10.1.0.1"},
        }
    )
    assert status.desired_cpu == "3"
    assert status.desired_gpu == 1
    assert (
        status.head is not None and status.head.pod_ip == "10.0.0.2" and status.head.service_ip == "10.1.0.1"
    )
    assert status.to_dict()["head"] == {"podIP": "10.0.0.2", "serviceIP": "10.1.0.1"}


def test_cluster_accessors():
    rc = cluster(
        worker_group_specs=[
            worker(replicas=2),
            WorkerGroupSpec(group_name="h", template=TEMPLATE, replicas=1),
        ]
    )
    assert rc.name == "c" and rc.namespace == "ns"
    assert rc.spec.worker_group("h") is not None
    assert rc.spec.worker_group("missing") is None
    assert rc.spec.desired_worker_pods() == 3
    assert not rc.spec.autoscaling_enabled()
    assert rc.spec.head_group_spec.ray_container() == TEMPLATE["spec"]["containers"][0]
    assert rc.spec.head_group_spec.start_params() == {}
    rc.spec.suspend = True
    assert rc.spec.desired_worker_pods() == 0


def test_a_group_without_containers_has_no_ray_container():
    assert HeadGroupSpec(template={}).ray_container() is None
    assert HeadGroupSpec(template={"spec": {"containers": "nonsense"}}).containers() == []


def test_no_upgrade_strategy_leaves_running_pods_alone_like_kuberay():
    strategy = cluster().spec.effective_upgrade_strategy()
    assert strategy.type == UpgradeType.NONE
    assert strategy.rolling_update is None


def test_rolling_update_settings_alone_mean_rolling_update_one_at_a_time():
    manifest = cluster().to_manifest()
    manifest["spec"]["upgradeStrategy"] = {"rollingUpdate": {}}
    strategy = RayCluster.from_manifest(manifest).spec.effective_upgrade_strategy()
    assert strategy.type == UpgradeType.ROLLING_UPDATE
    assert strategy.rolling_update is not None and strategy.rolling_update.max_unavailable == 1


def test_upgrade_strategy_none_and_recreate_have_no_rolling_settings():
    for kind in ("None", "Recreate"):
        strategy = cluster(upgrade_strategy=UpgradeStrategy(type=kind)).spec.effective_upgrade_strategy()
        assert strategy.type == kind
        assert strategy.rolling_update is None


@pytest.mark.parametrize(
    ("max_unavailable", "desired", "expected"),
    [(1, 10, 1), (3, 10, 3), ("25%", 10, 2), ("25%", 3, 1), ("100%", 7, 7), ("10%", 0, 1)],
)
def test_max_unavailable_resolves_counts_and_percentages(max_unavailable, desired, expected):
    assert RollingUpdate(max_unavailable=max_unavailable).max_unavailable_pods(desired) == expected


def test_unsupported_fields_names_each_field_set():
    rc = RayCluster.from_manifest(
        {
            "metadata": {
                "name": "c",
                "labels": {"ray.io/scheduler-name": "volcano"},
                "annotations": {"ray.io/enable-serve-service": "true"},
            },
            "spec": {
                "gcsFaultToleranceOptions": {"redisAddress": "redis:6379"},
                "authOptions": {"mode": "token"},
                "tlsOptions": {"enabled": True},
                "networkPolicy": {"mode": "DenyAll"},
                "headGroupSpec": {"template": TEMPLATE, "enableIngress": True, "replicas": 1},
            },
        }
    )
    assert unsupported_fields(rc) == [
        "spec.tlsOptions",
        "spec.networkPolicy",
        "spec.headGroupSpec.enableIngress",
        "spec.headGroupSpec.replicas",
        'metadata.labels["ray.io/scheduler-name"]',
        'metadata.annotations["ray.io/enable-serve-service"]',
    ]


def test_a_plain_cluster_sets_no_unsupported_field():
    rc = cluster(worker_group_specs=[worker()])
    rc.spec.head_group_spec.enable_ingress = False
    assert unsupported_fields(rc) == []
