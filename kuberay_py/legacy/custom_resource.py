"""Reading the legacy custom resource: `apiVersion: cluster.ray.io/v1`, kind `RayCluster`."""

from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.legacy.fields import (
    join,
    mapping,
    optional_int,
    optional_mapping,
    optional_number,
    required_string,
    string_list,
    warn_unknown,
)
from kuberay_py.legacy.findings import Findings, LegacyError
from kuberay_py.legacy.model import LegacyCluster, PodType
from kuberay_py.legacy.pod_config import template_from_pod_config
from kuberay_py.legacy.resources import read_ray_resources

API_VERSION: Final = "cluster.ray.io/v1"
KIND: Final = "RayCluster"
HEAD_CONTAINER: Final = "ray-head"
WORKER_CONTAINER: Final = "ray-worker"

_SPEC_FIELDS: Final = frozenset(
    {
        "maxWorkers",
        "upscalingSpeed",
        "idleTimeoutMinutes",
        "headPodType",
        "podTypes",
        "headStartRayCommands",
        "workerStartRayCommands",
        "headSetupCommands",
        "workerSetupCommands",
    }
)
_POD_TYPE_FIELDS: Final = frozenset(
    {"name", "minWorkers", "maxWorkers", "rayResources", "setupCommands", "podConfig"}
)
# Written by the API server; they describe the stored legacy object, not the cluster.
_SERVER_METADATA: Final = frozenset(
    {
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "managedFields",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
# kubectl's copy of the legacy manifest: applied with the new one, it would describe the wrong object.
_LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"


def is_custom_resource(document: Mapping[str, Any]) -> bool:
    return document.get("apiVersion") == API_VERSION and document.get("kind") == KIND


def read_custom_resource(document: Mapping[str, Any], findings: Findings) -> LegacyCluster:
    for key in document:
        if key not in ("apiVersion", "kind", "metadata", "spec", "status"):
            findings.warn(key, "not a field of the legacy RayCluster, left out")
    metadata = _metadata(optional_mapping(document, "metadata", ""), findings)
    if document.get("spec") is None:
        raise LegacyError("spec", "required")
    spec = mapping(document["spec"], "spec")
    warn_unknown(spec, _SPEC_FIELDS, "spec", "a field of the legacy RayCluster", findings)
    head = required_string(spec, "headPodType", "spec")
    return LegacyCluster(
        metadata=metadata,
        prefix="spec.",
        head_pod_type=head,
        pod_types=_pod_types(spec, head, findings),
        max_workers=optional_int(spec, "maxWorkers", "spec"),
        upscaling_speed=optional_number(spec, "upscalingSpeed", "spec", positive=True),
        idle_timeout_minutes=optional_number(spec, "idleTimeoutMinutes", "spec"),
        head_start_commands=string_list(spec, "headStartRayCommands", "spec"),
        worker_start_commands=string_list(spec, "workerStartRayCommands", "spec"),
        head_setup_commands=string_list(spec, "headSetupCommands", "spec"),
        worker_setup_commands=string_list(spec, "workerSetupCommands", "spec"),
    )


def _metadata(metadata: dict[str, Any], findings: Findings) -> dict[str, Any]:
    out: dict[str, Any] = {"name": required_string(metadata, "name", "metadata")}
    for key, value in metadata.items():
        path = join("metadata", key)
        if key in ("name", *_SERVER_METADATA):
            continue
        if key == "namespace":
            out[key] = required_string(metadata, key, "metadata")
        elif key in ("labels", "annotations"):
            values = {k: v for k, v in mapping(value or {}, path).items() if k != _LAST_APPLIED}
            for name, text in values.items():
                if not isinstance(text, str):
                    raise LegacyError(join(path, name), f"must be a string, not {text!r}")
            if values:
                out[key] = values
        else:
            findings.warn(path, "left out: set it on the new RayCluster yourself if it still applies")
    return out


def _pod_types(spec: dict[str, Any], head: str, findings: Findings) -> tuple[PodType, ...]:
    entries = spec.get("podTypes")
    if entries is None:
        raise LegacyError("spec.podTypes", "required: the head's and the workers' pod types")
    if not isinstance(entries, list) or not entries:
        raise LegacyError("spec.podTypes", "must be a non-empty list of pod types")
    types: list[PodType] = []
    for index, entry in enumerate(entries):
        path = f"spec.podTypes[{index}]"
        raw = mapping(entry, path)
        name = required_string(raw, "name", path)
        if any(t.name == name for t in types):
            raise LegacyError(join(path, "name"), f"{name!r} is the name of an earlier pod type too")
        warn_unknown(raw, _POD_TYPE_FIELDS, path, "a field of a legacy pod type", findings)
        if raw.get("podConfig") is None:
            raise LegacyError(join(path, "podConfig"), "required: the pod of this type")
        container = HEAD_CONTAINER if name == head else WORKER_CONTAINER
        types.append(
            PodType(
                name=name,
                path=path,
                name_path=join(path, "name"),
                min_workers=optional_int(raw, "minWorkers", path) or 0,
                max_workers=optional_int(raw, "maxWorkers", path),
                ray_resources=read_ray_resources(raw.get("rayResources"), join(path, "rayResources")),
                setup_commands=string_list(raw, "setupCommands", path),
                template=template_from_pod_config(
                    raw["podConfig"], join(path, "podConfig"), container, findings
                ),
            )
        )
    return tuple(types)
