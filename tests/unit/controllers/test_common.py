"""What both controllers read and write alike: managedBy, the controller owner, finalizers, patch guards."""

from __future__ import annotations

from kuberay_py.api import ManagedBy
from kuberay_py.controllers.common import controlled_by, finalizers_of, guarded_patch, managed_elsewhere
from kuberay_py.runtime.objects import Obj


def _obj(**metadata: object) -> Obj:
    return {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7", **metadata}, "spec": {}}


def test_only_another_controller_named_in_managed_by_takes_an_object_away() -> None:
    assert not managed_elsewhere(_obj())
    assert not managed_elsewhere({**_obj(), "spec": {"managedBy": ManagedBy.KUBERAY_OPERATOR.value}})
    assert not managed_elsewhere({**_obj(), "spec": {"managedBy": ""}})
    assert managed_elsewhere({**_obj(), "spec": {"managedBy": "kueue.x-k8s.io/multikueue"}})


def test_only_the_controller_reference_counts_as_the_owner() -> None:
    owners = [{"uid": "other", "controller": False}, {"uid": "mine", "controller": True}]
    assert controlled_by(_obj(ownerReferences=owners), "mine")
    assert not controlled_by(_obj(ownerReferences=owners), "other")
    assert not controlled_by(_obj(), "mine")


def test_finalizers_are_a_copy_to_build_the_new_list_from() -> None:
    obj = _obj(finalizers=["x"])
    finalizers = finalizers_of(obj)
    finalizers.append("y")
    assert obj["metadata"]["finalizers"] == ["x"] and finalizers_of(_obj()) == []


def test_a_guarded_patch_carries_the_version_it_was_computed_from() -> None:
    patch = guarded_patch(_obj(), {"metadata": {"finalizers": []}, "status": {"state": "ready"}})
    assert patch == {"metadata": {"finalizers": [], "resourceVersion": "7"}, "status": {"state": "ready"}}
    assert guarded_patch(_obj(), {"spec": {}}) == {"spec": {}, "metadata": {"resourceVersion": "7"}}
