"""What the RayCluster and the RayJob controller read and write alike on the objects they reconcile."""

from __future__ import annotations

from kuberay_py.api.enums import ManagedBy
from kuberay_py.runtime.objects import Obj, controller_of, metadata


def managed_elsewhere(obj: Obj) -> bool:
    """Whether `spec.managedBy` hands the object to another controller, which this operator then leaves
    alone (as KubeRay does for MultiKueue)."""
    managed_by = (obj.get("spec") or {}).get("managedBy")
    return bool(managed_by) and managed_by != ManagedBy.KUBERAY_OPERATOR


def controlled_by(obj: Obj, uid: str | None) -> bool:
    """Whether the object's controller ownerReference names the owner with this uid."""
    owner = controller_of(obj)
    return owner is not None and owner.get("uid") == uid


def finalizers_of(obj: Obj) -> list[str]:
    """A copy of the object's finalizers, to build the new list from."""
    return list(metadata(obj).get("finalizers") or [])


def guarded_patch(obj: Obj, patch: Obj) -> Obj:
    """The merge patch with the resourceVersion `obj` was read at: if the object changed since, the write
    fails with Conflict instead of overwriting what it did not see."""
    meta = {**patch.get("metadata", {}), "resourceVersion": obj["metadata"]["resourceVersion"]}
    return {**patch, "metadata": meta}
