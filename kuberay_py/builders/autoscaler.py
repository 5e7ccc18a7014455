"""The Ray autoscaler sidecar of the head pod (`enableInTreeAutoscaling: true`).

The autoscaler reads the RayCluster and its pods through the API server and asks for more or fewer workers by
patching the RayCluster; it needs the cluster's name and namespace, which it gets from its environment.
"""

import copy
from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.api import AutoscalerVersion, RayCluster
from kuberay_py.builders.env import (
    KUBERAY_CRD_VER,
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


def _default_resources() -> dict[str, Any]:
    return {"requests": dict(DEFAULT_RESOURCES), "limits": dict(DEFAULT_RESOURCES)}


def autoscaler_env() -> list[dict[str, Any]]:
    return [
        *cluster_identity(),
        from_field(RAY_HEAD_POD_NAME, "metadata.name"),
        value(KUBERAY_CRD_VER, CRD_VERSION),
    ]


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
        # Given means given, even empty, as KubeRay takes it: `resources: {}` asks for none.
        "resources": copy.deepcopy(
            opts["resources"] if opts.get("resources") is not None else _default_resources()
        ),
        "volumeMounts": [dict(logs_mount), *copy.deepcopy(opts.get("volumeMounts") or [])],
    }
    if opts.get("envFrom"):
        container["envFrom"] = copy.deepcopy(opts["envFrom"])
    if opts.get("securityContext") is not None:
        container["securityContext"] = copy.deepcopy(opts["securityContext"])
    return container


def autoscaler_v2(cluster: RayCluster) -> bool:
    """Whether the operator sets up pods for the autoscaler v2 (restartPolicy Never,
    RAY_enable_autoscaler_v2 on the head): only when `autoscalerOptions.version` says v2, as KubeRay does.
    A Ray head that picks v2 by itself (recent Ray releases do under an operator) does not count."""
    options = cluster.spec.autoscaler_options
    return (
        cluster.spec.autoscaling_enabled() and options is not None and options.version == AutoscalerVersion.V2
    )
