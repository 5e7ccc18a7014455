"""`managedBy`, which RayClusters and RayJobs both have: who reconciles the object, fixed at its creation."""

from typing import Annotated, Protocol

from kuberay_py.api import messages as m
from kuberay_py.api.enums import ManagedBy, values
from kuberay_py.api.markers import Rule, one_of
from kuberay_py.api.types import Str

ManagedByName = Annotated[Str, one_of(values(ManagedBy), m.MANAGED_BY_UNKNOWN)]


class _Managed(Protocol):
    managed_by: str | None


def _kept(new: _Managed, old: _Managed) -> bool:
    return new.managed_by == old.managed_by


def managed_by_kept(message: str) -> Rule:
    """The transition rule of a spec with a `managedBy` field: it is never added, changed or removed, so that
    two controllers never take turns on one object."""
    return Rule(
        cel="(has(self.managedBy) ? self.managedBy : '') == "
        "(has(oldSelf.managedBy) ? oldSelf.managedBy : '')",
        message=message,
        transition=_kept,
        field_path=".managedBy",
    )
