"""Reads a model field's Python type into the shape both the CRD generator and the validator walk."""

import types
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from kuberay_py.api.markers import Rule, Schema

Kind = Literal[
    "object", "array", "map", "string", "integer", "number", "boolean", "int-or-string", "preserved"
]


@dataclass(frozen=True)
class TypeInfo:
    """The wire shape of a type: what JSON it takes, its bounds, and the rules attached to it."""

    kind: Kind
    # The model of an "object"; the item type of an "array"; the value type of a "map".
    model: type[BaseModel] | None = None
    item: "TypeInfo | None" = None
    # maxLength of a string, maxItems of an array, maxProperties of a map.
    max_length: int | None = None
    rules: tuple[Rule, ...] = ()
    format: str | None = None
    nullable: bool = False
    properties: dict[str, Any] = field(default_factory=dict)
    openapi: dict[str, Any] = field(default_factory=dict)


def describe_field(info: FieldInfo) -> TypeInfo:
    return describe(info.annotation, info.metadata)


def describe(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> TypeInfo:
    tp, meta = _unwrap(annotation, list(metadata))
    schemas = [x for x in meta if isinstance(x, Schema)]
    max_length = next((x.max_length for x in meta if isinstance(x, annotated_types.MaxLen)), None)
    common: dict[str, Any] = {
        "max_length": max_length,
        "rules": tuple(rule for s in schemas for rule in s.rules),
        "format": next((s.format for s in schemas if s.format), None),
        "nullable": any(s.nullable for s in schemas),
        "properties": {k: v for s in schemas for k, v in s.properties.items()},
        "openapi": {k: v for s in schemas for k, v in s.openapi.items()},
    }
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return TypeInfo("object", model=tp, **common)
    if origin is list:
        return TypeInfo("array", item=describe(get_args(tp)[0]), **common)
    if origin is dict:
        value = get_args(tp)[1]
        if value is Any:
            return TypeInfo("preserved", **common)
        return TypeInfo("map", item=describe(value), **common)
    if _is_union(tp):
        members = {_unwrap(arg, [])[0] for arg in get_args(tp)}
        if members == {int, str}:
            return TypeInfo("int-or-string", **common)
        if members == {int, float}:
            return TypeInfo("number", **common)
        raise TypeError(f"unsupported union {tp!r}")
    scalars: dict[Any, Kind] = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in scalars:
        return TypeInfo(scalars[tp], **common)
    raise TypeError(f"unsupported type {tp!r}")


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _unwrap(tp: Any, meta: list[Any]) -> tuple[Any, list[Any]]:
    """Strip Annotated layers (collecting their metadata) and `| None`."""
    while True:
        if get_origin(tp) is Annotated:
            base, *extra = get_args(tp)
            for item in extra:
                # A pydantic Field() inside Annotated carries its constraints in its own metadata.
                meta.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            tp = base
        elif _is_union(tp) and type(None) in get_args(tp):
            rest = [arg for arg in get_args(tp) if arg is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
        else:
            return tp, meta
