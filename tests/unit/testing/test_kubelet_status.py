"""The simulated kubelet's status logic, without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kuberay_py.testing.kubelet import (
    CRASH_ANNOTATION,
    FAIL_ANNOTATION,
    TERMINATE_ANNOTATION,
    UNREADY_ANNOTATION,
    KubeletConfig,
    _differs,
    desired_status,
    pod_ip,
    restarts_after,
    seconds_to_container_change,
    termination_requests,
)


def make_pod(
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    restart_policy: str | None = None,
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "uid-1", "annotations": annotations or {}},
        "spec": {
            "nodeName": "sim-node-0",
            "initContainers": [{"name": "wait", "image": "ray"}],
            "containers": [{"name": "ray", "image": "ray"}, {"name": "sidecar", "image": "ray"}],
        },
        "status": status or {"phase": "Pending"},
    }
    if restart_policy is not None:
        pod["spec"]["restartPolicy"] = restart_policy
    return pod


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


# -- container exits (terminate-container) ----------------------------------------------------------------
T0 = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


class PodOnKubelet:
    """A pod whose status is what the kubelet last wrote, as it is on the server between passes."""

    def __init__(self, restart_policy: str | None = None, config: KubeletConfig | None = None) -> None:
        self.pod = make_pod(restart_policy=restart_policy)
        self.config = config or KubeletConfig()
        self.sync(0)  # Running and Ready, as before any test annotates it

    def annotate(self, value: str) -> None:
        self.pod["metadata"]["annotations"][TERMINATE_ANNOTATION] = value

    def sync(self, seconds: float) -> dict[str, Any] | None:
        """One kubelet pass `seconds` after T0; the status it writes becomes the pod's."""
        status = desired_status(
            self.pod, "127.0.1.1", "127.16.0.1", 100 + seconds, self.config, self.at(seconds)
        )
        if status is not None:
            self.pod["status"] = status
        return status

    @staticmethod
    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def container(self, name: str) -> dict[str, Any]:
        return next(c for c in self.pod["status"]["containerStatuses"] if c["name"] == name)

    @property
    def phase(self) -> str:
        return str(self.pod["status"]["phase"])

    @property
    def conditions(self) -> dict[str, str]:
        return conditions(self.pod["status"])


def assert_pod_not_ready(pod: PodOnKubelet) -> None:
    assert pod.conditions["Ready"] == "False"
    assert pod.conditions["ContainersReady"] == "False"


def test_every_running_container_has_a_status() -> None:
    pod = PodOnKubelet()
    for name in ("ray", "sidecar"):
        container = pod.container(name)
        assert container["image"] == "ray"
        assert container["ready"] is True and container["started"] is True
        assert container["restartCount"] == 0
        assert container["state"]["running"]["startedAt"]
    assert pod.conditions["Ready"] == "True" and pod.conditions["ContainersReady"] == "True"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ray", {"ray": 1}),
        ("ray:0", {"ray": 0}),
        (" ray : 137 , sidecar ", {"ray": 137, "sidecar": 1}),
        ("ray:x,:3,sidecar:256,other:-1,", {}),
        ("", {}),
    ],
)
def test_termination_requests(value: str, expected: dict[str, int]) -> None:
    assert termination_requests(value) == expected


@pytest.mark.parametrize(
    ("policy", "exit_code", "restarts"),
    [
        (None, 0, True),
        ("Always", 0, True),
        ("Always", 1, True),
        ("OnFailure", 0, False),
        ("OnFailure", 2, True),
        ("Never", 0, False),
        ("Never", 1, False),
    ],
)
def test_restarts_follow_the_restart_policy(policy: str | None, exit_code: int, restarts: bool) -> None:
    assert restarts_after(policy, exit_code) is restarts


def test_exit_is_reported_as_terminated_and_the_pod_not_ready() -> None:
    pod = PodOnKubelet("Never")
    started_at = pod.container("ray")["state"]["running"]["startedAt"]
    pod.annotate("ray:3")
    pod.sync(0)
    ray = pod.container("ray")
    terminated = ray["state"]["terminated"]
    assert terminated["exitCode"] == 3 and terminated["reason"] == "Error"
    assert terminated["startedAt"] == started_at
    assert terminated["finishedAt"] == "2030-01-01T12:00:00Z"
    assert ray["ready"] is False and ray["started"] is False and ray["restartCount"] == 0
    assert pod.container("sidecar")["state"].keys() == {"running"}
    assert pod.phase == "Running"
    assert_pod_not_ready(pod)


def test_always_restarts_after_the_restart_delay_and_is_ready_again() -> None:
    pod = PodOnKubelet("Always", KubeletConfig(restart_delay=2.0))
    pod.annotate("ray:3")
    pod.sync(0)
    waiting = pod.sync(1)
    assert waiting is not None
    assert pod.container("ray")["state"]["terminated"]["finishedAt"] == "2030-01-01T12:00:00Z"
    assert seconds_to_container_change(pod.pod, waiting, pod.at(1), pod.config) == pytest.approx(1.0)
    assert_pod_not_ready(pod)

    pod.sync(2)
    ray = pod.container("ray")
    assert ray["restartCount"] == 1
    assert ray["lastState"]["terminated"]["exitCode"] == 3
    assert ray["state"]["running"]["startedAt"] == "2030-01-01T12:00:02Z"
    assert ray["ready"] is True and ray["started"] is True
    assert ray["containerID"] != pod.container("sidecar")["containerID"].replace("sidecar", "ray")
    assert pod.phase == "Running" and pod.conditions["Ready"] == "True"

    # The annotation stays, but the exit it asked for has happened: the container keeps running.
    before = pod.pod["status"]
    after = pod.sync(30)
    assert after is not None and not _differs(before, after)
    assert pod.container("ray")["restartCount"] == 1


def test_restart_policy_defaults_to_always() -> None:
    pod = PodOnKubelet(None, KubeletConfig(restart_delay=0.0))
    pod.annotate("ray:0")
    pod.sync(0)
    assert pod.container("ray")["state"]["terminated"]["reason"] == "Completed"
    pod.sync(1)
    assert pod.container("ray")["restartCount"] == 1 and pod.container("ray")["state"].keys() == {"running"}


def test_a_restarted_container_is_ready_after_the_ready_delay() -> None:
    pod = PodOnKubelet("Always", KubeletConfig(restart_delay=1.0, ready_delay=5.0))
    pod.annotate("ray")
    pod.sync(0)
    restarted = pod.sync(1)
    assert restarted is not None and pod.container("ray")["restartCount"] == 1
    assert pod.container("ray")["ready"] is False
    assert_pod_not_ready(pod)
    assert seconds_to_container_change(pod.pod, restarted, pod.at(1), pod.config) == pytest.approx(5.0)
    pod.sync(6)
    assert pod.container("ray")["ready"] is True and pod.conditions["Ready"] == "True"


def test_a_new_value_makes_the_container_exit_again() -> None:
    pod = PodOnKubelet("Always", KubeletConfig(restart_delay=0.0))
    pod.annotate("ray")
    pod.sync(0)
    pod.sync(1)
    pod.annotate("ray:1")
    pod.sync(2)
    assert pod.container("ray")["state"]["terminated"]["exitCode"] == 1
    pod.sync(3)
    assert pod.container("ray")["restartCount"] == 2


def test_on_failure_restarts_a_failed_container_only() -> None:
    pod = PodOnKubelet("OnFailure", KubeletConfig(restart_delay=1.0))
    pod.annotate("ray:0,sidecar:2")
    pod.sync(0)
    pod.sync(5)
    ray, sidecar = pod.container("ray"), pod.container("sidecar")
    assert ray["state"]["terminated"]["reason"] == "Completed" and ray["restartCount"] == 0
    assert sidecar["restartCount"] == 1 and sidecar["state"].keys() == {"running"}
    assert sidecar["lastState"]["terminated"]["exitCode"] == 2
    assert pod.phase == "Running"  # the Ray container is gone, the pod is not
    assert_pod_not_ready(pod)


def test_on_failure_pod_succeeds_once_every_container_completed() -> None:
    pod = PodOnKubelet("OnFailure")
    pod.annotate("ray:0,sidecar:0")
    pod.sync(0)
    assert pod.phase == "Succeeded"
    assert pod.conditions["Ready"] == "False"


def test_never_keeps_the_exit_and_fails_the_pod_once_every_container_exited() -> None:
    pod = PodOnKubelet("Never", KubeletConfig(restart_delay=0.0))
    pod.annotate("ray:1")
    pod.sync(0)
    waiting = pod.sync(60)
    assert (
        waiting is not None and seconds_to_container_change(pod.pod, waiting, pod.at(60), pod.config) is None
    )
    assert pod.container("ray")["state"]["terminated"]["finishedAt"] == "2030-01-01T12:00:00Z"
    assert pod.container("ray")["restartCount"] == 0
    assert pod.phase == "Running"
    assert_pod_not_ready(pod)

    pod.annotate("ray:1,sidecar:0")
    pod.sync(61)
    assert pod.container("sidecar")["state"]["terminated"]["reason"] == "Completed"
    assert pod.container("ray")["state"]["terminated"]["exitCode"] == 1
    assert pod.phase == "Failed"
    assert pod.sync(62) is None  # terminal: left alone from now on


def test_never_pod_succeeds_when_every_container_exits_zero() -> None:
    pod = PodOnKubelet("Never")
    pod.annotate("ray:0,sidecar:0")
    pod.sync(0)
    assert pod.phase == "Succeeded"
    assert {c["type"]: c.get("reason") for c in pod.pod["status"]["conditions"]}["Ready"] == "PodCompleted"


def test_exits_wait_for_the_container_to_run() -> None:
    config = KubeletConfig(start_delay=5.0)
    pod = make_pod({TERMINATE_ANNOTATION: "ray"})
    pending = desired_status(pod, "127.0.1.1", "127.16.0.1", 1, config, T0)
    assert pending is not None and pending["phase"] == "Pending"
    assert all("waiting" in c["state"] for c in pending["containerStatuses"])


def test_unknown_container_names_are_ignored() -> None:
    pod = PodOnKubelet("Never")
    pod.annotate("nosuch:1")
    pod.sync(0)
    assert all(pod.container(name)["state"].keys() == {"running"} for name in ("ray", "sidecar"))
    assert pod.conditions["Ready"] == "True"
