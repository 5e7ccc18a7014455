"""Annotations that carry the CRD-only facts of a model field: admission rules and OpenAPI hints.

A `Rule` holds a CEL expression for the CRD and the same check written in Python, next to each other, so the
two cannot drift apart silently: the unit tests run a table of invalid manifests through the Python checks and
the integration tests run the same table through the API server.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Rule:
    """One admission rule.

    `cel` runs in the API server with `self` bound to the value the rule is attached to; `check` is the Python
    twin, called with the same value (a model instance for object rules, the raw value for field rules) and
    returning True when the value is valid. A transition rule compares against the stored object: its CEL uses
    `oldSelf` and its Python twin is `transition(new, old)`. A create-only rule is not checked again on
    updates, so that objects stored before the rule existed (under KubeRay's CRD) can still be updated.
    """

    cel: str
    message: str
    check: Callable[[Any], bool] | None = None
    transition: Callable[[Any, Any], bool] | None = None
    # Where the API server reports the error, relative to the value the rule is attached to (".minReplicas").
    field_path: str | None = None
    on_create_only: bool = False

    def __post_init__(self) -> None:
        if (self.check is None) == (self.transition is None):
            raise ValueError("a Rule needs exactly one of check and transition")

    def to_openapi(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.cel, "message": self.message}
        if self.on_create_only:
            # oldSelf is an empty optional on a create and holds the stored value on an update.
            out = {
                "rule": f"oldSelf.hasValue() || ({self.cel})",
                "message": self.message,
                "optionalOldSelf": True,
            }
        if self.field_path:
            out["fieldPath"] = self.field_path
        return out


# eq=False: hashed by identity, as typing hashes Annotated metadata and the mappings here are not hashable.
@dataclass(frozen=True, eq=False)
class Schema:
    """OpenAPI facts about a field that its Python type does not say."""

    rules: tuple[Rule, ...] = ()
    # "int32" or "int64" for integers, "date-time" for timestamps.
    format: str | None = None
    # Structure exposed under a `dict[str, Any]` (which the API server keeps unchecked) so that CEL rules can
    # reach into it: raw OpenAPI properties.
    properties: Mapping[str, Any] = field(default_factory=dict)
    nullable: bool = False
    # Further OpenAPI keys copied as they are (x-kubernetes-list-type and the like).
    openapi: Mapping[str, Any] = field(default_factory=dict)


def one_of(values: tuple[str, ...], message: str) -> Schema:
    """A string limited to `values`, checked by a rule so that the user reads `message`."""
    allowed = ", ".join(f"'{v}'" for v in values)
    return Schema(rules=(Rule(cel=f"self in [{allowed}]", message=message, check=lambda v: v in values),))


def at_least(minimum: int, message: str) -> Schema:
    """An integer no smaller than `minimum`."""
    return Schema(rules=(Rule(cel=f"self >= {minimum}", message=message, check=lambda v: v >= minimum),))
