"""The simulated kubelet ends one container of a running pod on request, and the pod's restart policy decides
what follows, as the API server reports it to every client."""

from __future__ import annotations

import json
from typing import Any

from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.kubelet import TERMINATE_ANNOTATION
from tests.waiting import blocking, eventually

Pod = dict[str, Any]


def two_container_pod(name: str, restart_policy: str) -> str:
    containers = [{"name": c, "image": "rayproject/ray:2.41.0"} for c in ("ray-head", "sidecar")]
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"restartPolicy": restart_policy, "containers": containers},
        }
    )


def get_pod(plane: ControlPlane, namespace: str, name: str) -> Pod:
    pod: Pod = json.loads(plane.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
    return pod


def container(pod: Pod, name: str) -> dict[str, Any]:
    return next(c for c in pod["status"].get("containerStatuses", []) if c["name"] == name)


def condition(pod: Pod, kind: str) -> str | None:
    return next((c["status"] for c in pod["status"].get("conditions", []) if c["type"] == kind), None)


def ready(pod: Pod) -> bool:
    return pod["status"].get("phase") == "Running" and condition(pod, "Ready") == "True"


def ray_head_exited(pod: Pod) -> bool:
    return "terminated" in container(pod, "ray-head")["state"]


def wait_pod(plane: ControlPlane, namespace: str, name: str, check: Any, what: str) -> Pod:
    def current() -> Pod | None:
        pod = get_pod(plane, namespace, name)
        return pod if check(pod) else None

    found: Pod = blocking(eventually(current, timeout=60, what=f"{name}: {what}"))
    return found


def terminate(plane: ControlPlane, namespace: str, name: str, value: str) -> None:
    plane.kubectl("annotate", "pod", name, "-n", namespace, "--overwrite", f"{TERMINATE_ANNOTATION}={value}")


def test_container_exit_follows_the_restart_policy(control_plane: ControlPlane, namespace: str) -> None:
    policies = {"always": "Always", "onfailure": "OnFailure", "never": "Never"}
    for name, policy in policies.items():
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=two_container_pod(name, policy))
    for name in policies:
        running = wait_pod(control_plane, namespace, name, ready, "Running and Ready")
        for c in ("ray-head", "sidecar"):
            status = container(running, c)
            assert status["image"] == "rayproject/ray:2.41.0" and status["restartCount"] == 0
            assert status["ready"] is True and status["started"] is True
            assert status["state"]["running"]["startedAt"]

    terminate(control_plane, namespace, "always", "ray-head:137")
    terminate(control_plane, namespace, "onfailure", "ray-head:0,sidecar:2")
    terminate(control_plane, namespace, "never", "ray-head")

    # Always: the Ray container is seen exited while the pod stays Running, then it runs again.
    exited = wait_pod(control_plane, namespace, "always", ray_head_exited, "ray-head terminated")
    assert container(exited, "ray-head")["state"]["terminated"]["reason"] == "Error"
    assert exited["status"]["phase"] == "Running" and condition(exited, "Ready") == "False"
    assert condition(exited, "ContainersReady") == "False"
    wait_pod(
        control_plane, namespace, "always", lambda p: container(p, "ray-head")["restartCount"] == 1, "restart"
    )
    restarted = wait_pod(control_plane, namespace, "always", ready, "Ready after the restart")
    ray = container(restarted, "ray-head")
    assert ray["lastState"]["terminated"]["exitCode"] == 137
    assert ray["state"].keys() == {"running"} and ray["ready"] is True
    assert container(restarted, "sidecar")["restartCount"] == 0

    # OnFailure: the failed sidecar restarts, the completed Ray container does not; the pod stays Running.
    on_failure = wait_pod(
        control_plane,
        namespace,
        "onfailure",
        lambda p: container(p, "sidecar")["restartCount"] == 1,
        "sidecar restarted",
    )
    assert container(on_failure, "ray-head")["state"]["terminated"]["reason"] == "Completed"
    assert container(on_failure, "sidecar")["lastState"]["terminated"]["exitCode"] == 2
    assert on_failure["status"]["phase"] == "Running" and condition(on_failure, "Ready") == "False"

    # Never: the exit stays; the pod fails once its other container has exited too.
    never = wait_pod(control_plane, namespace, "never", ray_head_exited, "ray-head terminated")
    assert container(never, "ray-head")["state"]["terminated"]["exitCode"] == 1
    assert never["status"]["phase"] == "Running" and condition(never, "Ready") == "False"
    terminate(control_plane, namespace, "never", "ray-head,sidecar:0")
    failed = wait_pod(control_plane, namespace, "never", lambda p: p["status"]["phase"] == "Failed", "Failed")
    assert container(failed, "sidecar")["state"]["terminated"]["reason"] == "Completed"
    assert container(failed, "ray-head")["restartCount"] == 0
