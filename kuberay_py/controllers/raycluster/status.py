"""The RayCluster status as a pure function of the spec, the cached pods and Service, and what the last
reconcile ran into. It must tell the truth at every moment: `state: ready` only while the head and every
desired worker are Running and Ready, and gone again as soon as that stops being so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kuberay_py.api import ClusterState, RayCluster
from kuberay_py.api.constants import INT32_MAX
from kuberay_py.controllers.raycluster.conditions import ConditionUpdate, merge_conditions
from kuberay_py.controllers.raycluster.pod_facts import (
    Pod,
    group_of,
    is_active,
    is_head,
    is_ready,
    is_running,
)
from kuberay_py.controllers.raycluster.vocabulary import ConditionReason, ConditionType

# Fields written on every status write, whatever else changed.
VOLATILE_FIELDS = ("lastUpdateTime",)
# Every field the operator owns in `.status`: one that is not in a new status is cleared explicitly, so a
# patch is right even when it was computed against a cached object older than our previous write.
OWNED_FIELDS = (
    "state",
    "reason",
    "conditions",
    "readyWorkerReplicas",
    "availableWorkerReplicas",
    "desiredWorkerReplicas",
    "minWorkerReplicas",
    "maxWorkerReplicas",
    "desiredCPU",
    "desiredMemory",
    "desiredGPU",
    "desiredTPU",
    "endpoints",
    "head",
    "outdatedPods",
    "observedGeneration",
    "stateTransitionTimes",
)


@dataclass(slots=True)
class Observation:
    """What one reconcile saw and did, beyond the spec and the pods."""

    head_service: dict[str, Any] | None = None
    desired_resources: Mapping[str, str] = field(default_factory=dict)  # desiredCPU/Memory/GPU/TPU
    outdated_pods: int = 0
    failure: ConditionUpdate | None = None  # ReplicaFailure from creating or deleting pods
    problem: str | None = None  # another write that failed (a Service, RBAC): shown as the reason
    extra_conditions: list[ConditionUpdate] = field(default_factory=list)  # spec problems, unsupported fields


def compute_status(
    cluster: RayCluster, pods: list[Pod], previous: Mapping[str, Any], seen: Observation, now: str
) -> dict[str, Any]:
    spec = cluster.spec
    active = [p for p in pods if is_active(p)]
    heads = [p for p in active if is_head(p)]
    head = next((p for p in heads if is_ready(p)), heads[0] if heads else None)
    workers = [p for p in active if not is_head(p)]
    groups = spec.worker_groups()
    suspended = spec.is_suspended()

    ready_by_group: dict[str, int] = {}
    for pod in workers:
        if is_ready(pod):
            ready_by_group[group_of(pod)] = ready_by_group.get(group_of(pod), 0) + 1
    head_ready = head is not None and is_ready(head)
    missing_groups = [
        f"{g.group_name} {ready_by_group.get(g.group_name, 0)}/{g.desired_pods()}"
        for g in groups
        if ready_by_group.get(g.group_name, 0) < g.desired_pods()
    ]
    all_ready = not suspended and head_ready and not missing_groups

    status: dict[str, Any] = {
        "desiredWorkerReplicas": spec.desired_worker_pods(),
        "minWorkerReplicas": 0
        if suspended
        else sum(g.min_replicas * g.num_of_hosts for g in groups if not g.suspend),
        "maxWorkerReplicas": 0
        if suspended
        # The sum is capped too: two groups without maxReplicas would overflow the int32 status field.
        else _capped_max(sum(g.max_replicas * g.num_of_hosts for g in groups if not g.suspend)),
        "readyWorkerReplicas": sum(1 for p in workers if is_ready(p)),
        "availableWorkerReplicas": sum(1 for p in workers if is_running(p)),
        "outdatedPods": seen.outdated_pods,
        "observedGeneration": cluster.metadata.generation,
        **dict(seen.desired_resources),
    }
    service = seen.head_service
    endpoints = _endpoints(service)
    if endpoints:
        status["endpoints"] = endpoints
    head_info: dict[str, str] = {}
    head_ip = (head.get("status") or {}).get("podIP") if head is not None else None
    if head is not None:
        head_info["podName"] = head["metadata"]["name"]
        if head_ip:
            head_info["podIP"] = head_ip
    if service is not None:
        head_info["serviceName"] = service["metadata"]["name"]
        cluster_ip = (service.get("spec") or {}).get("clusterIP")
        # A headless Service has no address of its own: the head pod's stands for it.
        service_ip = head_ip if cluster_ip == "None" else cluster_ip
        if service_ip:
            head_info["serviceIP"] = service_ip
    if head_info:
        status["head"] = head_info

    state, reason = _state(suspended, bool(active), all_ready, head, head_ready, missing_groups)
    if state:
        status["state"] = state
    if seen.problem:
        reason = seen.problem
    if reason:
        status["reason"] = reason
    transitions = dict(previous.get("stateTransitionTimes") or {})
    if state and previous.get("state") != state:
        transitions[state] = now
    if transitions:
        status["stateTransitionTimes"] = transitions

    status["conditions"] = merge_conditions(
        previous.get("conditions"),
        _conditions(cluster, previous, seen, head, head_ready, all_ready, bool(active)),
        cluster.metadata.generation,
        now,
    )
    return status


def _endpoints(service: Mapping[str, Any] | None) -> dict[str, str]:
    """Each named port of the head Service: its node port when it has one, else its target port."""
    endpoints = {}
    for port in ((service or {}).get("spec") or {}).get("ports") or []:
        if not port.get("name"):
            continue
        # The API server sets targetPort to the port when it is left out.
        target = port.get("nodePort") or port.get("targetPort") or port.get("port")
        if target:
            endpoints[str(port["name"])] = str(target)
    return endpoints


def _capped_max(value: int) -> int:
    return min(value, INT32_MAX)


def _state(
    suspended: bool, any_pods: bool, all_ready: bool, head: Pod | None, head_ready: bool, missing: list[str]
) -> tuple[str | None, str | None]:
    if suspended:
        return (ClusterState.SUSPENDED, None) if not any_pods else (None, "suspending: deleting pods")
    if all_ready:
        return ClusterState.READY, None
    if head is None:
        return None, "head pod missing"
    if not head_ready:
        return None, "head pod not ready"
    return None, "workers not ready: " + ", ".join(missing)


def _conditions(
    cluster: RayCluster,
    previous: Mapping[str, Any],
    seen: Observation,
    head: Pod | None,
    head_ready: bool,
    all_ready: bool,
    any_pods: bool,
) -> list[ConditionUpdate]:
    """KubeRay's conditions, with its reasons and messages, then our own."""
    before = {c.get("type"): c for c in previous.get("conditions") or []}
    suspended = cluster.spec.is_suspended()
    updates = [_head_pod_ready(head)]
    # Provisioned is a one-way latch (the first time every pod was ready) that a completed suspension resets.
    if suspended and not any_pods:
        updates.append(
            ConditionUpdate(
                ConditionType.PROVISIONED,
                False,
                ConditionReason.PODS_PROVISIONING,
                "RayCluster has been suspended",
            )
        )
    elif all_ready or (before.get(ConditionType.PROVISIONED) or {}).get("status") == "True":
        updates.append(
            ConditionUpdate(
                ConditionType.PROVISIONED,
                True,
                ConditionReason.ALL_READY_FIRST_TIME,
                "All Ray Pods are ready for the first time",
            )
        )
    else:
        message = "RayCluster Pods are being provisioned for first time"
        updates.append(
            ConditionUpdate(ConditionType.PROVISIONED, False, ConditionReason.PODS_PROVISIONING, message)
        )
    if seen.failure is not None:
        updates.append(seen.failure)
    # Always present, as in KubeRay: Suspending while pods of a suspended cluster remain, then Suspended.
    updates.append(
        ConditionUpdate(ConditionType.SUSPENDED, suspended and not any_pods, ConditionType.SUSPENDED.value)
    )
    updates.append(
        ConditionUpdate(ConditionType.SUSPENDING, suspended and any_pods, ConditionType.SUSPENDING.value)
    )
    if seen.outdated_pods:
        message = f"{seen.outdated_pods} pod(s) run an outdated template"
        updates.append(
            ConditionUpdate(ConditionType.PODS_UP_TO_DATE, False, ConditionReason.OUTDATED_TEMPLATE, message)
        )
    elif ConditionType.PODS_UP_TO_DATE in before:
        updates.append(
            ConditionUpdate(ConditionType.PODS_UP_TO_DATE, True, ConditionReason.ALL_PODS_UP_TO_DATE)
        )
    updates.extend(seen.extra_conditions)
    return updates


def _head_pod_ready(head: Pod | None) -> ConditionUpdate:
    """HeadPodReady: the head pod's own Ready condition, its reason and message included."""
    if head is None:
        return ConditionUpdate(
            ConditionType.HEAD_POD_READY, False, ConditionReason.HEAD_POD_NOT_FOUND, "Head Pod not found"
        )
    conditions = (head.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        return ConditionUpdate(ConditionType.HEAD_POD_READY, False, ConditionReason.UNKNOWN)
    status = ready.get("status") == "True"
    reason = ready.get("reason") or (
        ConditionReason.HEAD_POD_RUNNING_AND_READY if status else ConditionReason.UNKNOWN
    )
    return ConditionUpdate(ConditionType.HEAD_POD_READY, status, reason, ready.get("message") or "")


def invalid_spec_status(
    previous: Mapping[str, Any], generation: int | None, message: str, now: str
) -> dict[str, Any]:
    """The status of a cluster whose spec cannot be acted on: the last status with SpecValid=False naming the
    problems, which are the reason too, and no state (nothing is created or deleted for it)."""
    kept = [
        ConditionUpdate(c["type"], c.get("status") == "True", c.get("reason", ""), c.get("message", ""))
        for c in previous.get("conditions") or []
        if c.get("type") != ConditionType.SPEC_VALID
    ]
    invalid = ConditionUpdate(ConditionType.SPEC_VALID, False, ConditionReason.INVALID_SPEC, message)
    status = {
        **previous,
        "conditions": merge_conditions(previous.get("conditions"), [*kept, invalid], generation, now),
        "observedGeneration": generation,
        "reason": message,
    }
    status.pop("state", None)
    return status


def status_changed(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether writing `desired` would change anything but the timestamp of the write itself."""

    def essentials(status: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in status.items() if k not in VOLATILE_FIELDS}

    return essentials(current) != essentials(desired)


def status_patch(current: Mapping[str, Any], desired: Mapping[str, Any], now: str) -> dict[str, Any]:
    """A merge patch that turns `current` into `desired` (null removes fields that are gone)."""
    patch: dict[str, Any] = {k: None for k in (*current, *OWNED_FIELDS) if k not in desired}
    patch.update(desired)
    # A merge patch merges nested maps: clear keys of stateTransitionTimes/head/endpoints that disappeared.
    for key in ("head", "endpoints"):
        old, new = current.get(key), desired.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            patch[key] = {**{k: None for k in old if k not in new}, **new}
    patch["lastUpdateTime"] = now
    return patch
