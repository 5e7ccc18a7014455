"""Head and worker pods: what the operator adds, and that whatever the user set wins over it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kuberay_py.api import RayCluster
from kuberay_py.builders import (
    BuildError,
    BuildOptions,
    HostSlot,
    build_head_pod,
    build_worker_pod,
    ray_start_command,
)
from tests.unit.builders.support import container, env_of, manifest, parse, ray_container, worker

UID = "7d7e3d6c-3f0a-4c55-9d47-1a1b2c3d4e5f"


def _head(**ray_fields: Any) -> dict[str, Any]:
    """A head group whose Ray container has `ray_fields` on top of the defaults."""
    fields = {"resources": {"limits": {"cpu": "1", "memory": "2Gi"}}, **ray_fields}
    return {"template": {"spec": {"containers": [container("ray-head", **fields)]}}}


def _head_pod(head: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return build_head_pod(parse(manifest(head=head, **spec)))


def _worker_pod(group: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    cluster = parse(manifest(workers=[group or worker()], **spec))
    return build_worker_pod(cluster, cluster.spec.worker_groups()[0])


# -- metadata ---------------------------------------------------------------------------------------------


def test_head_pod_metadata() -> None:
    pod = _head_pod()
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
    metadata = pod["metadata"]
    assert metadata["generateName"] == "demo-head-"
    assert "name" not in metadata
    assert metadata["namespace"] == "ml"
    assert metadata["labels"] == {
        "ray.io/cluster": "demo",
        "ray.io/node-type": "head",
        "ray.io/group": "headgroup",
        "ray.io/is-ray-node": "yes",
        "ray.io/identifier": "demo-head",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    assert "ownerReferences" not in metadata


def test_worker_pod_metadata() -> None:
    metadata = _worker_pod(worker("small"))["metadata"]
    assert metadata["generateName"] == "demo-small-worker-"
    labels = metadata["labels"]
    assert (labels["ray.io/cluster"], labels["ray.io/node-type"], labels["ray.io/group"]) == (
        "demo",
        "worker",
        "small",
    )
    assert labels["ray.io/identifier"] == "demo-worker"


def test_a_cluster_without_namespace_is_built_in_the_default_one() -> None:
    cluster = parse(manifest(namespace=None, workers=[worker()]))
    pod = build_worker_pod(cluster, cluster.spec.worker_groups()[0], BuildOptions(default_namespace="team-a"))
    assert pod["metadata"]["namespace"] == "team-a"
    assert env_of(ray_container(pod))["FQ_RAY_IP"] == "demo-head-svc.team-a.svc.cluster.local"


def test_owner_reference_when_the_cluster_has_a_uid() -> None:
    raw = manifest(workers=[worker()])
    raw["metadata"]["uid"] = UID
    cluster = parse(raw)
    expected = [
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "name": "demo",
            "uid": UID,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert build_head_pod(cluster)["metadata"]["ownerReferences"] == expected
    assert (
        build_worker_pod(cluster, cluster.spec.worker_groups()[0])["metadata"]["ownerReferences"] == expected
    )


def test_user_labels_are_added_but_cannot_override_cluster_node_type_or_group() -> None:
    group = worker("small", labels={"example.com/tier": "batch"})
    group["template"]["metadata"] = {
        "labels": {
            "team": "ml",
            "ray.io/cluster": "other",
            "ray.io/node-type": "head",
            "ray.io/group": "big",
            "app.kubernetes.io/name": "my-app",
        },
        "name": "ignored",
        "annotations": {"example.com/note": "kept"},
    }
    metadata = _worker_pod(group)["metadata"]
    labels = metadata["labels"]
    assert labels["team"] == "ml" and labels["example.com/tier"] == "batch"
    assert labels["app.kubernetes.io/name"] == "my-app"
    assert (labels["ray.io/cluster"], labels["ray.io/node-type"], labels["ray.io/group"]) == (
        "demo",
        "worker",
        "small",
    )
    assert "name" not in metadata
    assert metadata["annotations"]["example.com/note"] == "kept"


@pytest.mark.parametrize(
    ("annotations", "gcs_options", "expected"),
    [
        ({}, None, "false"),
        ({"ray.io/ft-enabled": "True"}, None, "true"),
        ({"ray.io/ft-enabled": "no"}, None, "false"),
        ({}, {"redisAddress": "redis:6379"}, "true"),
    ],
)
def test_the_head_pod_says_whether_gcs_fault_tolerance_is_requested(
    annotations: dict[str, str], gcs_options: dict[str, Any] | None, expected: str
) -> None:
    raw = manifest(workers=[worker()])
    raw["metadata"]["annotations"] = annotations
    if annotations.get("ray.io/ft-enabled") == "True":
        head_container = raw["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
        head_container["env"] = [{"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}]
    if gcs_options is not None:
        raw["spec"]["gcsFaultToleranceOptions"] = gcs_options
    cluster = parse(raw)
    assert build_head_pod(cluster)["metadata"]["annotations"]["ray.io/ft-enabled"] == expected
    worker_annotations = build_worker_pod(cluster, cluster.spec.worker_groups()[0])["metadata"]["annotations"]
    assert "ray.io/ft-enabled" not in worker_annotations


def test_the_ft_enabled_annotation_of_the_head_template_is_replaced() -> None:
    head = _head()
    head["template"]["metadata"] = {"annotations": {"ray.io/ft-enabled": "true", "example.com/note": "kept"}}
    annotations = _head_pod(head)["metadata"]["annotations"]
    assert annotations["ray.io/ft-enabled"] == "false" and annotations["example.com/note"] == "kept"


def test_multi_host_pods_carry_their_replica_and_host_index() -> None:
    cluster = parse(manifest(workers=[worker("tpu", numOfHosts=4)]))
    group = cluster.spec.worker_groups()[0]
    pods = [build_worker_pod(cluster, group, host=HostSlot("tpu-x7k2p", index)) for index in range(4)]
    assert [p["metadata"]["labels"]["ray.io/replica-host-index"] for p in pods] == ["0", "1", "2", "3"]
    assert {p["metadata"]["labels"]["ray.io/worker-group-replica-name"] for p in pods} == {"tpu-x7k2p"}
    # Hosts of one template share one template hash.
    assert len({p["metadata"]["annotations"]["kuberay-py.io/template-hash"] for p in pods}) == 1
    with pytest.raises(BuildError, match="numOfHosts 4"):
        build_worker_pod(cluster, group)


def test_single_host_pods_have_no_replica_labels() -> None:
    labels = _worker_pod()["metadata"]["labels"]
    assert "ray.io/worker-group-replica-name" not in labels
    assert "ray.io/replica-host-index" not in labels


# -- environment ------------------------------------------------------------------------------------------


def test_head_environment() -> None:
    pod = _head_pod()
    env = env_of(ray_container(pod))
    assert env["RAY_CLUSTER_NAME"] == {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}}
    assert env["RAY_CLUSTER_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["RAY_CLOUD_INSTANCE_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["RAY_NODE_TYPE_NAME"] == {"fieldRef": {"fieldPath": "metadata.labels['ray.io/group']"}}
    assert env["RAY_PORT"] == "6379"
    assert env["RAY_ADDRESS"] == "127.0.0.1:6379"
    assert env["RAY_USAGE_STATS_KUBERAY_IN_USE"] == "1"
    assert env["KUBERAY_GEN_RAY_START_CMD"] == ray_start_command(parse(manifest()))
    assert env["RAY_USAGE_STATS_EXTRA_TAGS"] == "kuberay_version=v1.5.0;kuberay_crd=RayCluster"
    assert env["RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"] == "1"
    assert "FQ_RAY_IP" not in env and "RAY_IP" not in env


def test_worker_environment() -> None:
    env = env_of(ray_container(_worker_pod()))
    assert env["FQ_RAY_IP"] == "demo-head-svc.ml.svc.cluster.local"
    assert env["RAY_IP"] == "demo-head-svc"
    assert env["RAY_ADDRESS"] == "demo-head-svc.ml.svc.cluster.local:6379"
    assert env["RAY_PORT"] == "6379"
    assert env["KUBERAY_GEN_RAY_START_CMD"].startswith(
        "ray start --address=demo-head-svc.ml.svc.cluster.local:6379"
    )
    # The usage stats tags are the head's only.
    assert env["RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"] == "1"
    assert "RAY_USAGE_STATS_EXTRA_TAGS" not in env


def test_usage_stats_name_the_kind_that_made_the_cluster() -> None:
    for creator, tagged in (("RayJob", "RayJob"), ("RayService", "RayService"), ("Other", "RayCluster")):
        raw = manifest()
        raw["metadata"]["labels"] = {"ray.io/originated-from-crd": creator}
        env = env_of(ray_container(build_head_pod(parse(raw))))
        assert env["RAY_USAGE_STATS_EXTRA_TAGS"] == f"kuberay_version=v1.5.0;kuberay_crd={tagged}"


def test_user_env_values_win() -> None:
    user = {
        "RAY_ADDRESS": "auto",
        "RAY_PORT": "7000",
        "RAY_USAGE_STATS_KUBERAY_IN_USE": "0",
        "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE": "0",
        "RAY_CLUSTER_NAMESPACE": "elsewhere",
        "EXTRA": "x",
    }
    env = env_of(ray_container(_head_pod(_head(env=[{"name": k, "value": v} for k, v in user.items()]))))
    assert {name: env[name] for name in user} == user


def test_the_operators_values_win_where_kuberay_sets_them_regardless() -> None:
    names = (
        "RAY_CLUSTER_NAME",
        "RAY_CLOUD_INSTANCE_ID",
        "RAY_NODE_TYPE_NAME",
        "KUBERAY_GEN_RAY_START_CMD",
        "RAY_USAGE_STATS_EXTRA_TAGS",
        "FQ_RAY_IP",
    )
    user_env = [{"name": name, "value": "mine"} for name in names]
    head = env_of(ray_container(_head_pod(_head(env=user_env))))
    for name in ("RAY_CLUSTER_NAME", "RAY_CLOUD_INSTANCE_ID", "RAY_NODE_TYPE_NAME"):
        assert head[name] != "mine" and "fieldRef" in head[name]
    assert head["KUBERAY_GEN_RAY_START_CMD"].startswith("ray start --head")
    assert head["RAY_USAGE_STATS_EXTRA_TAGS"].startswith("kuberay_version=")
    # Injected only on workers: the head keeps the user's own.
    assert head["FQ_RAY_IP"] == "mine"
    group = worker("small")
    group["template"]["spec"]["containers"][0]["env"] = user_env
    assert env_of(ray_container(_worker_pod(group)))["FQ_RAY_IP"] == "demo-head-svc.ml.svc.cluster.local"


def test_injected_variables_come_before_the_users_so_they_can_refer_to_them() -> None:
    names = [
        v["name"] for v in ray_container(_head_pod(_head(env=[{"name": "A", "value": "$(RAY_PORT)"}])))["env"]
    ]
    assert names.index("RAY_PORT") < names.index("A")


@pytest.mark.parametrize(("version", "value"), [("v2", "true"), ("v1", "0")])
def test_autoscaler_version_sets_the_heads_variable(version: str, value: str) -> None:
    pod = _head_pod(enableInTreeAutoscaling=True, autoscalerOptions={"version": version})
    assert env_of(ray_container(pod))["RAY_enable_autoscaler_v2"] == value


def test_no_autoscaler_version_variable_when_unset() -> None:
    pod = _head_pod(enableInTreeAutoscaling=True)
    assert "RAY_enable_autoscaler_v2" not in env_of(ray_container(pod))


# -- command ----------------------------------------------------------------------------------------------


def test_generated_command_runs_under_bash_with_a_raised_file_limit() -> None:
    ray = ray_container(_head_pod())
    assert ray["command"] == ["/bin/bash", "-c", "--"]
    assert ray["args"] == [f"ulimit -n 65536; {ray_start_command(parse(manifest()))}"]


def test_user_command_runs_first() -> None:
    ray = ray_container(_head_pod(_head(command=["pip", "install"], args=["my-lib"])))
    assert ray["command"] == ["/bin/bash", "-c", "--"]
    assert ray["args"][0].startswith("pip install my-lib && ulimit -n 65536; ray start --head ")


def test_a_user_command_that_runs_ray_start_is_left_alone() -> None:
    user = {"command": ["/bin/bash", "-lc", "--"], "args": ["ray  start --head --block --num-cpus=2"]}
    ray = ray_container(_head_pod(_head(**user)))
    assert (ray["command"], ray["args"]) == (user["command"], user["args"])


def test_overwrite_annotation_leaves_the_command_alone_but_still_provides_it() -> None:
    raw = manifest(head=_head(command=["my-entrypoint"]))
    raw["metadata"]["annotations"] = {"ray.io/overwrite-container-cmd": "true"}
    ray = ray_container(build_head_pod(parse(raw)))
    assert ray["command"] == ["my-entrypoint"] and "args" not in ray
    assert env_of(ray)["KUBERAY_GEN_RAY_START_CMD"].startswith("ray start --head")


def test_the_overwrite_annotation_is_copied_onto_every_pod() -> None:
    raw = manifest(workers=[worker()])
    raw["metadata"]["annotations"] = {"ray.io/overwrite-container-cmd": "TRUE", "example.com/other": "x"}
    cluster = parse(raw)
    for pod in (build_head_pod(cluster), build_worker_pod(cluster, cluster.spec.worker_groups()[0])):
        annotations = pod["metadata"]["annotations"]
        # Only this one of the RayCluster's annotations, as KubeRay copies it.
        assert annotations["ray.io/overwrite-container-cmd"] == "true"
        assert "example.com/other" not in annotations
    assert "ray.io/overwrite-container-cmd" not in _worker_pod()["metadata"]["annotations"]


def test_the_overwrite_annotation_of_a_template_keeps_its_command() -> None:
    group = worker("w")
    group["template"]["metadata"] = {"annotations": {"ray.io/overwrite-container-cmd": "true"}}
    group["template"]["spec"]["containers"][0]["command"] = ["my-entrypoint"]
    pod = _worker_pod(group)
    assert ray_container(pod)["command"] == ["my-entrypoint"] and "args" not in ray_container(pod)
    assert pod["metadata"]["annotations"]["ray.io/overwrite-container-cmd"] == "true"


# -- ports, volumes, probes, hooks ------------------------------------------------------------------------


def test_metrics_port_is_added_once() -> None:
    assert ray_container(_head_pod())["ports"] == [
        {"name": "metrics", "containerPort": 8080, "protocol": "TCP"}
    ]
    declared = [{"name": "prom", "containerPort": 8080}]
    assert ray_container(_head_pod(_head(ports=declared)))["ports"] == declared


def test_shared_memory_is_sized_to_the_memory_limit_else_the_request() -> None:
    pod = _head_pod()
    assert {"name": "shared-mem", "mountPath": "/dev/shm"} in ray_container(pod)["volumeMounts"]
    assert {"name": "shared-mem", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} in pod["spec"][
        "volumes"
    ]

    requested = _head_pod(_head(resources={"requests": {"memory": "3Gi"}}))
    assert requested["spec"]["volumes"][0]["emptyDir"] == {"medium": "Memory", "sizeLimit": "3Gi"}
    unsized = _head_pod(_head(resources={"limits": {"cpu": "1"}}))
    assert unsized["spec"]["volumes"][0]["emptyDir"] == {"medium": "Memory"}


def test_a_user_mount_at_dev_shm_wins() -> None:
    head = _head(volumeMounts=[{"name": "shm", "mountPath": "/dev/shm/"}])
    head["template"]["spec"]["volumes"] = [
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}
    ]
    pod = _head_pod(head)
    assert pod["spec"]["volumes"] == head["template"]["spec"]["volumes"]
    assert ray_container(pod)["volumeMounts"] == [{"name": "shm", "mountPath": "/dev/shm/"}]


def test_an_unrelated_volume_named_shared_mem_keeps_its_name() -> None:
    head = _head(volumeMounts=[{"name": "shared-mem", "mountPath": "/data"}])
    head["template"]["spec"]["volumes"] = [{"name": "shared-mem", "emptyDir": {}}]
    pod = _head_pod(head)
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["shared-mem", "shared-mem-2"]
    assert {"name": "shared-mem-2", "mountPath": "/dev/shm"} in ray_container(pod)["volumeMounts"]


def test_probes_ask_the_dashboard_agent() -> None:
    ray = ray_container(_head_pod())
    assert ray["readinessProbe"]["httpGet"] == {"path": "/api/healthz", "port": 52365}
    assert ray["readinessProbe"]["failureThreshold"] == 10
    assert ray["livenessProbe"]["httpGet"] == {"path": "/api/healthz", "port": 52365}
    assert ray["livenessProbe"]["failureThreshold"] == 120


def test_head_probes_wait_longer_than_worker_probes() -> None:
    head = ray_container(_head_pod())
    worker_ray = ray_container(_worker_pod())
    for probe in ("readinessProbe", "livenessProbe"):
        assert head[probe]["timeoutSeconds"] == 5
        assert worker_ray[probe]["timeoutSeconds"] == 2


@pytest.mark.parametrize("version", ["2.52.0", "2.9.3", None])
def test_older_or_unknown_ray_versions_get_exec_probes(version: str | None) -> None:
    raw = manifest(workers=[worker()])
    if version is None:
        del raw["spec"]["rayVersion"]
    else:
        raw["spec"]["rayVersion"] = version
    cluster = parse(raw)
    head_check = ray_container(build_head_pod(cluster))["readinessProbe"]["exec"]["command"][-1]
    worker_check = ray_container(build_worker_pod(cluster, cluster.spec.worker_groups()[0]))["livenessProbe"]
    assert "52365/api/local_raylet_healthz" in head_check and "8265/api/gcs_healthz" in head_check
    assert "gcs_healthz" not in worker_check["exec"]["command"][-1]
    assert worker_check["failureThreshold"] == 120


def test_user_probes_win_one_by_one() -> None:
    readiness = {"exec": {"command": ["true"]}, "failureThreshold": 3}
    ray = ray_container(_head_pod(_head(readinessProbe=readiness)))
    assert ray["readinessProbe"] == readiness
    assert ray["livenessProbe"]["httpGet"]["path"] == "/api/healthz"


def test_ray_stop_before_the_container_stops() -> None:
    ray = ray_container(_head_pod(_head(lifecycle={"postStart": {"exec": {"command": ["echo"]}}})))
    assert ray["lifecycle"] == {
        "postStart": {"exec": {"command": ["echo"]}},
        "preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}},
    }


def test_user_pre_stop_wins() -> None:
    hook = {"preStop": {"exec": {"command": ["sleep", "30"]}}}
    assert ray_container(_head_pod(_head(lifecycle=hook)))["lifecycle"] == hook


def test_sidecars_are_left_as_written() -> None:
    sidecar = {"name": "fluent-bit", "image": "fluent/fluent-bit:3.0"}
    head = _head()
    head["template"]["spec"]["containers"].append(copy.deepcopy(sidecar))
    assert _head_pod(head)["spec"]["containers"][1] == sidecar


# -- init container ---------------------------------------------------------------------------------------


def test_workers_wait_for_the_head() -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    group = worker("small")
    group["template"]["spec"]["containers"][0].update(
        env=env,
        imagePullPolicy="Always",
        securityContext={"runAsUser": 1000},
        volumeMounts=[{"name": "certs", "mountPath": "/certs"}],
    )
    group["template"]["spec"]["volumes"] = [{"name": "certs", "secret": {"secretName": "certs"}}]
    group["template"]["spec"]["initContainers"] = [{"name": "fetch", "image": "busybox"}]
    pod = _worker_pod(group)
    first, wait = pod["spec"]["initContainers"]
    assert first["name"] == "fetch"
    assert wait["name"] == "wait-gcs-ready"
    assert wait["image"] == ray_container(pod)["image"]
    assert wait["imagePullPolicy"] == "Always" and wait["securityContext"] == {"runAsUser": 1000}
    assert "ray health-check --address demo-head-svc.ml.svc.cluster.local:6379" in wait["args"][0]
    # The user's variables and the head's address, as KubeRay gives every init container.
    assert wait["env"] == [
        {"name": "FQ_RAY_IP", "value": "demo-head-svc.ml.svc.cluster.local"},
        {"name": "RAY_IP", "value": "demo-head-svc"},
        *env,
    ]
    assert first["env"] == wait["env"][:2]
    assert wait["volumeMounts"] == [{"name": "certs", "mountPath": "/certs"}]
    assert wait["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "200m", "memory": "256Mi"},
    }
    assert "initContainers" not in _head_pod()["spec"]


def test_the_heads_own_init_containers_get_the_heads_address() -> None:
    head = _head()
    head["template"]["spec"]["initContainers"] = [
        {"name": "certs", "image": "busybox", "env": [{"name": "RAY_IP", "value": "mine"}]}
    ]
    (init,) = _head_pod(head)["spec"]["initContainers"]
    assert env_of(init) == {"FQ_RAY_IP": "demo-head-svc.ml.svc.cluster.local", "RAY_IP": "demo-head-svc"}


def test_a_users_own_wait_container_is_kept() -> None:
    group = worker("small")
    own = {"name": "wait-gcs-ready", "image": "busybox", "command": ["sleep", "10"]}
    group["template"]["spec"]["initContainers"] = [own]
    (kept,) = _worker_pod(group)["spec"]["initContainers"]
    assert kept == {**own, "env": kept["env"]}
    assert set(env_of(kept)) == {"FQ_RAY_IP", "RAY_IP"}


# -- restart policy and errors ----------------------------------------------------------------------------


def test_autoscaler_v2_pods_never_restart_in_place() -> None:
    raw = manifest(workers=[worker()], enableInTreeAutoscaling=True, autoscalerOptions={"version": "v2"})
    cluster = parse(raw)
    assert build_head_pod(cluster)["spec"]["restartPolicy"] == "Never"
    assert build_worker_pod(cluster, cluster.spec.worker_groups()[0])["spec"]["restartPolicy"] == "Never"
    assert (
        "restartPolicy"
        not in _head_pod(enableInTreeAutoscaling=True, autoscalerOptions={"version": "v1"})["spec"]
    )
    assert "restartPolicy" not in _head_pod()["spec"]


def test_a_ray_version_that_runs_the_autoscaler_v2_by_itself_changes_no_restart_policy() -> None:
    # As KubeRay: only an explicit autoscalerOptions.version v2 makes pods Never restart.
    raw = manifest(workers=[worker()], enableInTreeAutoscaling=True)
    cluster = parse(raw)
    head = build_head_pod(cluster)
    assert "restartPolicy" not in head["spec"]
    assert "restartPolicy" not in build_worker_pod(cluster, cluster.spec.worker_groups()[0])["spec"]
    assert "RAY_enable_autoscaler_v2" not in env_of(ray_container(head))
    env = [{"name": "RAY_enable_autoscaler_v2", "value": "1"}]
    assert "restartPolicy" not in _head_pod(_head(env=env), enableInTreeAutoscaling=True)["spec"]


def test_a_template_without_containers_is_a_clear_error() -> None:
    raw = manifest()
    raw["spec"]["headGroupSpec"]["template"] = {"spec": {"containers": []}}
    with pytest.raises(BuildError, match=r"spec\.headGroupSpec\.template\.spec\.containers"):
        build_head_pod(RayCluster.from_manifest(raw))


def test_building_does_not_change_the_cluster() -> None:
    raw = manifest(workers=[worker()], enableInTreeAutoscaling=True)
    cluster = parse(raw)
    before = cluster.to_manifest()
    build_head_pod(cluster)
    build_worker_pod(cluster, cluster.spec.worker_groups()[0])
    assert cluster.to_manifest() == before


def test_building_is_deterministic() -> None:
    cluster = parse(manifest(workers=[worker()], enableInTreeAutoscaling=True))
    assert build_head_pod(cluster) == build_head_pod(cluster)
