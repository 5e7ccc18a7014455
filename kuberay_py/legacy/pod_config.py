"""A legacy `podConfig` (a whole Pod) as the pod template of a ray.io/v1 group."""

import copy
import re
from typing import Any, Final

from kuberay_py.legacy.fields import join, mapping, optional_mapping, warn_unknown
from kuberay_py.legacy.findings import Findings, LegacyError

# The legacy Ray container only kept the pod alive; the operator then ran Ray inside it.
_PLACEHOLDER: Final = re.compile(
    r"((/usr)?/bin/)?(ba)?sh -c( --)? (trap [^;]*; *)?(sleep infinity|tail -f /dev/null)( *& *wait)? *;? *"
    r"|sleep infinity|tail -f /dev/null"
)
# Set by the API server or the operator on each pod; a template does not carry them.
_POD_METADATA_DROPPED: Final = frozenset({"name", "generateName"})
_POD_METADATA_KEPT: Final = ("labels", "annotations")


def is_placeholder(command: list[str], args: list[str]) -> bool:
    """Whether the container's command and args only keep it running (`sleep infinity` and the like)."""
    line = " ".join(" ".join(str(part) for part in [*command, *args]).split())
    return _PLACEHOLDER.fullmatch(line) is not None


def template_from_pod_config(
    value: object, path: str, container_name: str, findings: Findings
) -> dict[str, Any]:
    """The PodTemplateSpec of a `podConfig` at `path`; `container_name` names an unnamed Ray container."""
    pod = mapping(value, path)
    if pod.get("apiVersion", "v1") != "v1":
        raise LegacyError(join(path, "apiVersion"), f'must be "v1", not {pod["apiVersion"]!r}')
    if pod.get("kind", "Pod") != "Pod":
        raise LegacyError(join(path, "kind"), f'must be "Pod", not {pod["kind"]!r}')
    warn_unknown(pod, ("apiVersion", "kind", "metadata", "spec", "status"), path, "part of a Pod", findings)

    template: dict[str, Any] = {}
    metadata = _template_metadata(optional_mapping(pod, "metadata", path), join(path, "metadata"), findings)
    if metadata:
        template["metadata"] = metadata
    spec_path = join(path, "spec")
    if pod.get("spec") is None:
        raise LegacyError(spec_path, "required: the pod's containers")
    spec = copy.deepcopy(mapping(pod["spec"], spec_path))
    template["spec"] = spec
    ray = _ray_container(spec, spec_path)
    ray_path = f"{spec_path}.containers[0]"
    if not ray.get("name"):
        ray["name"] = container_name
    _drop_placeholder(ray, ray_path, findings)
    return template


def _template_metadata(metadata: dict[str, Any], path: str, findings: Findings) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in _POD_METADATA_KEPT:
            if value:
                kept[key] = copy.deepcopy(mapping(value, join(path, key)))
        elif key == "namespace":
            findings.warn(join(path, key), "left out: the pods run in the RayCluster's namespace")
        elif key not in _POD_METADATA_DROPPED:
            findings.warn(join(path, key), "left out: a pod template's metadata holds labels and annotations")
    return kept


def _ray_container(spec: dict[str, Any], path: str) -> dict[str, Any]:
    containers = spec.get("containers")
    where = join(path, "containers")
    if not isinstance(containers, list) or not containers:
        raise LegacyError(where, "must list at least one container (the first one runs Ray)")
    for index, container in enumerate(containers):
        mapping(container, f"{where}[{index}]")
    ray: dict[str, Any] = containers[0]
    image = ray.get("image")
    if not isinstance(image, str) or not image:
        raise LegacyError(f"{where}[0].image", "required: the Ray image")
    return ray


def _drop_placeholder(ray: dict[str, Any], path: str, findings: Findings) -> None:
    command, args = ray.get("command") or [], ray.get("args") or []
    for key, value in (("command", command), ("args", args)):
        if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
            raise LegacyError(join(path, key), "must be a list of strings")
    if not command and not args:
        return
    ray.pop("command", None)
    ray.pop("args", None)
    if not is_placeholder(command, args):
        line = " ".join([*command, *args])
        findings.warn(
            join(path, "command" if command else "args"),
            f"{line!r} is left out: the operator runs ray start as the Ray container's command; move "
            "other steps into the image or an init container",
        )
