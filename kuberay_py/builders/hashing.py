"""The template hash: a short fingerprint of what the user wrote to define a group's pods.

Each built pod carries it in the annotation `kuberay-py.io/template-hash`. A running pod whose annotation
differs from its group's hash now was made from an older template and is replaced per `upgradeStrategy`.

The hash covers the user's input, never the operator's rendering of it: an operator upgrade that changes what
the builders emit, or removing another worker group, restarts nothing. For a worker group it covers the group
(template, rayStartParams, resources, labels, numOfHosts, ...) without what only scales it (replicas,
minReplicas, maxReplicas, scaleStrategy, suspend, idleTimeoutSeconds), plus whether autoscaling is on and
which autoscaler version runs; for the head, the head group and the autoscaler options that shape its
sidecar. `rayVersion` alone is left out: it describes the images, and a new image is a template change.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.api import RayCluster, WorkerGroupSpec

TEMPLATE_HASH_ANNOTATION: Final = "kuberay-py.io/template-hash"
HASH_LENGTH: Final = 16
_SCALE_FIELDS: Final = frozenset(
    {"replicas", "minReplicas", "maxReplicas", "scaleStrategy", "suspend", "idleTimeoutSeconds"}
)
# Read by the autoscaler from the RayCluster while it runs, not from its pod.
_RUNTIME_AUTOSCALER_OPTIONS: Final = frozenset({"idleTimeoutSeconds", "upscalingMode"})


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _digest(defining: object) -> str:
    canonical = json.dumps(defining, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def _autoscaler_options(cluster: RayCluster) -> dict[str, Any]:
    options = cluster.spec.autoscaler_options
    if options is None:
        return {}
    dumped = options.model_dump(by_alias=True, exclude_none=True, mode="json")
    return {k: v for k, v in dumped.items() if k not in _RUNTIME_AUTOSCALER_OPTIONS}


def group_template_hash(cluster: RayCluster, group: WorkerGroupSpec | None) -> str:
    """The hash of the head group's input (`group` None) or of one worker group's (16 hex characters)."""
    autoscaling = cluster.spec.autoscaling_enabled()
    options = _autoscaler_options(cluster) if autoscaling else {}
    if group is None:
        head = cluster.spec.head_group_spec.model_dump(by_alias=True, exclude_none=True, mode="json")
        return _digest({"head": head, "autoscaling": autoscaling, "autoscaler": options})
    worker = group.model_dump(by_alias=True, exclude_none=True, mode="json")
    defining = {k: v for k, v in worker.items() if k not in _SCALE_FIELDS}
    return _digest({"worker": defining, "autoscaling": autoscaling, "version": options.get("version")})


def recorded_template_hash(pod: Mapping[str, Any]) -> str | None:
    """The hash a pod was built with (its annotation), None for a pod built without one."""
    annotations = _mapping(_mapping(pod.get("metadata")).get("annotations"))
    value = annotations.get(TEMPLATE_HASH_ANNOTATION)
    return value if isinstance(value, str) else None


def stamp_template_hash(pod: dict[str, Any], digest: str) -> dict[str, Any]:
    """Record `digest` in the pod's annotations; returns the pod."""
    metadata = pod.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), TEMPLATE_HASH_ANNOTATION: digest}
    return pod
