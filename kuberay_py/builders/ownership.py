"""Metadata every built object shares: namespace, labels, and the controller reference to the RayCluster."""

from typing import Any

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import API_VERSION, KIND
from kuberay_py.api.metadata import ApiObject
from kuberay_py.builders.names import namespace_of
from kuberay_py.builders.options import BuildOptions


def controller_references(owner: ApiObject, kind: str) -> list[dict[str, Any]]:
    """`owner` (a `kind` of ray.io/v1) as controller of the object, so that deleting it deletes the object.

    Empty for an owner without a uid (a manifest not yet applied): a reference needs one.
    """
    uid = owner.metadata.uid
    if not uid:
        return []
    reference = {"apiVersion": API_VERSION, "kind": kind, "name": owner.name, "uid": uid}
    return [{**reference, "controller": True, "blockOwnerDeletion": True}]


def owner_references(cluster: RayCluster) -> list[dict[str, Any]]:
    """The RayCluster as controller of the object."""
    return controller_references(cluster, KIND)


def object_metadata(
    cluster: RayCluster,
    options: BuildOptions,
    *,
    name: str | None = None,
    generate_name: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """ObjectMeta of an object owned by the cluster, with only the fields that have a value."""
    metadata: dict[str, Any] = {}
    if name:
        metadata["name"] = name
    if generate_name:
        metadata["generateName"] = generate_name
    metadata["namespace"] = namespace_of(cluster, options)
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    references = owner_references(cluster)
    if references:
        metadata["ownerReferences"] = references
    return metadata
