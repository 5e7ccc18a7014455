"""Status computation: truthful state, conditions, counts, and writes only when something changed."""

from __future__ import annotations

from typing import Any

from kuberay_py.controllers.raycluster.cached_pod import slim_pod
from kuberay_py.controllers.raycluster.conditions import ConditionUpdate
from kuberay_py.controllers.raycluster.status import Observation, compute_status, status_changed, status_patch
from tests.unit.controllers.podfactory import cluster, pod

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:05:00Z"
SERVICE = {
    "metadata": {"name": "demo-head-svc"},
    "spec": {
        "clusterIP": "10.96.0.10",
        "ports": [{"name": "gcs-server", "port": 6379}, {"name": "dashboard", "port": 8265}],
    },
}


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_ready_only_when_head_and_every_desired_worker_are_ready() -> None:
    rc = cluster({"groupName": "small", "replicas": 2}, {"groupName": "big", "replicas": 1})
    pods = [pod("headgroup"), pod("small"), pod("small"), pod("big")]
    status = compute_status(rc, pods, {}, Observation(head_service=SERVICE), NOW)
    assert status["state"] == "ready" and "reason" not in status
    assert status["readyWorkerReplicas"] == 3 and status["availableWorkerReplicas"] == 3
    assert status["desiredWorkerReplicas"] == 3
    assert status["endpoints"] == {"gcs-server": "6379", "dashboard": "8265"}
    assert (
        status["head"]["serviceIP"] == "10.96.0.10"
        and status["head"]["podName"] == pods[0]["metadata"]["name"]
    )
    assert conditions(status) == {
        "HeadPodReady": "True",
        "RayClusterProvisioned": "True",
        "RayClusterSuspended": "False",
        "RayClusterSuspending": "False",
    }
    assert status["stateTransitionTimes"] == {"ready": NOW}

    # One worker of `big` becomes unready: not ready any more, and the reason names the group.
    pods[3] = pod("big", ready=False)
    degraded = compute_status(rc, pods, status, Observation(head_service=SERVICE), LATER)
    assert "state" not in degraded
    assert degraded["reason"] == "workers not ready: big 0/1"
    assert degraded["readyWorkerReplicas"] == 2 and degraded["availableWorkerReplicas"] == 3
    # Provisioned is a latch: it stays True.
    assert conditions(degraded)["RayClusterProvisioned"] == "True"
    assert degraded["stateTransitionTimes"] == {"ready": NOW}


def test_head_problems_are_named() -> None:
    rc = cluster({"groupName": "small", "replicas": 1})
    missing = compute_status(rc, [pod("small")], {}, Observation(), NOW)
    assert missing["reason"] == "head pod missing" and conditions(missing)["HeadPodReady"] == "False"
    unready = compute_status(rc, [pod("headgroup", ready=False), pod("small")], {}, Observation(), NOW)
    assert unready["reason"] == "head pod not ready"
    assert conditions(unready)["RayClusterProvisioned"] == "False"


def test_pods_being_deleted_do_not_count() -> None:
    rc = cluster({"groupName": "small", "replicas": 2})
    status = compute_status(
        rc, [pod("headgroup"), pod("small"), pod("small", deleting=True)], {}, Observation(), NOW
    )
    assert status["readyWorkerReplicas"] == 1 and "state" not in status


def test_suspended_cluster_reports_suspending_then_suspended() -> None:
    rc = cluster({"groupName": "small", "replicas": 2}, suspend=True)
    suspending = compute_status(rc, [pod("headgroup", deleting=True), pod("small")], {}, Observation(), NOW)
    assert "state" not in suspending
    assert conditions(suspending)["RayClusterSuspending"] == "True"
    suspended = compute_status(rc, [], suspending, Observation(), LATER)
    assert suspended["state"] == "suspended" and suspended["desiredWorkerReplicas"] == 0
    assert conditions(suspended)["RayClusterSuspended"] == "True"
    assert conditions(suspended)["RayClusterSuspending"] == "False"
    resumed = compute_status(
        cluster({"groupName": "small", "replicas": 2}), [], suspended, Observation(), LATER
    )
    assert conditions(resumed)["RayClusterSuspended"] == "False"


def by_type(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_a_cluster_that_is_not_suspended_carries_kuberays_suspend_conditions_as_false() -> None:
    status = compute_status(cluster({"groupName": "small", "replicas": 1}), [], {}, Observation(), NOW)
    found = by_type(status)
    assert (found["RayClusterSuspended"]["status"], found["RayClusterSuspended"]["reason"]) == (
        "False",
        "RayClusterSuspended",
    )
    assert (found["RayClusterSuspending"]["status"], found["RayClusterSuspending"]["reason"]) == (
        "False",
        "RayClusterSuspending",
    )
    assert found["RayClusterSuspended"]["message"] == "" and found["RayClusterSuspending"]["message"] == ""
    assert [c["type"] for c in status["conditions"]][:4] == [
        "HeadPodReady",
        "RayClusterProvisioned",
        "RayClusterSuspended",
        "RayClusterSuspending",
    ]


def test_kuberays_reasons_and_messages_through_a_suspension() -> None:
    groups = ({"groupName": "small", "replicas": 1},)
    pods = [pod("headgroup"), pod("small")]
    ready = compute_status(cluster(*groups), pods, {}, Observation(), NOW)
    assert by_type(ready)["RayClusterProvisioned"]["reason"] == "AllPodRunningAndReadyFirstTime"
    assert by_type(ready)["RayClusterProvisioned"]["message"] == "All Ray Pods are ready for the first time"

    suspending = compute_status(cluster(*groups, suspend=True), pods, ready, Observation(), LATER)
    found = by_type(suspending)
    assert (found["RayClusterSuspending"]["status"], found["RayClusterSuspending"]["reason"]) == (
        "True",
        "RayClusterSuspending",
    )
    assert found["RayClusterSuspended"]["status"] == "False"
    assert found["RayClusterProvisioned"]["status"] == "True", "kept while pods are still being deleted"

    suspended = compute_status(cluster(*groups, suspend=True), [], suspending, Observation(), LATER)
    found = by_type(suspended)
    assert (found["RayClusterSuspended"]["status"], found["RayClusterSuspended"]["reason"]) == (
        "True",
        "RayClusterSuspended",
    )
    assert found["RayClusterSuspending"]["status"] == "False"
    assert (found["RayClusterProvisioned"]["status"], found["RayClusterProvisioned"]["message"]) == (
        "False",
        "RayCluster has been suspended",
    )
    assert found["RayClusterProvisioned"]["reason"] == "RayClusterPodsProvisioning"

    # Resumed: provisioning again until every pod is ready once more.
    resumed = compute_status(
        cluster(*groups), [pod("headgroup", ready=False)], suspended, Observation(), LATER
    )
    found = by_type(resumed)
    assert found["RayClusterSuspended"]["status"] == "False"
    assert found["RayClusterProvisioned"]["message"] == "RayCluster Pods are being provisioned for first time"
    again = compute_status(cluster(*groups), pods, resumed, Observation(), LATER)
    assert by_type(again)["RayClusterProvisioned"]["status"] == "True"


def test_head_pod_ready_is_the_head_pods_own_ready_condition() -> None:
    rc = cluster()
    missing = by_type(compute_status(rc, [], {}, Observation(), NOW))["HeadPodReady"]
    assert (missing["status"], missing["reason"], missing["message"]) == (
        "False",
        "HeadPodNotFound",
        "Head Pod not found",
    )
    head = pod("headgroup", ready=False)
    head["status"]["conditions"] = [
        {
            "type": "Ready",
            "status": "False",
            "reason": "ContainersNotReady",
            "message": "containers with unready status: [ray-head]",
        }
    ]
    unready = by_type(compute_status(rc, [head], {}, Observation(), NOW))["HeadPodReady"]
    assert (unready["status"], unready["reason"], unready["message"]) == (
        "False",
        "ContainersNotReady",
        "containers with unready status: [ray-head]",
    )
    pending = pod("headgroup", phase="Pending")
    unknown = by_type(compute_status(rc, [pending], {}, Observation(), NOW))["HeadPodReady"]
    assert (unknown["status"], unknown["reason"]) == ("False", "Unknown")
    ready = by_type(compute_status(rc, [pod("headgroup")], {}, Observation(), NOW))["HeadPodReady"]
    assert (ready["status"], ready["reason"]) == ("True", "HeadPodRunningAndReady")


def test_failures_outdated_pods_and_extra_conditions_are_reported() -> None:
    rc = cluster({"groupName": "small", "replicas": 1})
    failure = ConditionUpdate(
        "ReplicaFailure", True, "FailedCreateWorkerPod", "creating pods failed: forbidden"
    )
    seen = Observation(
        outdated_pods=2, failure=failure, extra_conditions=[ConditionUpdate("SpecValid", True, "Valid")]
    )
    status = compute_status(rc, [pod("headgroup"), pod("small")], {}, seen, NOW)
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["ReplicaFailure"]["reason"] == "FailedCreateWorkerPod"
    assert by_type["PodsUpToDate"]["status"] == "False" and "2 pod(s)" in by_type["PodsUpToDate"]["message"]
    assert by_type["SpecValid"]["status"] == "True"
    assert status["outdatedPods"] == 2


def test_transition_times_only_move_when_a_condition_flips() -> None:
    rc = cluster({"groupName": "small", "replicas": 1})
    pods = [pod("headgroup"), pod("small")]
    first = compute_status(rc, pods, {}, Observation(), NOW)
    again = compute_status(rc, pods, first, Observation(), LATER)
    assert not status_changed(first, again)
    assert again["conditions"] == first["conditions"]


def test_status_patch_clears_fields_that_went_away_even_from_a_stale_base() -> None:
    current = {"state": "ready", "head": {"podIP": "127.0.0.9", "podName": "old"}, "custom": 1}
    desired = {"reason": "head pod missing", "head": {"podName": "new"}}
    patch = status_patch(current, desired, NOW)
    assert patch["state"] is None and patch["custom"] is None
    assert patch["head"] == {"podIP": None, "podName": "new"}
    # Owned fields are cleared even when the base we diffed against did not have them.
    assert status_patch({}, {"state": "ready"}, NOW)["reason"] is None
    assert patch["lastUpdateTime"] == NOW


def test_a_headless_head_service_reports_the_head_pods_ip() -> None:
    rc = cluster()
    head = pod("headgroup")
    head["status"]["podIP"] = "10.244.0.7"
    headless = {
        "metadata": {"name": "demo-head-svc"},
        "spec": {"clusterIP": "None", "ports": [{"name": "gcs-server", "port": 6379, "targetPort": 6379}]},
    }
    status = compute_status(rc, [head], {}, Observation(head_service=headless), NOW)
    assert status["head"] == {
        "podName": head["metadata"]["name"],
        "podIP": "10.244.0.7",
        "serviceName": "demo-head-svc",
        "serviceIP": "10.244.0.7",
    }
    # Before the head pod exists there is no address at all.
    assert "serviceIP" not in compute_status(rc, [], {}, Observation(head_service=headless), NOW)["head"]


def test_endpoints_are_node_ports_when_the_service_has_them() -> None:
    service = {
        "metadata": {"name": "demo-head-svc"},
        "spec": {
            "clusterIP": "10.96.0.10",
            "ports": [
                {"name": "dashboard", "port": 8265, "targetPort": 8265, "nodePort": 30265},
                {"name": "client", "port": 10001, "targetPort": "client"},
                {"port": 9999, "targetPort": 9999},
            ],
        },
    }
    status = compute_status(cluster(), [pod("headgroup")], {}, Observation(head_service=service), NOW)
    assert status["endpoints"] == {"dashboard": "30265", "client": "client"}


def test_the_pod_cache_keeps_what_head_pod_ready_copies() -> None:
    conditions_of_pod = [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "not yet"},
        {"type": "PodScheduled", "status": "True", "reason": "Scheduled", "message": "on node-0"},
    ]
    head, worker = pod("headgroup"), pod("small")
    for each in (head, worker):
        each["status"]["conditions"] = [dict(c) for c in conditions_of_pod]
    assert slim_pod(head)["status"]["conditions"] == [
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": "not yet"},
        {"type": "PodScheduled", "status": "True"},
    ]
    assert slim_pod(worker)["status"]["conditions"] == [
        {"type": "Ready", "status": "False"},
        {"type": "PodScheduled", "status": "True"},
    ]
