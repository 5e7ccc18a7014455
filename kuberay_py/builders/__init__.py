"""The objects the operator creates for a RayCluster, built as plain JSON-able dicts in Kubernetes shape.

Pure and deterministic: no I/O, the same RayCluster and options always give the same objects.

    from kuberay_py.api import RayCluster
    from kuberay_py.builders import BuildOptions, render_cluster, to_yaml

    cluster = RayCluster.from_manifest(manifest)
    objects = render_cluster(cluster, BuildOptions(cluster_domain="cluster.local"))
    print(to_yaml(objects))

Every pod carries `kuberay-py.io/template-hash` (see `group_template_hash`), a fingerprint of the user's
template for its group: a pod whose recorded hash differs from its group's hash now is out of date.
"""

from kuberay_py.api.quantities import QuantityError, parse_quantity, whole_units
from kuberay_py.builders.command import (
    OVERWRITE_COMMAND_ANNOTATION,
    format_ray_start,
    ray_start_command,
    ray_start_params,
)
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.hashing import TEMPLATE_HASH_ANNOTATION, group_template_hash, recorded_template_hash
from kuberay_py.builders.labels import (
    CLUSTER_LABEL,
    GROUP_LABEL,
    HOST_INDEX_LABEL,
    NODE_TYPE_LABEL,
    REPLICA_NAME_LABEL,
    cluster_selector,
    group_selector,
    head_selector,
    pod_labels,
)
from kuberay_py.builders.names import (
    autoscaler_service_account_name,
    head_pod_prefix,
    head_service_host,
    head_service_name,
    headless_worker_service_name,
    replica_name,
    worker_pod_prefix,
)
from kuberay_py.builders.options import BuildOptions
from kuberay_py.builders.pods import HostSlot, build_head_pod, build_worker_pod
from kuberay_py.builders.rbac import (
    AUTOSCALER_RULES,
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
)
from kuberay_py.builders.render import clusters_in, render_cluster, render_manifests, to_yaml
from kuberay_py.builders.services import build_head_service, build_headless_worker_service

__all__ = [
    "AUTOSCALER_RULES",
    "CLUSTER_LABEL",
    "GROUP_LABEL",
    "HOST_INDEX_LABEL",
    "NODE_TYPE_LABEL",
    "OVERWRITE_COMMAND_ANNOTATION",
    "REPLICA_NAME_LABEL",
    "TEMPLATE_HASH_ANNOTATION",
    "BuildError",
    "BuildOptions",
    "HostSlot",
    "QuantityError",
    "autoscaler_service_account_name",
    "build_autoscaler_role",
    "build_autoscaler_role_binding",
    "build_autoscaler_service_account",
    "build_head_pod",
    "build_head_service",
    "build_headless_worker_service",
    "build_worker_pod",
    "cluster_selector",
    "clusters_in",
    "format_ray_start",
    "group_selector",
    "group_template_hash",
    "head_pod_prefix",
    "head_selector",
    "head_service_host",
    "head_service_name",
    "headless_worker_service_name",
    "parse_quantity",
    "pod_labels",
    "ray_start_command",
    "ray_start_params",
    "recorded_template_hash",
    "render_cluster",
    "render_manifests",
    "replica_name",
    "to_yaml",
    "whole_units",
    "worker_pod_prefix",
]
