"""Status computation: truthful state, conditions, counts, and writes only when something changed."""

from __future__ import annotations

from typing import Any

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
    assert conditions(status) == {"HeadPodReady": "True", "RayClusterProvisioned": "True"}
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
