"""Helpers for Kubernetes objects held as plain JSON dicts.

Objects handed out by the cache are shared, not copied: treat them as read-only and :func:`clone` one before
changing it. The helpers here never mutate their argument.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from kuberay_py.runtime.resources import ObjectKey

Obj = dict[str, Any]
"""A Kubernetes object as the API returns it (JSON decoded)."""

T = TypeVar("T")


def clone(value: T) -> T:
    """A deep copy of JSON data (dicts, lists and scalars); cheaper than ``copy.deepcopy``, which handles
    any object and keeps a memo of what it copied."""
    return cast(T, _clone(value))


def _clone(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def metadata(obj: Obj) -> dict[str, Any]:
    """The object's ``metadata`` (an empty dict when missing)."""
    meta: dict[str, Any] = obj.get("metadata") or {}
    return meta


def name_of(obj: Obj) -> str:
    return str(metadata(obj).get("name", ""))


def namespace_of(obj: Obj) -> str:
    return str(metadata(obj).get("namespace", ""))


def uid_of(obj: Obj) -> str:
    return str(metadata(obj).get("uid", ""))


def labels_of(obj: Obj) -> dict[str, str]:
    labels: dict[str, str] = metadata(obj).get("labels") or {}
    return labels


def version_number(resource_version: str | None) -> int:
    """A resourceVersion as a number, to order what one API server returned (0 when absent or not a number).

    The API calls them opaque, but kube-apiserver's are etcd revisions: a later write has a larger one.
    """
    try:
        return int(resource_version or 0)
    except ValueError:
        return 0


def resource_version_number(obj: Obj) -> int:
    """The object's resourceVersion as a number (see :func:`version_number`)."""
    return version_number(metadata(obj).get("resourceVersion"))


def key_of(obj: Obj) -> ObjectKey:
    """The namespace/name key of an object."""
    meta = metadata(obj)
    return ObjectKey(meta.get("namespace", ""), meta.get("name", ""))


def is_deleting(obj: Obj) -> bool:
    """Whether the object has a deletion timestamp (it waits only for its finalizers)."""
    return bool(metadata(obj).get("deletionTimestamp"))


def controller_of(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference marked ``controller: true``, if any."""
    for ref in metadata(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            owner: dict[str, Any] = ref
            return owner
    return None


def owner_reference(
    owner: Obj, *, controller: bool = True, block_owner_deletion: bool = True
) -> dict[str, Any]:
    """An ownerReference pointing at ``owner``, to put in a child's ``metadata.ownerReferences``."""
    meta = metadata(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": block_owner_deletion,
    }


def object_reference(obj: Obj) -> dict[str, Any]:
    """A core/v1 ObjectReference to ``obj`` (as used by Events' ``regarding``)."""
    meta = metadata(obj)
    ref: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
    }
    for field in ("namespace", "uid", "resourceVersion"):
        if meta.get(field):
            ref[field] = meta[field]
    return ref


def job_finished(job: Obj) -> dict[str, Any] | None:
    """A batch/v1 Job's finishing condition (type Complete or Failed, status True), once it has one."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            found: dict[str, Any] = condition
            return found
    return None


def now_rfc3339() -> str:
    """The current time in the API's second-precision format (``metav1.Time``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    """The current time in the API's microsecond format (``metav1.MicroTime``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """Parse ``metav1.Time`` or ``metav1.MicroTime`` text into an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
