"""What the operator's cache keeps of each Ray pod: only the fields this controller reads.

A pod as the API server returns it is about 12 KB of JSON (containers with their environment, probes and
commands, volumes, tolerations, container statuses), some 20 KB as Python objects even with strings shared.
The controller reads a handful of its fields (see `podstate` and `status`), so the cache keeps those and
drops the rest, which is what lets one operator process hold thousands of pods. Reading another pod field in
the controller means keeping it here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kuberay_py.runtime import default_transform

Obj = dict[str, Any]

METADATA_FIELDS = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "labels",
    "annotations",
    "ownerReferences",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
SPEC_FIELDS = ("nodeName",)
STATUS_FIELDS = ("phase", "podIP")
CONDITION_FIELDS = ("type", "status")


def _pick(source: Mapping[str, Any] | None, fields: Iterable[str]) -> Obj:
    return {name: source[name] for name in fields if name in source} if source else {}


def slim_pod(pod: Obj) -> Obj:
    """The cached form of `pod`: identity, labels, annotations, owners, timestamps, node, phase, IP and
    conditions (their type and status)."""
    slim: Obj = {
        "apiVersion": pod.get("apiVersion", "v1"),
        "kind": pod.get("kind", "Pod"),
        "metadata": _pick(pod.get("metadata"), METADATA_FIELDS),
    }
    spec = _pick(pod.get("spec"), SPEC_FIELDS)
    if spec:
        slim["spec"] = spec
    status = pod.get("status")
    if status:
        kept = _pick(status, STATUS_FIELDS)
        if "conditions" in status:
            kept["conditions"] = [_pick(c, CONDITION_FIELDS) for c in status["conditions"] or []]
        slim["status"] = kept
    return default_transform(slim)
