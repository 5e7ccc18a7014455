"""The process kubelet on its own, with small pods: what a container sees, probes, restarts, termination, and
cleanup on exit and after a crash."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kuberay_py.testing import podaccess
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.podnet import list_namespaces
from kuberay_py.testing.podruntime import kept_under_tmp
from kuberay_py.testing.prockubelet import PREFIX, STATE_ROOT
from tests.integration.install_support import new_namespace
from tests.waiting import eventually

Obj = dict[str, Any]
PY = "python3"

SERVER = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "server", "labels": {"app": "web"}},
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "python:3.11",
                "command": [PY, "-m", "http.server", "8000"],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1},
            }
        ]
    },
}
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web"},
    "spec": {"selector": {"app": "web"}, "ports": [{"port": 8000}]},
}
# What the client checks from inside its pod, printed as one JSON line.
CLIENT_CHECKS = r"""
import json, os, socket, ssl, urllib.request
base = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
review = urllib.request.Request(
    base + "/apis/authentication.k8s.io/v1/selfsubjectreviews", method="POST",
    data=json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode(),
    headers={"Authorization": "Bearer " + open(f"{sa}/token").read(), "Content-Type": "application/json"},
)
user = json.load(urllib.request.urlopen(review, context=context))["status"]["userInfo"]["username"]
web = urllib.request.urlopen(f"http://web.{os.environ['MY_NAMESPACE']}.svc.cluster.local:8000/").status
short = urllib.request.urlopen("http://web:8000/").status
shm = os.statvfs("/dev/shm")
print("CHECKS=" + json.dumps({
    "user": user, "web": web, "short": short, "hostname": socket.gethostname(),
    "order": open("/work/order").read().split(), "config": open("/etc/cfg/greeting").read(),
    "shm_bytes": shm.f_blocks * shm.f_frsize, "namespace": open(f"{sa}/namespace").read(),
    "pid1": open("/proc/1/cmdline").read().split("\0")[:2], "tmp": sorted(os.listdir("/tmp")),
    "env": {k: os.environ[k] for k in ("MY_NAME", "MY_IP", "MEMORY_MI", "FROM_CM", "FROM_SECRET",
                                      "GREETING")},
}))
"""


def client(namespace: str) -> Obj:
    order = {"name": "work", "mountPath": "/work"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client"},
        "spec": {
            "initContainers": [
                {
                    "name": n,
                    "image": "busybox",
                    "command": ["sh", "-c", f"echo {n} >> /work/order"],
                    "volumeMounts": [order],
                }
                for n in ("first", "second")
            ],
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": [PY, "-c", "import time; open('/tmp/mine', 'w'); time.sleep(3600)"],
                    "resources": {"limits": {"memory": "256Mi"}},
                    "env": [
                        {"name": "MY_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {
                            "name": "MY_NAMESPACE",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                        },
                        {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {
                            "name": "MEMORY_MI",
                            "valueFrom": {
                                "resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}
                            },
                        },
                        {
                            "name": "FROM_CM",
                            "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}},
                        },
                        {
                            "name": "FROM_SECRET",
                            "valueFrom": {"secretKeyRef": {"name": "secret", "key": "word"}},
                        },
                        {"name": "GREETING", "value": "$(FROM_CM) from $(MY_NAME), $$(MY_NAME) stays"},
                    ],
                    "volumeMounts": [
                        order,
                        {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": True},
                        {"name": "shm", "mountPath": "/dev/shm"},
                    ],
                }
            ],
            "volumes": [
                {"name": "work", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "settings"}},
                {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            ],
        },
    }


async def kubectl(plane: ControlPlane, *args: str, input: str | None = None) -> str:
    return (await asyncio.to_thread(plane.kubectl, *args, input=input)).stdout


async def apply(plane: ControlPlane, namespace: str, *objects: Obj) -> None:
    items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    await kubectl(plane, "apply", "-n", namespace, "-f", "-", input=json.dumps(items))


async def pod(plane: ControlPlane, namespace: str, name: str) -> Obj:
    found: Obj = json.loads(await kubectl(plane, "get", "pod", "-n", namespace, name, "-o", "json"))
    return found


def is_ready(found: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in found["status"].get("conditions", []))


async def wait_pod(plane: ControlPlane, namespace: str, name: str, check: Any, what: str) -> Obj:
    async def current() -> Obj | None:
        found = await pod(plane, namespace, name)
        return found if check(found) else None

    result: Obj = await eventually(current, timeout=60, interval=0.5, what=f"{name}: {what}")
    return result


async def test_a_container_sees_its_pod_as_in_a_cluster(process_plane: ControlPlane) -> None:
    namespace = new_namespace(process_plane, "pk")
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"greeting": "hello"},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "secret"},
        "stringData": {"word": "s3cret"},
    }
    await apply(process_plane, namespace, settings, secret, SERVER, SERVICE, client(namespace))
    await wait_pod(process_plane, namespace, "server", is_ready, "Ready")
    found = await wait_pod(process_plane, namespace, "client", is_ready, "Ready")
    assert [s["state"]["terminated"]["exitCode"] for s in found["status"]["initContainerStatuses"]] == [0, 0]

    result = await podaccess.exec_in(f"{namespace}/client", "main", [PY, "-c", CLIENT_CHECKS])
    assert result.returncode == 0, result.output
    checks = json.loads(next(line for line in result.output.splitlines() if line.startswith("CHECKS="))[7:])
    assert checks["user"] == f"system:serviceaccount:{namespace}:default"
    assert checks["web"] == checks["short"] == 200
    assert checks["hostname"] == "client"
    assert checks["order"] == ["first", "second"]
    assert checks["config"] == "hello"
    assert checks["namespace"] == namespace
    assert checks["shm_bytes"] == 64 * 1024 * 1024
    assert checks["pid1"] == [PY, "-c"]  # its own PID namespace: the container's command is PID 1
    # Its own /tmp: nothing of the host's or the server pod's; only the checkout it runs from, if there.
    assert checks["tmp"] == sorted(["mine", *(Path(kept).name for kept in kept_under_tmp())])
    assert checks["env"] == {
        "MY_NAME": "client",
        "MY_IP": found["status"]["podIP"],
        "MEMORY_MI": "256",
        "FROM_CM": "hello",
        "FROM_SECRET": "s3cret",
        "GREETING": "hello from client, $(MY_NAME) stays",
    }
    assert found["status"]["podIP"].startswith("10.245.0.")
    await kubectl(process_plane, "delete", "namespace", namespace, "--wait=false")


def container(name: str, script: str, **extra: Any) -> Obj:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


def single(name: str, policy: str, spec: Obj, grace: int = 30) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"restartPolicy": policy, "terminationGracePeriodSeconds": grace, "containers": [spec]},
    }


def state(found: Obj) -> Obj:
    statuses = found["status"].get("containerStatuses") or [{}]
    return dict(statuses[0])


async def test_probes_restarts_and_termination_follow_the_spec(process_plane: ControlPlane) -> None:
    namespace = new_namespace(process_plane, "pk")
    alive_for_two = "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 1000"
    liveness = {"exec": {"command": ["test", "-f", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 1}
    readiness = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1}
    term = 'trap "echo got SIGTERM; exit 0" TERM; while true; do sleep 0.1; done'
    pre_stop = {"preStop": {"exec": {"command": ["sh", "-c", "echo running preStop"]}}}
    await apply(
        process_plane,
        namespace,
        single("flaky", "Always", container("c", alive_for_two, livenessProbe=liveness), grace=1),
        single("exits", "Never", container("c", "exit 3")),
        single("done", "OnFailure", container("c", "exit 0")),
        single("gated", "Always", container("c", "sleep 1000", readinessProbe=readiness), grace=1),
        single("stopper", "Always", container("c", term, lifecycle=pre_stop), grace=20),
    )
    flaky = await wait_pod(
        process_plane, namespace, "flaky", lambda p: state(p).get("restartCount", 0) >= 1, "restarted"
    )
    assert state(flaky)["lastState"]["terminated"]["exitCode"] == 137  # killed for its failed liveness probe
    exits = await wait_pod(
        process_plane, namespace, "exits", lambda p: p["status"].get("phase") == "Failed", "Failed"
    )
    assert state(exits)["state"]["terminated"]["exitCode"] == 3
    assert state(exits)["restartCount"] == 0
    await wait_pod(
        process_plane, namespace, "done", lambda p: p["status"].get("phase") == "Succeeded", "Succeeded"
    )

    gated = await wait_pod(
        process_plane, namespace, "gated", lambda p: p["status"].get("phase") == "Running", "Running"
    )
    await asyncio.sleep(2)
    assert not is_ready(await pod(process_plane, namespace, "gated"))
    assert not is_ready(gated)
    touched = await podaccess.exec_in(f"{namespace}/gated", "c", ["touch", "/tmp/ready"])
    assert touched.returncode == 0, touched.output
    await wait_pod(process_plane, namespace, "gated", is_ready, "Ready once its probe passes")

    # Deletion: the preStop hook, then SIGTERM (which this container handles), long before the grace period.
    await wait_pod(process_plane, namespace, "stopper", lambda p: state(p).get("started"), "started")
    began = time.monotonic()
    await kubectl(process_plane, "delete", "pod", "-n", namespace, "stopper", "--wait=true", "--timeout=60s")
    took = time.monotonic() - began
    log = podaccess.logs(f"{namespace}/stopper", "c", process_plane.log_dir)
    assert log.index("running preStop") < log.index("got SIGTERM"), log
    assert took < 15, f"deleting took {took:.1f}s although the container exits on SIGTERM"
    await kubectl(process_plane, "delete", "namespace", namespace, "--wait=false")


def run_of(netns: str) -> str:
    """The kubelet run a pod's network namespace belongs to: `<prefix><run id>`."""
    return netns[: len(PREFIX) + 8]


async def run_namespaces(run: str) -> set[str]:
    return {n for n in await list_namespaces(PREFIX) if n.startswith(run + "-")}


async def test_the_kubelet_removes_everything_on_exit_and_what_a_crashed_one_left(tmp_path: Path) -> None:
    plane = ControlPlane(kubelet_kind="process", log=lambda message: None)
    await asyncio.to_thread(plane.start)
    try:
        namespace = new_namespace(plane, "pk")
        await apply(plane, namespace, single("sleeper", "Always", container("c", "sleep 1000")))
        await wait_pod(plane, namespace, "sleeper", lambda p: state(p).get("started"), "started")
        described = podaccess.describe(f"{namespace}/sleeper")
        crashed = run_of(described["netns"])
        container_pid = int(described["containers"]["c"]["pid"])

        # SIGKILL: the kubelet cannot clean up, but its pods' processes die with it.
        os.kill(plane.pids["kubelet"], signal.SIGKILL)
        await eventually(lambda: gone(container_pid), timeout=30, what="the container's processes gone")
        assert await run_namespaces(crashed), "the crashed kubelet's namespaces are left for the next one"

        # The next kubelet removes what the crashed one left, and on SIGTERM everything of its own.
        log = tmp_path / "kubelet.log"
        command = [sys.executable, "-m", "kuberay_py.testing.prockubelet", f"--kubeconfig={plane.kubeconfig}"]
        again = await asyncio.to_thread(start_logged, [*command, f"--log-dir={tmp_path}"], log)
        try:

            def rerun(p: Obj) -> bool:
                netns = (podaccess.describe_all().get(f"{namespace}/sleeper") or {}).get("netns") or ""
                return bool(state(p).get("started")) and bool(netns) and run_of(netns) != crashed

            await wait_pod(plane, namespace, "sleeper", rerun, "running under the new kubelet")
            assert not await run_namespaces(crashed), log.read_text()
            assert not await asyncio.to_thread((STATE_ROOT / crashed).exists)
            current = run_of(podaccess.describe(f"{namespace}/sleeper")["netns"])
            assert await run_namespaces(current)
        finally:
            again.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(again.wait, 60)
        assert code == 0, log.read_text()
        assert not await run_namespaces(current)
        assert not await asyncio.to_thread((STATE_ROOT / current).exists)
    finally:
        await asyncio.to_thread(plane.stop)


def start_logged(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


async def gone(pid: int) -> bool:
    return not await asyncio.to_thread(Path(f"/proc/{pid}").exists)


def test_hack_control_plane_up_with_the_process_kubelet_then_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "plane"
    env = {**os.environ, "KUBERAY_PY_CONTROL_PLANE_DIR": str(state_dir), "PYTHON": sys.executable}
    script = str(Path(__file__).resolve().parents[3] / "hack" / "control-plane")
    before = set(asyncio.run(list_namespaces(PREFIX)))
    up = subprocess.run(
        [script, "up", "--kubelet", "process"], env=env, capture_output=True, text=True, timeout=300
    )
    assert up.returncode == 0, up.stderr
    assert "one process-kubelet node" in up.stdout
    try:
        kubeconfig = state_dir / "admin.kubeconfig"
        kubectl = str(Path(sys.executable).parent / "kubectl")
        nodes = subprocess.run(
            [kubectl, f"--kubeconfig={kubeconfig}", "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert nodes == ["node/process-node"]
        made = set(asyncio.run(list_namespaces(PREFIX))) - before
        assert made, "the process kubelet's bridge namespace"
    finally:
        down = subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not state_dir.exists()
    assert not made & set(asyncio.run(list_namespaces(PREFIX)))
