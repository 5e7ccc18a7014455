"""Ray pods: the group's template plus what Ray on Kubernetes needs, never replacing what the user set."""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kuberay_py.api import RayCluster, WorkerGroupSpec
from kuberay_py.api.constants import FT_ENABLED_ANNOTATION
from kuberay_py.builders import ports
from kuberay_py.builders.addresses import head_address
from kuberay_py.builders.auth import add_auth, k8s_token_auth
from kuberay_py.builders.autoscaler import CONTAINER_NAME as AUTOSCALER_CONTAINER
from kuberay_py.builders.autoscaler import autoscaler_v2, build_autoscaler_container
from kuberay_py.builders.command import (
    OVERWRITE_COMMAND_ANNOTATION,
    format_ray_start,
    overwrites_command,
    set_start_command,
    start_params_of,
)
from kuberay_py.builders.env import OPERATOR_OWNED, init_container_env, merge_env, ray_env
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.faulttolerance import fault_tolerance_annotations, fault_tolerance_env
from kuberay_py.builders.hashing import group_template_hash, stamp_template_hash
from kuberay_py.builders.labels import HOST_INDEX_LABEL, REPLICA_NAME_LABEL, pod_labels
from kuberay_py.builders.loose_json import as_dict
from kuberay_py.builders.names import (
    autoscaler_service_account_name,
    free_name,
    head_pod_prefix,
    label_value,
    worker_pod_prefix,
)
from kuberay_py.builders.node_groups import NodeGroup, head_group, worker_group
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.ownership import object_metadata
from kuberay_py.builders.probes import add_default_probes
from kuberay_py.builders.template_checks import check_template
from kuberay_py.builders.volumes import add_shared_memory, share_ray_logs, token_for_one_container
from kuberay_py.builders.wait_for_head import CONTAINER_NAME as WAIT_FOR_HEAD
from kuberay_py.builders.wait_for_head import add_wait_for_head

RAY_STOP_HOOK: Final = {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}


@dataclass(frozen=True)
class HostSlot:
    """Where a pod sits in a multi-host replica of a group with numOfHosts > 1.

    `replica_name` is shared by the replica's pods (see `names.replica_name`); `host_index` runs from 0 to
    numOfHosts - 1.
    """

    replica_name: str
    host_index: int


def _require_name(cluster: RayCluster) -> None:
    if not cluster.name:
        raise BuildError("metadata.name: the RayCluster has no name")


def _template_spec(group: NodeGroup, template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The template's pod spec and its Ray container (the first), or a clear error."""
    check_template(template, f"{group.path}.template")
    spec = template.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(containers, list) or not containers:
        raise BuildError(f"{group.path}.template.spec.containers: the pod template has no containers")
    ray = containers[0]
    if not isinstance(ray, dict) or not ray.get("image"):
        raise BuildError(f"{group.path}.template.spec.containers[0].image: the Ray container has no image")
    return spec, ray


def _add_metrics_port(container: dict[str, Any]) -> None:
    declared = [p for p in container.get("ports") or [] if isinstance(p, Mapping)]
    if any(
        p.get("name") == ports.METRICS_PORT_NAME or p.get("containerPort") == ports.METRICS_PORT
        for p in declared
    ):
        return
    metrics = {"name": ports.METRICS_PORT_NAME, "containerPort": ports.METRICS_PORT, "protocol": "TCP"}
    container["ports"] = [*(container.get("ports") or []), metrics]


def _add_ray_stop_hook(container: dict[str, Any]) -> None:
    """`ray stop` before the container is stopped, so that Ray leaves the cluster cleanly."""
    lifecycle = dict(container.get("lifecycle") or {})
    if lifecycle.get("preStop"):
        return
    lifecycle["preStop"] = copy.deepcopy(RAY_STOP_HOOK)
    container["lifecycle"] = lifecycle


def _add_init_container_env(cluster: RayCluster, options: BuildOptions, pod_spec: dict[str, Any]) -> None:
    """The head's address in every init container, the user's own included."""
    for init in pod_spec.get("initContainers") or []:
        if isinstance(init, dict):
            injected = init_container_env(cluster, options)
            init["env"] = merge_env(init.get("env") or [], injected, OPERATOR_OWNED)


def _pod_annotations(
    cluster: RayCluster, group: NodeGroup, template_metadata: Mapping[str, Any]
) -> dict[str, str]:
    """The template's annotations with KubeRay's: `ray.io/overwrite-container-cmd` copied from the RayCluster,
    and on the head `ray.io/ft-enabled` and the fault-tolerant head's storage namespace. KubeRay's values
    replace the template's."""
    annotations = dict(as_dict(template_metadata.get("annotations")))
    if overwrites_command(cluster):
        annotations[OVERWRITE_COMMAND_ANNOTATION] = "true"
    if group.is_head:
        annotations[FT_ENABLED_ANNOTATION] = str(cluster.fault_tolerance_enabled()).lower()
    annotations.update(fault_tolerance_annotations(cluster, group))
    return annotations


def _prepare_ray_container(
    cluster: RayCluster,
    group: NodeGroup,
    options: BuildOptions,
    pod_spec: dict[str, Any],
    ray: dict[str, Any],
    annotations: Mapping[str, str],
) -> None:
    start_command = format_ray_start(start_params_of(cluster, group, options), head=group.is_head)
    injected = ray_env(cluster, group, options, start_command) + fault_tolerance_env(cluster, group)
    ray["env"] = merge_env(ray.get("env") or [], injected, OPERATOR_OWNED)
    # Read from the pod's annotations, as KubeRay reads it: the template may ask for it too.
    keep = str(annotations.get(OVERWRITE_COMMAND_ANNOTATION, "")).lower() == "true"
    set_start_command(ray, start_command, keep_user_command=keep)
    _add_metrics_port(ray)
    add_shared_memory(pod_spec, ray)
    add_default_probes(ray, cluster.spec.ray_version, group.is_head)
    _add_ray_stop_hook(ray)


def _build_pod(
    cluster: RayCluster,
    group: NodeGroup,
    options: BuildOptions,
    generate_name: str,
    placement_labels: Mapping[str, str],
    worker_spec: WorkerGroupSpec | None = None,
) -> dict[str, Any]:
    _require_name(cluster)
    template = copy.deepcopy(group.spec.template)
    pod_spec, ray = _template_spec(group, template)
    # The init container that waits for the head runs with the Ray container as the user wrote it.
    users_ray = copy.deepcopy(ray)
    template_metadata = as_dict(template.get("metadata"))
    annotations = _pod_annotations(cluster, group, template_metadata)
    _prepare_ray_container(cluster, group, options, pod_spec, ray, annotations)

    ray_processes = [ray]
    if group.is_head and cluster.spec.autoscaling_enabled():
        logs_mount = share_ray_logs(pod_spec, ray)
        containers = pod_spec["containers"]
        name = free_name(containers, AUTOSCALER_CONTAINER)
        autoscaler = build_autoscaler_container(cluster, ray, logs_mount, name)
        containers.append(autoscaler)
        ray_processes.append(autoscaler)
        pod_spec["serviceAccountName"] = autoscaler_service_account_name(cluster)
        if not k8s_token_auth(cluster):
            # Under Kubernetes token auth Ray itself reviews tokens with the pod's ServiceAccount.
            token_for_one_container(pod_spec, autoscaler)
    if not group.is_head:
        add_wait_for_head(pod_spec, users_ray, head_address(cluster, options))
        ray_processes += [c for c in pod_spec["initContainers"] if c.get("name") == WAIT_FOR_HEAD]
    add_auth(cluster, pod_spec, ray_processes)
    _add_init_container_env(cluster, options, pod_spec)
    if autoscaler_v2(cluster) and not pod_spec.get("restartPolicy"):
        # The autoscaler v2 tracks Ray nodes by pod; a restarted container would be a node it cannot place.
        pod_spec["restartPolicy"] = "Never"

    labels = pod_labels(
        cluster, group.node_type, group.name, as_dict(template_metadata.get("labels")), group.spec.labels
    )
    labels.update(placement_labels)
    metadata = object_metadata(
        cluster, options, generate_name=generate_name, labels=labels, annotations=annotations
    )
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
    return stamp_template_hash(pod, group_template_hash(cluster, worker_spec))


def build_head_pod(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """The head pod (`generateName: <cluster>-head-`), with the autoscaler sidecar when autoscaling is on."""
    return _build_pod(cluster, head_group(cluster), options, head_pod_prefix(cluster), {})


def build_worker_pod(
    cluster: RayCluster,
    group: WorkerGroupSpec,
    options: BuildOptions = DEFAULT_OPTIONS,
    host: HostSlot | None = None,
) -> dict[str, Any]:
    """A worker pod of `group` (`generateName: <cluster>-<group>-worker-`).

    Pods of a group with numOfHosts > 1 belong to a replica: pass `host` to label them with its name and
    their index in it.
    """
    placement: dict[str, str] = {}
    if group.num_of_hosts > 1:
        if host is None:
            raise BuildError(
                f'worker group "{group.group_name}" has numOfHosts {group.num_of_hosts}: '
                "say which replica and host the pod is for"
            )
        placement = {
            REPLICA_NAME_LABEL: label_value(host.replica_name),
            HOST_INDEX_LABEL: str(host.host_index),
        }
    node = worker_group(cluster, group)
    prefix = worker_pod_prefix(cluster, group.group_name)
    return _build_pod(cluster, node, options, prefix, placement, group)
