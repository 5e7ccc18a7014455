"""Derives the CRD's structural OpenAPI v3 schema from the models."""

import copy
import inspect
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from kuberay_py.api.base import KubeModel
from kuberay_py.api.introspect import TypeInfo, describe_field

_SCALAR_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean"}
_LENGTH_KEYS = {"string": "maxLength", "array": "maxItems", "map": "maxProperties"}


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The schema of a model: its fields as properties, its object rules as x-kubernetes-validations."""
    override = getattr(model, "openapi_override", None)
    if override is not None:
        return copy.deepcopy(override)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        info = describe_field(field)
        prop = type_schema(info)
        # The field's own description says more in context than its type's.
        description = _one_line(field.description) if field.description else prop.pop("description", None)
        prop.pop("description", None)
        if description:
            prop = {"description": description, **prop}
        default = field.default
        if _is_crd_default(default):
            prop["default"] = default
        if field.is_required():
            required.append(key)
        properties[key] = prop
    out: dict[str, Any] = {}
    if model.__doc__:
        out["description"] = _one_line(inspect.cleandoc(model.__doc__).split("\n\n")[0])
    out["type"] = "object"
    out["properties"] = properties
    if required:
        out["required"] = required
    rules = getattr(model, "admission_rules", ())
    if rules:
        out["x-kubernetes-validations"] = [rule.to_openapi() for rule in rules]
    return out


def type_schema(info: TypeInfo) -> dict[str, Any]:
    out: dict[str, Any]
    if info.kind == "object":
        assert info.model is not None
        out = model_schema(info.model)
    elif info.kind == "array":
        assert info.item is not None
        out = {"type": "array", "items": type_schema(info.item)}
    elif info.kind == "map":
        assert info.item is not None
        out = {"type": "object", "additionalProperties": type_schema(info.item)}
    elif info.kind == "int-or-string":
        out = {"x-kubernetes-int-or-string": True}
    elif info.kind == "preserved":
        out = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if info.properties:
            out["properties"] = copy.deepcopy(info.properties)
    else:
        out = {"type": _SCALAR_TYPES[info.kind]}
    if info.format:
        out["format"] = info.format
    if info.max_length is not None:
        out[_LENGTH_KEYS[info.kind]] = info.max_length
    if info.nullable:
        out["nullable"] = True
    out.update(copy.deepcopy(info.openapi))
    if info.rules:
        out.setdefault("x-kubernetes-validations", []).extend(rule.to_openapi() for rule in info.rules)
    return out


def _is_crd_default(default: Any) -> bool:
    # Scalar defaults are the API's defaults (replicas 0, numOfHosts 1, ...); None means "unset".
    if default is None or default is PydanticUndefined:
        return False
    return isinstance(default, bool | int | str)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def root_schema(model: type[KubeModel]) -> dict[str, Any]:
    """The schema of a top-level object: apiVersion and kind are plain strings, the server owns metadata."""
    out = model_schema(model)
    props = out["properties"]
    for key in ("apiVersion", "kind"):
        props[key] = {"type": "string"}
    props["apiVersion"]["description"] = "The versioned schema of this object, e.g. ray.io/v1."
    props["kind"]["description"] = "RayCluster."
    required = [k for k in out.get("required", []) if k not in ("apiVersion", "kind", "metadata")]
    if required:
        out["required"] = required
    else:  # the API server drops an empty list, and server-side apply would then see a change
        out.pop("required", None)
    return out
