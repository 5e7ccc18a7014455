"""What the autoscaler sidecar may do through the API server, and as whom.

It reads the RayCluster and patches its worker groups' replicas and workersToDelete; it lists and watches the
cluster's pods, and patches them (pods/resize for in-place resizing). Nothing more.
"""

from typing import Any, Final

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import GROUP, PLURAL
from kuberay_py.builders.labels import ownership_labels
from kuberay_py.builders.names import (
    autoscaler_role_name,
    autoscaler_service_account_name,
    head_pod_service_account,
    namespace_of,
)
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.ownership import object_metadata

RBAC_API_VERSION: Final = "rbac.authorization.k8s.io/v1"
AUTOSCALER_RULES: Final = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
    {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["get", "patch"]},
)


def build_autoscaler_service_account(
    cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS
) -> dict[str, Any] | None:
    """The ServiceAccount named after the cluster that the head pod runs as.

    None when the head template names its own ServiceAccount: the user creates that one, and a pod that
    names a missing one is an error to report, not something to paper over.
    """
    if head_pod_service_account(cluster) is not None:
        return None
    metadata = object_metadata(
        cluster, options, name=autoscaler_service_account_name(cluster), labels=ownership_labels(cluster)
    )
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata}


def build_autoscaler_role(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """The Role named after the cluster, with exactly the rules the autoscaler needs."""
    metadata = object_metadata(
        cluster, options, name=autoscaler_role_name(cluster), labels=ownership_labels(cluster)
    )
    rules = [{key: list(values) for key, values in rule.items()} for rule in AUTOSCALER_RULES]
    return {"apiVersion": RBAC_API_VERSION, "kind": "Role", "metadata": metadata, "rules": rules}


def build_autoscaler_role_binding(
    cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS
) -> dict[str, Any]:
    """Binds the Role to the head pod's ServiceAccount (the cluster's, or the one the template names)."""
    metadata = object_metadata(
        cluster, options, name=autoscaler_role_name(cluster), labels=ownership_labels(cluster)
    )
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": metadata,
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": autoscaler_role_name(cluster),
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": autoscaler_service_account_name(cluster),
                "namespace": namespace_of(cluster, options),
            }
        ],
    }
