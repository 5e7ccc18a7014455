"""The local control plane behaves like a real cluster: controllers, scheduler, RBAC, simulated kubelet."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kuberay_py.testing.binaries import BUILD_SCRIPT
from kuberay_py.testing.controlplane import ControlPlane, process_alive
from kuberay_py.testing.kubelet import (
    CRASH_ANNOTATION,
    FAIL_ANNOTATION,
    STOP_SECONDS_ANNOTATION,
    UNREADY_ANNOTATION,
)
from tests.waiting import blocking, eventually

REPO = Path(__file__).resolve().parents[2]


def get_json(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl("get", *args, "-o", "json").stdout)


def pods(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(plane, "pods", "-n", namespace, "-l", selector)["items"]
    return items


def bare_pod(name: str, cpu: str = "100m", annotations: dict[str, str] | None = None) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}, "annotations": annotations or {}},
            "spec": {
                "containers": [{"name": "main", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}],
                "terminationGracePeriodSeconds": 30,
            },
        }
    )


def pod_phase(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = get_json(plane, "pod", name, "-n", namespace)
    return pod


def condition(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in pod.get("status", {}).get("conditions", []) if c["type"] == kind), {})


def test_deployment_runs_and_is_garbage_collected(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", namespace)

    def running() -> list[dict[str, Any]]:
        items = pods(control_plane, namespace, "app=web")
        ok = [
            p
            for p in items
            if p["status"].get("phase") == "Running" and condition(p, "Ready").get("status") == "True"
        ]
        return ok if len(ok) == 3 else []

    ready = blocking(eventually(running, what="3 Running and Ready pods"))
    ips = {p["status"]["podIP"] for p in ready}
    assert len(ips) == 3
    assert all(ip.startswith("127.") for ip in ips)
    assert all(p["spec"]["nodeName"].startswith("sim-node-") for p in ready)
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet" for p in ready)

    control_plane.kubectl("delete", "deployment", "web", "-n", namespace)
    blocking(eventually(lambda: not pods(control_plane, namespace, "app=web"), what="pods garbage-collected"))
    assert get_json(control_plane, "replicasets", "-n", namespace)["items"] == []


def test_rbac_is_enforced_for_service_account_tokens(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubeconfig = control_plane.serviceaccount_kubeconfig(namespace, "reader")

    def list_pods() -> subprocess.CompletedProcess[str]:
        return control_plane.kubectl(
            "--kubeconfig", str(kubeconfig), "get", "pods", "-n", namespace, check=False
        )

    denied = list_pods()
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr
    assert f"system:serviceaccount:{namespace}:reader" in denied.stderr

    control_plane.kubectl("create", "role", "pod-reader", "--verb=list", "--resource=pods", "-n", namespace)
    control_plane.kubectl(
        "create",
        "rolebinding",
        "reader",
        "--role=pod-reader",
        f"--serviceaccount={namespace}:reader",
        "-n",
        namespace,
    )
    blocking(eventually(lambda: list_pods().returncode == 0, what="the RoleBinding to take effect"))
    # Still only what the Role grants.
    other = control_plane.kubectl(
        "--kubeconfig", str(kubeconfig), "get", "secrets", "-n", namespace, check=False
    )
    assert other.returncode != 0 and "Forbidden" in other.stderr


def test_pod_that_fits_no_node_stays_pending_with_reason(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=bare_pod("huge", cpu="10000"))

    def unschedulable() -> dict[str, Any]:
        scheduled = condition(pod_phase(control_plane, namespace, "huge"), "PodScheduled")
        return scheduled if scheduled.get("reason") == "Unschedulable" else {}

    scheduled = blocking(eventually(unschedulable, what="the scheduler's verdict"))
    assert scheduled["status"] == "False"
    assert "Insufficient cpu" in scheduled["message"]
    time.sleep(1)
    assert pod_phase(control_plane, namespace, "huge")["status"]["phase"] == "Pending"


def test_faults_are_injected_by_annotation(control_plane: ControlPlane, namespace: str) -> None:
    for name in ("failing", "crashing", "unready"):
        control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=bare_pod(name))

    def is_ready(name: str) -> bool:
        return condition(pod_phase(control_plane, namespace, name), "Ready").get("status") == "True"

    for name in ("failing", "crashing", "unready"):
        blocking(eventually(lambda name=name: is_ready(name), what=f"{name} Ready"))

    control_plane.kubectl("annotate", "pod", "failing", "-n", namespace, f"{FAIL_ANNOTATION}=out of memory")
    control_plane.kubectl("annotate", "pod", "crashing", "-n", namespace, f"{CRASH_ANNOTATION}=true")
    control_plane.kubectl("annotate", "pod", "unready", "-n", namespace, f"{UNREADY_ANNOTATION}=true")

    failed = blocking(
        eventually(
            lambda: (
                (p := pod_phase(control_plane, namespace, "failing"))["status"]["phase"] == "Failed" and p
            ),
            what="phase Failed",
        )
    )
    assert failed["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1

    crashing = blocking(
        eventually(
            lambda: (
                (p := pod_phase(control_plane, namespace, "crashing"))["status"]["containerStatuses"][0][
                    "state"
                ]
                .get("waiting", {})
                .get("reason")
                == "CrashLoopBackOff"
                and p
            ),
            what="CrashLoopBackOff",
        )
    )
    assert crashing["status"]["containerStatuses"][0]["restartCount"] == 1
    assert condition(crashing, "Ready")["status"] == "False"

    blocking(eventually(lambda: not is_ready("unready"), what="Ready=False"))
    assert pod_phase(control_plane, namespace, "unready")["status"]["phase"] == "Running"
    control_plane.kubectl("annotate", "pod", "unready", "-n", namespace, f"{UNREADY_ANNOTATION}-")
    blocking(eventually(lambda: is_ready("unready"), what="Ready again after the annotation is removed"))


def test_deletion_honours_the_stop_time_within_the_grace_period(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=bare_pod("slow-stop", annotations={STOP_SECONDS_ANNOTATION: "2"}),
    )
    blocking(
        eventually(
            lambda: pod_phase(control_plane, namespace, "slow-stop")["status"].get("phase") == "Running"
        )
    )
    began = time.monotonic()
    control_plane.kubectl("delete", "pod", "slow-stop", "-n", namespace, "--wait=false")
    time.sleep(0.5)
    still_there = control_plane.kubectl("get", "pod", "slow-stop", "-n", namespace, check=False)
    assert still_there.returncode == 0, "the pod vanished before its containers stopped"
    blocking(
        eventually(
            lambda: (
                control_plane.kubectl("get", "pod", "slow-stop", "-n", namespace, check=False).returncode != 0
            ),
            what="the pod to be removed",
        )
    )
    assert time.monotonic() - began >= 2.0


def test_cluster_survives_an_apiserver_restart(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.restart_apiserver()
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=bare_pod("after-restart"))
    blocking(
        eventually(
            lambda: (
                condition(pod_phase(control_plane, namespace, "after-restart"), "Ready").get("status")
                == "True"
            ),
            what="the kubelet to run a pod after the API server restarted",
        )
    )


def test_binaries_are_cached_between_runs() -> None:
    began = time.monotonic()
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - began
    print(f"cached binary lookup took {elapsed:.2f}s")
    assert "building" not in proc.stderr, proc.stderr
    k8s_dir, etcd_dir = proc.stdout.strip().split(":")
    assert Path(k8s_dir, "kube-apiserver").exists() and Path(etcd_dir, "etcd").exists()


def test_hack_control_plane_up_and_down_leave_nothing_behind() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="kuberay-py-cp-test-")) / "plane"
    env = {**os.environ, "KUBERAY_PY_CONTROL_PLANE_DIR": str(state_dir), "PYTHON": sys.executable}
    script = str(REPO / "hack" / "control-plane")
    began = time.monotonic()
    up = subprocess.run([script, "up", "--nodes", "2"], env=env, capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    print(
        f"hack/control-plane up reached ready in {time.monotonic() - began:.1f}s: {up.stdout.splitlines()[0]}"
    )
    try:
        exported = subprocess.run([script, "env"], env=env, capture_output=True, text=True, check=True).stdout
        kubeconfig = exported.strip().removeprefix("export KUBECONFIG=")
        nodes = subprocess.run(
            [
                str(Path(sys.executable).parent / "kubectl"),
                "--kubeconfig",
                kubeconfig,
                "get",
                "nodes",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert nodes == ["node/sim-node-0", "node/sim-node-1"]
        pids = json.loads((state_dir / "state.json").read_text())["pids"]
        assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}
    finally:
        down = subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not state_dir.exists()
    leftovers = [pid for pid in pids.values() if process_alive(pid)]
    assert leftovers == []
    state_dir.parent.rmdir()


def test_start_survives_a_port_taken_between_probe_and_bind() -> None:
    plane = ControlPlane(kubelet=False, log=lambda message: None)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", plane.ports.apiserver))
    squatter.listen()
    taken = plane.ports.apiserver
    try:
        plane.start()
        assert plane.ports.apiserver != taken
        assert plane.kubectl("get", "--raw", "/readyz").stdout == "ok"
    finally:
        plane.stop()
        squatter.close()
    assert not plane.workdir.exists()
