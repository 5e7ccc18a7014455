"""The labels that tie pods and Services to their RayCluster; the Ray autoscaler selects pods by them."""

from collections.abc import Mapping
from typing import Final

from kuberay_py.api import RayCluster
from kuberay_py.builders.names import label_value

CLUSTER_LABEL: Final = "ray.io/cluster"
NODE_TYPE_LABEL: Final = "ray.io/node-type"
GROUP_LABEL: Final = "ray.io/group"
IS_RAY_NODE_LABEL: Final = "ray.io/is-ray-node"
IDENTIFIER_LABEL: Final = "ray.io/identifier"
APP_NAME_LABEL: Final = "app.kubernetes.io/name"
CREATED_BY_LABEL: Final = "app.kubernetes.io/created-by"
# Pods of one replica of a multi-host group (numOfHosts > 1) and their place in it.
REPLICA_NAME_LABEL: Final = "ray.io/worker-group-replica-name"
HOST_INDEX_LABEL: Final = "ray.io/replica-host-index"
# On the Service through which the pods of multi-host groups reach each other; its value is the cluster.
HEADLESS_WORKER_SERVICE_LABEL: Final = "ray.io/headless-worker-svc"

APP_NAME: Final = "kuberay"
CREATED_BY: Final = "kuberay-operator"
HEAD: Final = "head"
WORKER: Final = "worker"

# Labels users may not override: the autoscaler and the operator find pods by them.
PROTECTED_LABELS: Final = (CLUSTER_LABEL, NODE_TYPE_LABEL, GROUP_LABEL)


def ownership_labels(cluster: RayCluster) -> dict[str, str]:
    """Labels of every object built for the cluster."""
    return {
        CLUSTER_LABEL: cluster.name,
        APP_NAME_LABEL: APP_NAME,
        CREATED_BY_LABEL: CREATED_BY,
    }


def cluster_selector(cluster: RayCluster) -> dict[str, str]:
    """Every pod of the cluster (what the autoscaler lists)."""
    return {CLUSTER_LABEL: cluster.name}


def head_selector(cluster: RayCluster) -> dict[str, str]:
    """The head pod (the head Service's selector)."""
    return {CLUSTER_LABEL: cluster.name, NODE_TYPE_LABEL: HEAD}


def group_selector(cluster: RayCluster, group_name: str) -> dict[str, str]:
    """The pods of one worker group."""
    return {CLUSTER_LABEL: cluster.name, NODE_TYPE_LABEL: WORKER, GROUP_LABEL: group_name}


def identifier(cluster: RayCluster, node_type: str) -> str:
    """`<cluster>-head` or `<cluster>-worker`."""
    return label_value(f"{cluster.name}-{node_type}")


def pod_labels(
    cluster: RayCluster,
    node_type: str,
    group_name: str,
    *user_labels: Mapping[str, str] | None,
) -> dict[str, str]:
    """A Ray pod's labels: the defaults, then the user's (later ones win), then the protected ones."""
    protected = {CLUSTER_LABEL: cluster.name, NODE_TYPE_LABEL: node_type, GROUP_LABEL: group_name}
    labels = {
        **protected,
        IS_RAY_NODE_LABEL: "yes",
        IDENTIFIER_LABEL: identifier(cluster, node_type),
        APP_NAME_LABEL: APP_NAME,
        CREATED_BY_LABEL: CREATED_BY,
    }
    for extra in user_labels:
        labels.update(extra or {})
    labels.update(protected)
    return labels
