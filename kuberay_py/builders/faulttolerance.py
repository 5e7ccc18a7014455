"""GCS fault tolerance in the pods, as KubeRay sets it up.

The head is told where Redis is (RAY_REDIS_ADDRESS, REDIS_USERNAME/REDIS_PASSWORD, passed on to `ray start`
as --redis-username/--redis-password) and under which key prefix its state lives
(RAY_external_storage_namespace: by default the cluster's UID, so that two clusters never share state, also
written on the head pod as `ray.io/external-storage-namespace`). Workers wait longer for a GCS that is gone
(RAY_gcs_rpc_server_reconnect_timeout_s) so that they outlive a head restart instead of exiting.
"""

from typing import Any, Final

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import EXTERNAL_STORAGE_NAMESPACE_ANNOTATION
from kuberay_py.api.faulttolerance import RedisCredential
from kuberay_py.builders.env import value
from kuberay_py.builders.node_groups import NodeGroup

RAY_REDIS_ADDRESS: Final = "RAY_REDIS_ADDRESS"
REDIS_USERNAME: Final = "REDIS_USERNAME"
REDIS_PASSWORD: Final = "REDIS_PASSWORD"
RAY_EXTERNAL_STORAGE_NAMESPACE: Final = "RAY_external_storage_namespace"
RAY_GCS_RECONNECT_TIMEOUT: Final = "RAY_gcs_rpc_server_reconnect_timeout_s"
# Rendered before the RayCluster exists, the storage namespace is not known yet: it will be its UID.
UID_PLACEHOLDER: Final = "<the RayCluster's UID>"
# Ray's own default lets a worker give up after a minute; a new head pod often takes longer than that.
WORKER_GCS_RECONNECT_TIMEOUT_SECONDS: Final = "600"


def storage_namespace(cluster: RayCluster) -> str:
    """The key prefix of the cluster's state in Redis: the option, else the annotation, else the UID."""
    options = cluster.spec.gcs_fault_tolerance_options
    if options is not None and options.external_storage_namespace:
        return options.external_storage_namespace
    return (
        cluster.annotation(EXTERNAL_STORAGE_NAMESPACE_ANNOTATION) or cluster.metadata.uid or UID_PLACEHOLDER
    )


def _credential(name: str, credential: RedisCredential) -> dict[str, Any]:
    if credential.value_from is not None:
        return {"name": name, "valueFrom": dict(credential.value_from)}
    return value(name, credential.value or "")


def fault_tolerance_env(cluster: RayCluster, group: NodeGroup) -> list[dict[str, Any]]:
    """The variables fault tolerance adds to a Ray container (merged after the user's, which win)."""
    if not cluster.fault_tolerance_enabled():
        return []
    if not group.is_head:
        return [value(RAY_GCS_RECONNECT_TIMEOUT, WORKER_GCS_RECONNECT_TIMEOUT_SECONDS)]
    env = [value(RAY_EXTERNAL_STORAGE_NAMESPACE, storage_namespace(cluster))]
    options = cluster.spec.gcs_fault_tolerance_options
    if options is None:
        # The older way: the user's own RAY_REDIS_ADDRESS, and perhaps a password in rayStartParams, which
        # the cleanup Job reads from the environment.
        password = group.spec.start_params().get("redis-password")
        return env + ([value(REDIS_PASSWORD, password)] if password else [])
    env.append(value(RAY_REDIS_ADDRESS, options.redis_address))
    if options.redis_username is not None:
        env.append(_credential(REDIS_USERNAME, options.redis_username))
    if options.redis_password is not None:
        env.append(_credential(REDIS_PASSWORD, options.redis_password))
    return env


def fault_tolerance_start_params(cluster: RayCluster, group: NodeGroup) -> dict[str, str]:
    """`ray start` options of the head that read the Redis credentials from the environment."""
    options = cluster.spec.gcs_fault_tolerance_options
    if not group.is_head or options is None:
        return {}
    params = {}
    if options.redis_username is not None:
        params["redis-username"] = f"${REDIS_USERNAME}"
    if options.redis_password is not None:
        params["redis-password"] = f"${REDIS_PASSWORD}"
    return params


def fault_tolerance_annotations(cluster: RayCluster, group: NodeGroup) -> dict[str, str]:
    if not group.is_head or not cluster.fault_tolerance_enabled():
        return {}
    return {EXTERNAL_STORAGE_NAMESPACE_ANNOTATION: storage_namespace(cluster)}
