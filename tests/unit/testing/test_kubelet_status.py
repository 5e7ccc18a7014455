"""The simulated kubelet's status logic, without a server."""

from __future__ import annotations

from typing import Any

from kuberay_py.testing.kubelet import (
    CRASH_ANNOTATION,
    FAIL_ANNOTATION,
    UNREADY_ANNOTATION,
    KubeletConfig,
    _differs,
    desired_status,
    pod_ip,
)


def make_pod(
    annotations: dict[str, str] | None = None, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1", "annotations": annotations or {}},
        "spec": {
            "nodeName": "sim-node-0",
            "initContainers": [{"name": "wait", "image": "ray"}],
            "containers": [{"name": "ray", "image": "ray"}, {"name": "sidecar", "image": "ray"}],
        },
        "status": status or {"phase": "Pending"},
    }


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_pending_until_start_delay_then_running_then_ready() -> None:
    config = KubeletConfig(start_delay=1.0, ready_delay=2.0)
    pending = desired_status(make_pod(), "127.0.1.1", "127.16.0.1", 0.5, config)
    assert pending is not None and pending["phase"] == "Pending" and "podIP" not in pending
    running = desired_status(make_pod(), "127.0.1.1", "127.16.0.1", 1.5, config)
    assert running is not None and running["phase"] == "Running" and running["podIP"] == "127.16.0.1"
    assert conditions(running)["Ready"] == "False"
    assert conditions(running)["Initialized"] == "True"
    assert running["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    ready = desired_status(make_pod(), "127.0.1.1", "127.16.0.1", 3.5, config)
    assert ready is not None and conditions(ready)["Ready"] == "True"
    assert [c["name"] for c in ready["containerStatuses"]] == ["ray", "sidecar"]
    assert all(c["ready"] for c in ready["containerStatuses"])


def test_fail_annotation_terminates_the_pod() -> None:
    status = desired_status(
        make_pod({FAIL_ANNOTATION: "boom"}), "127.0.1.1", "127.16.0.1", 5, KubeletConfig()
    )
    assert status is not None and status["phase"] == "Failed"
    assert status["containerStatuses"][0]["state"]["terminated"] == {
        "exitCode": 1,
        "reason": "Error",
        "message": "boom",
        "finishedAt": status["containerStatuses"][0]["state"]["terminated"]["finishedAt"],
    }


def test_terminal_pods_are_left_alone() -> None:
    assert desired_status(make_pod(status={"phase": "Failed"}), "127.0.1.1", "ip", 9, KubeletConfig()) is None


def test_crash_counts_one_restart_and_stays_stable() -> None:
    config = KubeletConfig()
    first = desired_status(make_pod({CRASH_ANNOTATION: "true"}), "127.0.1.1", "ip", 1, config)
    assert first is not None
    assert first["containerStatuses"][0]["restartCount"] == 1
    assert first["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert conditions(first)["Ready"] == "False"
    again = desired_status(make_pod({CRASH_ANNOTATION: "true"}, status=first), "127.0.1.1", "ip", 2, config)
    assert again is not None and again["containerStatuses"][0]["restartCount"] == 1
    assert not _differs(first, again)


def test_unready_annotation_keeps_ready_false() -> None:
    status = desired_status(make_pod({UNREADY_ANNOTATION: "true"}), "127.0.1.1", "ip", 10, KubeletConfig())
    assert status is not None and status["phase"] == "Running" and conditions(status)["Ready"] == "False"


def test_fail_rate_is_stable_per_pod() -> None:
    config = KubeletConfig(fail_rate=1.0)
    status = desired_status(make_pod(), "127.0.1.1", "ip", 1, config)
    assert status is not None and status["phase"] == "Failed"
    assert (
        desired_status(make_pod(), "127.0.1.1", "ip", 1, KubeletConfig(fail_rate=0.0))["phase"] == "Running"
    )  # type: ignore[index]


def test_pod_ips_are_distinct_loopback_hosts() -> None:
    ips = [pod_ip(i) for i in range(100_000)]
    assert len(set(ips)) == len(ips)
    for ip in ips[:600]:
        octets = [int(o) for o in ip.split(".")]
        assert octets[0] == 127 and 1 <= octets[3] <= 254
