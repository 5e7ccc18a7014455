"""What the reconciler needs to know about one pod, read from the pod as the API server has it."""

from __future__ import annotations

from kuberay_py.api.constants import HEAD_GROUP_NAME
from kuberay_py.builders import GROUP_LABEL, NODE_TYPE_LABEL, recorded_template_hash
from kuberay_py.runtime.objects import Obj, is_deleting, labels_of, name_of

Pod = Obj

TERMINAL_PHASES = frozenset({"Failed", "Succeeded"})


def group_of(pod: Pod) -> str:
    """The pod's group: `headgroup` for the head, else the worker group name."""
    labels = labels_of(pod)
    if labels.get(NODE_TYPE_LABEL) == "head":
        return HEAD_GROUP_NAME
    return labels.get(GROUP_LABEL, "")


def is_head(pod: Pod) -> bool:
    return labels_of(pod).get(NODE_TYPE_LABEL) == "head"


def phase_of(pod: Pod) -> str:
    return str((pod.get("status") or {}).get("phase", "Pending"))


def is_terminal(pod: Pod) -> bool:
    return phase_of(pod) in TERMINAL_PHASES


def ray_container_exited(pod: Pod) -> bool:
    """The Ray container (the pod's first) terminated and its restart policy will not start it again: the
    pod may still be Running because of a sidecar, but it is no Ray node any more."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    containers = spec.get("containers") or []
    if policy == "Always" or not containers:
        return False
    ray = containers[0].get("name")
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != ray:
            continue
        terminated = (status.get("state") or {}).get("terminated")
        if terminated is None:
            return False
        return policy == "Never" or terminated.get("exitCode") == 0
    return False


def is_finished(pod: Pod) -> bool:
    """Done for good: the pod failed or succeeded, or its Ray container exited and will not restart."""
    return is_terminal(pod) or ray_container_exited(pod)


def is_active(pod: Pod) -> bool:
    """Counts toward the desired number: not being deleted and not finished."""
    return not is_deleting(pod) and not is_finished(pod)


def is_running(pod: Pod) -> bool:
    return phase_of(pod) == "Running" and not is_deleting(pod)


def is_ready(pod: Pod) -> bool:
    if not is_running(pod):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def template_hash_of(pod: Pod) -> str | None:
    return recorded_template_hash(pod)


def created_at(pod: Pod) -> str:
    return str(pod["metadata"].get("creationTimestamp", ""))


def removal_order(pods: list[Pod]) -> list[Pod]:
    """Pods in the order to remove them: unscheduled, then pending, then unready, then ready; newest first
    within each rank, so that the pods doing real work the longest stay."""
    newest_first = sorted(pods, key=lambda p: (created_at(p), name_of(p)), reverse=True)
    return sorted(newest_first, key=_removal_rank)  # stable: keeps newest-first within a rank


def _removal_rank(pod: Pod) -> int:
    if not (pod.get("spec") or {}).get("nodeName"):
        return 0
    if phase_of(pod) == "Pending":
        return 1
    return 2 if not is_ready(pod) else 3
