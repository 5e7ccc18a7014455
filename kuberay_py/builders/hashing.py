"""The template hash: a short fingerprint of everything that defines a pod as built.

Each built pod carries it in the annotation `kuberay-py.io/template-hash`. A running pod whose annotation
differs from that of a pod built now from the current RayCluster is out of date and must be replaced.

The hash covers the pod's labels, annotations and spec as the builders made them: the group's template,
rayStartParams, resources and labels, the generated command, environment, probes and volumes, the autoscaler
sidecar of the head, ... It leaves out what does not change a pod: replicas, minReplicas, maxReplicas,
workersToDelete, suspend, status and generation are not part of a pod at all; the namespace and the owner
reference are fixed for a cluster's life; and the labels that place one pod in a multi-host replica differ
between pods of the same template.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.builders.labels import HOST_INDEX_LABEL, REPLICA_NAME_LABEL

TEMPLATE_HASH_ANNOTATION: Final = "kuberay-py.io/template-hash"
HASH_LENGTH: Final = 16
_PER_POD_LABELS: Final = frozenset({REPLICA_NAME_LABEL, HOST_INDEX_LABEL})


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def template_hash(pod: Mapping[str, Any]) -> str:
    """The hash of a pod as the builders return it (16 hex characters).

    Compute it on built pods only: the API server adds defaults to stored pods, so compare a stored pod's
    `recorded_template_hash` with the hash of a freshly built one instead.
    """
    metadata = _mapping(pod.get("metadata"))
    labels = {k: v for k, v in _mapping(metadata.get("labels")).items() if k not in _PER_POD_LABELS}
    annotations = {
        k: v for k, v in _mapping(metadata.get("annotations")).items() if k != TEMPLATE_HASH_ANNOTATION
    }
    defining = {"labels": labels, "annotations": annotations, "spec": pod.get("spec")}
    canonical = json.dumps(defining, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def recorded_template_hash(pod: Mapping[str, Any]) -> str | None:
    """The hash a pod was built with (its annotation), None for a pod built without one."""
    annotations = _mapping(_mapping(pod.get("metadata")).get("annotations"))
    value = annotations.get(TEMPLATE_HASH_ANNOTATION)
    return value if isinstance(value, str) else None


def stamp_template_hash(pod: dict[str, Any]) -> dict[str, Any]:
    """Record the pod's own hash in its annotations; returns the pod."""
    digest = template_hash(pod)
    metadata = pod.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), TEMPLATE_HASH_ANNOTATION: digest}
    return pod
