"""The Ray autoscaler sidecar of the head pod (`enableInTreeAutoscaling: true`).

The autoscaler reads the RayCluster and its pods through the API server and asks for more or fewer workers by
patching the RayCluster; it needs the cluster's name and namespace, which it gets from its environment.
"""

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from kuberay_py.api import AutoscalerVersion, RayCluster
from kuberay_py.builders.env import (
    KUBERAY_CRD_VER,
    RAY_ENABLE_AUTOSCALER_V2,
    RAY_HEAD_POD_NAME,
    cluster_identity,
    from_field,
    merge_env,
    value,
)

CONTAINER_NAME: Final = "autoscaler"
COMMAND: Final = ("/bin/bash", "-c", "--")
# $(NAME) is expanded by the kubelet from the container's own environment.
ARGS: Final = (
    "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) --cluster-namespace $(RAY_CLUSTER_NAMESPACE)",
)
DEFAULT_RESOURCES: Final = {"cpu": "500m", "memory": "512Mi"}
DEFAULT_PULL_POLICY: Final = "IfNotPresent"
CRD_VERSION: Final = "v1"
# The first Ray release whose autoscaler runs as v2 unless told otherwise.
_V2_DEFAULT_FROM: Final = (2, 47)


def _default_resources() -> dict[str, Any]:
    return {"requests": dict(DEFAULT_RESOURCES), "limits": dict(DEFAULT_RESOURCES)}


def autoscaler_env() -> list[dict[str, Any]]:
    return [
        *cluster_identity(),
        from_field(RAY_HEAD_POD_NAME, "metadata.name"),
        value(KUBERAY_CRD_VER, CRD_VERSION),
    ]


def free_container_name(containers: Sequence[Any], wanted: str) -> str:
    """`wanted`, or `wanted-2`, ... when the template already has a container of that name."""
    taken = {c.get("name") for c in containers if isinstance(c, Mapping)}
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}-{n}"
    return name


def build_autoscaler_container(
    cluster: RayCluster,
    ray_container: Mapping[str, Any],
    logs_mount: Mapping[str, Any],
    name: str = CONTAINER_NAME,
) -> dict[str, Any]:
    """The sidecar: the head's Ray image unless `autoscalerOptions.image`, sharing /tmp/ray with Ray."""
    options = cluster.spec.autoscaler_options
    opts: dict[str, Any] = options.to_dict() if options is not None else {}
    container: dict[str, Any] = {
        "name": name,
        "image": opts.get("image") or ray_container.get("image"),
        "imagePullPolicy": opts.get("imagePullPolicy")
        or ray_container.get("imagePullPolicy")
        or DEFAULT_PULL_POLICY,
        "command": list(opts.get("command") or COMMAND),
        # A command of the user's own runs with their args only.
        "args": list(opts.get("args") or ([] if opts.get("command") else ARGS)),
        "env": merge_env(copy.deepcopy(opts.get("env") or []), autoscaler_env()),
        "resources": copy.deepcopy(opts.get("resources") or _default_resources()),
        "volumeMounts": [dict(logs_mount), *copy.deepcopy(opts.get("volumeMounts") or [])],
    }
    if opts.get("envFrom"):
        container["envFrom"] = copy.deepcopy(opts["envFrom"])
    if opts.get("securityContext"):
        container["securityContext"] = copy.deepcopy(opts["securityContext"])
    return container


def _head_env_value(cluster: RayCluster, name: str) -> str | None:
    ray = cluster.spec.head_group_spec.ray_container() or {}
    for var in ray.get("env") or []:
        if isinstance(var, Mapping) and var.get("name") == name:
            return str(var.get("value", ""))
    return None


def autoscaler_v2(cluster: RayCluster) -> bool:
    """Whether the autoscaler runs as v2: as `autoscalerOptions.version` says, else as the head's
    RAY_enable_autoscaler_v2 says, else by the Ray version (v2 from Ray 2.47)."""
    if not cluster.spec.autoscaling_enabled():
        return False
    options = cluster.spec.autoscaler_options
    if options is not None and options.version is not None:
        return options.version == AutoscalerVersion.V2
    env = _head_env_value(cluster, RAY_ENABLE_AUTOSCALER_V2)
    if env is not None:
        return env in ("1", "true")
    found = re.match(r"^v?(\d+)\.(\d+)", cluster.spec.ray_version or "")
    return found is not None and (int(found[1]), int(found[2])) >= _V2_DEFAULT_FROM
