"""Environment variables of the Ray container, as KubeRay sets them.

The Ray autoscaler v2 matches Ray nodes to pods through RAY_CLOUD_INSTANCE_ID (the pod's name) and
RAY_NODE_TYPE_NAME (its group); with RAY_USAGE_STATS_KUBERAY_IN_USE the head knows it runs under an operator.

KubeRay appends some variables after the user's whatever they define, so that its value is the one the
kubelet uses; those (`OPERATOR_OWNED`) replace a definition of the user's here. Every other variable the user
already defines is never added again: their value wins.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Final

from kuberay_py.api import AutoscalerVersion, RayCluster
from kuberay_py.builders.addresses import gcs_port, head_address
from kuberay_py.builders.labels import CLUSTER_LABEL, GROUP_LABEL
from kuberay_py.builders.names import head_service_host, head_service_name
from kuberay_py.builders.node_groups import NodeGroup
from kuberay_py.builders.options import BuildOptions

RAY_CLUSTER_NAME: Final = "RAY_CLUSTER_NAME"
RAY_CLUSTER_NAMESPACE: Final = "RAY_CLUSTER_NAMESPACE"
RAY_CLOUD_INSTANCE_ID: Final = "RAY_CLOUD_INSTANCE_ID"
RAY_NODE_TYPE_NAME: Final = "RAY_NODE_TYPE_NAME"
FQ_RAY_IP: Final = "FQ_RAY_IP"
RAY_IP: Final = "RAY_IP"
RAY_PORT: Final = "RAY_PORT"
RAY_ADDRESS: Final = "RAY_ADDRESS"
RAY_USAGE_STATS_KUBERAY_IN_USE: Final = "RAY_USAGE_STATS_KUBERAY_IN_USE"
RAY_ENABLE_AUTOSCALER_V2: Final = "RAY_enable_autoscaler_v2"
KUBERAY_GEN_RAY_START_CMD: Final = "KUBERAY_GEN_RAY_START_CMD"
RAY_HEAD_POD_NAME: Final = "RAY_HEAD_POD_NAME"
KUBERAY_CRD_VER: Final = "KUBERAY_CRD_VER"
RAY_USAGE_STATS_EXTRA_TAGS: Final = "RAY_USAGE_STATS_EXTRA_TAGS"
RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE: Final = "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"

LOCALHOST: Final = "127.0.0.1"
# The KubeRay release whose RayCluster API kuberay-py serves; Ray's usage stats are tagged with it.
KUBERAY_VERSION: Final = "v1.5.0"
ORIGINATED_FROM_CRD_LABEL: Final = "ray.io/originated-from-crd"
_CREATOR_KINDS: Final = ("RayCluster", "RayJob", "RayService")

# The variables whose value is always the operator's, even when the user defines them too.
OPERATOR_OWNED: Final = frozenset(
    {
        RAY_CLUSTER_NAME,
        RAY_CLOUD_INSTANCE_ID,
        RAY_NODE_TYPE_NAME,
        KUBERAY_GEN_RAY_START_CMD,
        FQ_RAY_IP,
        RAY_IP,
        RAY_USAGE_STATS_EXTRA_TAGS,
        RAY_ENABLE_AUTOSCALER_V2,
    }
)


def value(name: str, text: str) -> dict[str, Any]:
    return {"name": name, "value": text}


def from_field(name: str, field_path: str) -> dict[str, Any]:
    """A variable the kubelet fills from the pod itself (the downward API)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def from_label(name: str, label: str) -> dict[str, Any]:
    return from_field(name, f"metadata.labels['{label}']")


def cluster_identity() -> list[dict[str, Any]]:
    """The cluster's name and namespace, read from the pod so that they always match it."""
    return [
        from_label(RAY_CLUSTER_NAME, CLUSTER_LABEL),
        from_field(RAY_CLUSTER_NAMESPACE, "metadata.namespace"),
    ]


def names_of(env: Sequence[Any]) -> set[str]:
    return {var["name"] for var in env if isinstance(var, Mapping) and isinstance(var.get("name"), str)}


def merge_env(
    user_env: Sequence[Any], injected: Sequence[dict[str, Any]], owned: frozenset[str] = frozenset()
) -> list[Any]:
    """The injected variables the user did not define, then the user's own.

    Injected ones come first so that the user's values can refer to them as $(NAME). The user's definition
    of a variable in `owned` that is injected is dropped: the injected value is the one that counts.
    """
    forced = {var["name"] for var in injected} & owned
    kept = [var for var in user_env if not (isinstance(var, Mapping) and var.get("name") in forced)]
    taken = names_of(kept)
    return [var for var in injected if var["name"] not in taken] + kept


def _autoscaler_version_env(cluster: RayCluster) -> list[dict[str, Any]]:
    options = cluster.spec.autoscaler_options
    if not cluster.spec.autoscaling_enabled() or options is None or options.version is None:
        return []
    if options.version == AutoscalerVersion.V2:
        return [value(RAY_ENABLE_AUTOSCALER_V2, "true")]
    # KubeRay sets nothing for v1, and recent Ray releases then run v2 by themselves: an explicit v1 is kept.
    return [value(RAY_ENABLE_AUTOSCALER_V2, "0")]


def creator_kind(cluster: RayCluster) -> str:
    """The kind of the object that made the RayCluster, as its `ray.io/originated-from-crd` label says."""
    label = (cluster.metadata.labels or {}).get(ORIGINATED_FROM_CRD_LABEL)
    return label if label in _CREATOR_KINDS else "RayCluster"


def usage_stats_tags(cluster: RayCluster) -> str:
    return f"kuberay_version={KUBERAY_VERSION};kuberay_crd={creator_kind(cluster)}"


def ray_env(
    cluster: RayCluster, group: NodeGroup, options: BuildOptions, start_command: str
) -> list[dict[str, Any]]:
    """The variables the operator adds to a Ray container (before merging with the user's)."""
    env = [
        *cluster_identity(),
        from_field(RAY_CLOUD_INSTANCE_ID, "metadata.name"),
        from_label(RAY_NODE_TYPE_NAME, GROUP_LABEL),
    ]
    port = gcs_port(cluster)
    if group.is_head:
        address = f"{LOCALHOST}:{port}"
    else:
        address = head_address(cluster, options)
        env += [
            value(FQ_RAY_IP, head_service_host(cluster, options)),
            value(RAY_IP, head_service_name(cluster)),
        ]
    env += [
        value(RAY_PORT, str(port)),
        value(RAY_ADDRESS, address),
        value(RAY_USAGE_STATS_KUBERAY_IN_USE, "1"),
    ]
    if group.is_head:
        env.append(value(RAY_USAGE_STATS_EXTRA_TAGS, usage_stats_tags(cluster)))
    # Without it Ray's dashboard shows no disk usage for the pod.
    env.append(value(RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE, "1"))
    if group.is_head:
        env += _autoscaler_version_env(cluster)
    env.append(value(KUBERAY_GEN_RAY_START_CMD, start_command))
    return env


def init_container_env(cluster: RayCluster, options: BuildOptions) -> list[dict[str, Any]]:
    """What KubeRay adds to every init container of a Ray pod, head or worker: the head's address (the head
    needs it for a TLS certificate of its own, a worker to reach the head)."""
    return [
        value(FQ_RAY_IP, head_service_host(cluster, options)),
        value(RAY_IP, head_service_name(cluster)),
    ]
