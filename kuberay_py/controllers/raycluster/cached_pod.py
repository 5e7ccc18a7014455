"""What the operator's cache keeps of each Ray pod: only the fields this controller reads.

A pod as the API server returns it carries containers with their environment, probes and commands, volumes,
tolerations and container statuses, most of which the controller never reads. The cache keeps the handful of
fields `pod_facts` and `status` read and drops the rest, which is what lets one operator process hold
thousands of pods (benchmarks/RESULTS.md has its memory at thousands of pods). Reading another pod field in
the controller means keeping it here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kuberay_py.runtime import default_transform
from kuberay_py.runtime.objects import Obj

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
SPEC_FIELDS = ("nodeName", "restartPolicy")
STATUS_FIELDS = ("phase", "podIP")
CONDITION_FIELDS = ("type", "status")
# The head pod's Ready condition is copied into the RayCluster's HeadPodReady, reason and message too.
HEAD_READY_FIELDS = ("type", "status", "reason", "message")


def _pick(source: Mapping[str, Any] | None, fields: Iterable[str]) -> Obj:
    return {name: source[name] for name in fields if name in source} if source else {}


def _slim_container_status(status: Mapping[str, Any]) -> Obj:
    """A container's name and whether it has terminated, with its exit code: how a dead Ray is seen."""
    slim: Obj = {"name": status.get("name")}
    terminated = (status.get("state") or {}).get("terminated")
    if terminated is not None:
        slim["state"] = {"terminated": _pick(terminated, ("exitCode", "reason"))}
    return slim


def slim_pod(pod: Obj) -> Obj:
    """The cached form of `pod`: identity, labels, annotations, owners, timestamps, node, restart policy, the
    Ray container's name, phase, IP, conditions (their type and status; the head's Ready one whole) and which
    containers terminated."""
    slim: Obj = {
        "apiVersion": pod.get("apiVersion", "v1"),
        "kind": pod.get("kind", "Pod"),
        "metadata": _pick(pod.get("metadata"), METADATA_FIELDS),
    }
    full_spec = pod.get("spec") or {}
    spec = _pick(full_spec, SPEC_FIELDS)
    containers = full_spec.get("containers") or []
    if containers:
        spec["containers"] = [{"name": containers[0].get("name")}]  # the Ray container's name
    if spec:
        slim["spec"] = spec
    status = pod.get("status")
    if status:
        kept = _pick(status, STATUS_FIELDS)
        if "conditions" in status:
            head = (slim["metadata"].get("labels") or {}).get("ray.io/node-type") == "head"
            kept["conditions"] = [
                _pick(c, HEAD_READY_FIELDS if head and c.get("type") == "Ready" else CONDITION_FIELDS)
                for c in status["conditions"] or []
            ]
        if "containerStatuses" in status:
            kept["containerStatuses"] = [_slim_container_status(c) for c in status["containerStatuses"] or []]
        slim["status"] = kept
    return default_transform(slim)
