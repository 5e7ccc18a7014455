"""Reading the legacy Helm chart's `values.yaml` (`deploy/charts/ray`), which described one cluster by pod
types of CPU, memory and GPU rather than by whole pods."""

import copy
from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.legacy.custom_resource import HEAD_CONTAINER, WORKER_CONTAINER
from kuberay_py.legacy.fields import (
    join,
    mapping,
    optional_int,
    optional_mapping,
    optional_number,
    required_string,
    warn_unknown,
)
from kuberay_py.legacy.findings import Findings, LegacyError
from kuberay_py.legacy.model import LegacyCluster, PodType
from kuberay_py.legacy.resources import quantity_text, read_ray_resources

DEFAULT_RELEASE_NAME: Final = "example-cluster"
DEFAULT_HEAD_POD_TYPE: Final = "rayHeadType"
GPU_RESOURCE: Final = "nvidia.com/gpu"

_CLUSTER_KEYS: Final = frozenset({"image", "headPodType", "podTypes", "upscalingSpeed", "idleTimeoutMinutes"})
# Settings of the legacy operator's own installation.
OPERATOR_SETTINGS: Final = (
    "operatorOnly",
    "clusterOnly",
    "namespacedOperator",
    "operatorNamespace",
    "operatorImage",
)
_POD_TYPE_KEYS: Final = frozenset(
    {
        "minWorkers",
        "maxWorkers",
        "CPU",
        "numCPU",
        "memory",
        "GPU",
        "numGPU",
        "rayResources",
        "nodeSelector",
        "tolerations",
    }
)


def looks_like_values(document: Mapping[str, Any]) -> bool:
    """A mapping that is no Kubernetes object and has at least one key of the chart's values."""
    if "apiVersion" in document or "kind" in document:
        return False
    return any(key in _CLUSTER_KEYS or key in OPERATOR_SETTINGS for key in document)


def read_values(document: Mapping[str, Any], name: str, findings: Findings) -> LegacyCluster:
    """The cluster a release called `name` installs with these values."""
    if document.get("operatorOnly") is True:
        raise LegacyError("operatorOnly", "true: these values install the operator only, there is no cluster")
    for key in document:
        if key in OPERATOR_SETTINGS:
            findings.warn(
                key, "an operator setting, not part of a cluster: left out (install the operator on its own)"
            )
        elif key not in _CLUSTER_KEYS:
            findings.warn(key, "not a value of the legacy chart, left out")
    image = required_string(document, "image", "")
    head = document.get("headPodType", DEFAULT_HEAD_POD_TYPE)
    if not isinstance(head, str) or not head:
        raise LegacyError("headPodType", f"must be a non-empty string, not {head!r}")
    if document.get("podTypes") is None:
        raise LegacyError("podTypes", "required: the head's and the workers' pod types")
    entries = mapping(document["podTypes"], "podTypes")
    if not entries:
        raise LegacyError("podTypes", "must have at least one pod type")
    pod_types = tuple(
        _pod_type(type_name, mapping(raw, join("podTypes", type_name)), image, type_name == head, findings)
        for type_name, raw in entries.items()
    )
    return LegacyCluster(
        metadata={"name": name},
        prefix="",
        head_pod_type=head,
        pod_types=pod_types,
        upscaling_speed=optional_number(document, "upscalingSpeed", "", positive=True),
        idle_timeout_minutes=optional_number(document, "idleTimeoutMinutes", ""),
    )


def _pod_type(name: str, raw: dict[str, Any], image: str, is_head: bool, findings: Findings) -> PodType:
    path = join("podTypes", name)
    warn_unknown(raw, _POD_TYPE_KEYS, path, "a value of a legacy pod type", findings)
    cpu = quantity_text(_one_of(raw, ("CPU", "numCPU"), path, required=True), join(path, "CPU"))
    if raw.get("memory") is None:
        raise LegacyError(join(path, "memory"), "required: the memory of each pod of this type")
    memory = quantity_text(raw["memory"], join(path, "memory"))
    gpu = _one_of(raw, ("GPU", "numGPU"), path, required=False)
    limits: dict[str, Any] = {"cpu": cpu, "memory": memory}
    if gpu is not None:
        gpus = optional_int({"GPU": gpu}, "GPU", path)
        if gpus:
            limits[GPU_RESOURCE] = str(gpus)
    container = {
        "name": HEAD_CONTAINER if is_head else WORKER_CONTAINER,
        "image": image,
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": limits},
    }
    # As the chart rendered it: a failed Ray node is replaced, not restarted in place.
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    selector = optional_mapping(raw, "nodeSelector", path)
    for key, value in selector.items():
        if not isinstance(value, str):
            raise LegacyError(join(join(path, "nodeSelector"), key), f"must be a string, not {value!r}")
    if selector:
        spec["nodeSelector"] = selector
    tolerations = raw.get("tolerations")
    if tolerations:
        if not isinstance(tolerations, list):
            raise LegacyError(join(path, "tolerations"), "must be a list of tolerations")
        for index, toleration in enumerate(tolerations):
            mapping(toleration, f"{join(path, 'tolerations')}[{index}]")
        spec["tolerations"] = copy.deepcopy(tolerations)
    return PodType(
        name=name,
        path=path,
        name_path=path,
        min_workers=optional_int(raw, "minWorkers", path) or 0,
        max_workers=optional_int(raw, "maxWorkers", path),
        ray_resources=read_ray_resources(raw.get("rayResources"), join(path, "rayResources")),
        setup_commands=(),
        template={"spec": spec},
    )


def _one_of(raw: dict[str, Any], keys: tuple[str, str], path: str, *, required: bool) -> object:
    """The value under either of two names the legacy docs use for the same thing (CPU and numCPU)."""
    given = [key for key in keys if raw.get(key) is not None]
    if len(given) > 1 and raw[keys[0]] != raw[keys[1]]:
        raise LegacyError(join(path, keys[1]), f"differs from {keys[0]}: set only one of them")
    if not given:
        if required:
            raise LegacyError(join(path, keys[0]), f"required: the {keys[0]}s of each pod of this type")
        return None
    return raw[given[0]]
