"""Checks of a pod template's shape that the API server makes only when the pod is created, made here before
any builder reads the template: a template the builders cannot read fails with the field named, never with
an exception from deep inside them."""

from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.api.quantities import QuantityError, parse_quantity
from kuberay_py.builders.errors import BuildError

# Container fields the builders read or extend, and the shape each must have.
_CONTAINER_LISTS: Final = ("ports", "env", "envFrom", "volumeMounts")
_CONTAINER_STRING_LISTS: Final = ("command", "args")
_CONTAINER_MAPPINGS: Final = ("lifecycle", "readinessProbe", "livenessProbe", "securityContext")


def check_template(template: Mapping[str, Any], path: str) -> None:
    """`path` locates the template in the RayCluster, e.g. `spec.headGroupSpec.template`."""
    if template.get("metadata") is not None:
        metadata = _mapping(template["metadata"], f"{path}.metadata")
        for key in ("labels", "annotations"):
            if metadata.get(key) is not None:
                _string_map(metadata[key], f"{path}.metadata.{key}")
    spec = _mapping(template.get("spec"), f"{path}.spec")
    if spec.get("volumes") is not None:
        _list_of_mappings(spec["volumes"], f"{path}.spec.volumes")
    for kind in ("initContainers", "containers"):
        containers = spec.get(kind)
        if containers is None:
            continue
        _list_of_mappings(containers, f"{path}.spec.{kind}")
        for index, container in enumerate(containers):
            _check_container(container, f"{path}.spec.{kind}[{index}]")


def _check_container(container: Mapping[str, Any], where: str) -> None:
    if not isinstance(container.get("name", ""), str):
        raise BuildError(f"{where}.name: must be a string")
    for key in _CONTAINER_LISTS:
        if container.get(key) is not None:
            _list_of_mappings(container[key], f"{where}.{key}")
    for key in _CONTAINER_STRING_LISTS:
        value = container.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise BuildError(f"{where}.{key}: must be a list of strings")
    for key in _CONTAINER_MAPPINGS:
        if container.get(key) is not None:
            _mapping(container[key], f"{where}.{key}")
    _check_resources(container.get("resources"), f"{where}.resources")


def _check_resources(resources: object, where: str) -> None:
    if resources is None:
        return
    resources = _mapping(resources, where)
    for kind in ("limits", "requests"):
        values = resources.get(kind)
        if values is None:
            continue
        for name, value in _mapping(values, f"{where}.{kind}").items():
            try:
                parse_quantity(value)
            except QuantityError as error:
                raise BuildError(f"{where}.{kind}.{name}: {error}") from None


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BuildError(f"{where}: must be a mapping, not {_kind(value)}")
    return value


def _string_map(value: object, where: str) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise BuildError(f"{where}: must be a mapping of strings to strings")


def _list_of_mappings(value: object, where: str) -> None:
    if not isinstance(value, list):
        raise BuildError(f"{where}: must be a list, not {_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise BuildError(f"{where}[{index}]: must be a mapping, not {_kind(item)}")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
