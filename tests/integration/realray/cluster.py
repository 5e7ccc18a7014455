"""Driving RayClusters on the process kubelet from a test: apply, wait, look inside the pods."""

from __future__ import annotations

import asyncio
import json
import shlex
import time
from collections.abc import Callable
from typing import Any

import yaml

from kuberay_py.testing import podaccess
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.install_support import SAMPLES, new_namespace

Obj = dict[str, Any]

NODES_SCRIPT = """
import json, ray
ray.init(logging_level="ERROR", log_to_driver=False)
print("NODES=" + json.dumps([
    {"ip": n["NodeManagerAddress"], "alive": n["Alive"], "resources": n["Resources"]} for n in ray.nodes()
]))
"""


def sample(name: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all((SAMPLES / name).read_text()) if d]


def ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_head(pod: Obj) -> bool:
    return bool(pod["metadata"]["labels"].get("ray.io/node-type") == "head")


def ray_container(pod: Obj) -> Obj:
    return dict(pod["spec"]["containers"][0])


def start_flags(pod: Obj) -> dict[str, str]:
    """The `--flag=value` options of the `ray start` the builders generated for this pod."""
    env = {e["name"]: e.get("value", "") for e in ray_container(pod).get("env") or []}
    flags = {}
    for part in shlex.split(env["KUBERAY_GEN_RAY_START_CMD"]):
        if part.startswith("--") and "=" in part:
            name, value = part[2:].split("=", 1)
            flags[name] = value
    return flags


class RayStack:
    def __init__(self, plane: ControlPlane, operator: OperatorProcess) -> None:
        self.plane = plane
        self.operator = operator
        self.namespaces: list[str] = []

    # -- the API -------------------------------------------------------------------------------------------
    async def kubectl(self, *args: str, input: str | None = None) -> str:
        done = await asyncio.to_thread(self.plane.kubectl, *args, input=input)
        return done.stdout

    async def get(self, *args: str) -> Any:
        return json.loads(await self.kubectl("get", *args, "-o", "json"))

    def namespace(self) -> str:
        name = new_namespace(self.plane, "ray")
        self.namespaces.append(name)
        return name

    async def apply(self, namespace: str, objects: list[Obj]) -> None:
        await self.kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            input=json.dumps({"kind": "List", "apiVersion": "v1", "items": objects}),
        )

    async def pods(self, namespace: str, cluster: str, *, terminating: bool = False) -> list[Obj]:
        """The cluster's pods; those being deleted only with `terminating`."""
        listing = await self.get("pods", "-n", namespace, "-l", f"ray.io/cluster={cluster}")
        items: list[Obj] = listing["items"]
        return items if terminating else [p for p in items if not p["metadata"].get("deletionTimestamp")]

    async def cluster(self, namespace: str, name: str) -> Obj:
        found: Obj = await self.get("raycluster", "-n", namespace, name)
        return found

    async def patch(self, namespace: str, name: str, patch: Obj) -> None:
        await self.kubectl(
            "patch", "raycluster", "-n", namespace, name, "--type=merge", "-p", json.dumps(patch)
        )

    async def wait(
        self, check: Callable[[], Any], what: str, timeout: float, namespace: str, cluster: str
    ) -> Any:
        """`await check()` until it is truthy; on timeout fail with the pods' states and log ends."""
        deadline = time.monotonic() + timeout
        while True:
            value = await check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f}s waiting for {what}\n"
                    + await self.report(namespace, cluster)
                )
            await asyncio.sleep(1)

    async def wait_ready(self, namespace: str, cluster: str, count: int, timeout: float = 180) -> list[Obj]:
        async def all_ready() -> list[Obj] | None:
            pods = await self.pods(namespace, cluster, terminating=True)
            return pods if len(pods) == count and all(ready(p) for p in pods) else None

        found: list[Obj] = await self.wait(
            all_ready, f"{count} Ready pods of {cluster}", timeout, namespace, cluster
        )
        return found

    # -- inside the pods -----------------------------------------------------------------------------------
    async def head(self, namespace: str, cluster: str) -> Obj:
        return next(p for p in await self.pods(namespace, cluster) if is_head(p))

    async def in_head(self, namespace: str, cluster: str, argv: list[str], timeout: float = 180) -> str:
        head = await self.head(namespace, cluster)
        key = f"{namespace}/{head['metadata']['name']}"
        result = await podaccess.exec_in(key, ray_container(head)["name"], argv, timeout=timeout)
        assert result.returncode == 0, (
            f"{shlex.join(argv)} in {key} exited {result.returncode}:\n{result.output}"
        )
        return result.output

    async def ray_nodes(self, namespace: str, cluster: str) -> list[Obj]:
        """What Ray itself reports, from a driver in the head pod."""
        output = await self.in_head(namespace, cluster, ["python", "-c", NODES_SCRIPT])
        line = next(line for line in output.splitlines() if line.startswith("NODES="))
        nodes: list[Obj] = json.loads(line.removeprefix("NODES="))
        return nodes

    async def kill_in(self, namespace: str, pod: Obj, process: str) -> None:
        """SIGKILL the process named `process` in the pod's Ray container (its own PID namespace)."""
        key = f"{namespace}/{pod['metadata']['name']}"
        result = await podaccess.exec_in(key, ray_container(pod)["name"], ["pkill", "-9", "-x", process])
        assert result.returncode == 0, f"no {process} in {key}: {result.output}"

    def logs(self, namespace: str, pod: str, container: str) -> str:
        return podaccess.logs(f"{namespace}/{pod}", container, self.plane.log_dir)

    async def report(self, namespace: str, cluster: str) -> str:
        lines = []
        for pod in await self.pods(namespace, cluster):
            name = pod["metadata"]["name"]
            status = pod.get("status") or {}
            states = [
                (c["name"], list(c.get("state", {})), c.get("ready"))
                for c in status.get("containerStatuses") or []
            ]
            lines.append(f"pod {name}: {status.get('phase')} {states}")
            for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
                tail = self.logs(namespace, name, container["name"]).splitlines()[-15:]
                lines.extend(f"  {container['name']}| {line}" for line in tail)
        kubelet = (self.plane.log_dir / "kubelet.log").read_text(errors="replace").splitlines()[-20:]
        lines.extend(f"kubelet| {line}" for line in kubelet)
        return "\n".join(lines)

    # -- cleanup -------------------------------------------------------------------------------------------
    def delete_clusters(self, timeout: float = 120) -> None:
        """Delete every RayCluster and wait for its pods to go: the next test starts with no Ray running."""
        for namespace in self.namespaces:
            self.plane.kubectl(
                "delete", "rayjobs,rayclusters", "--all", "-n", namespace, "--wait=false", check=False
            )
            # A test need not wait out each head's grace period (its autoscaler, PID 1, ignores SIGTERM).
            self.plane.kubectl(
                "delete", "pods", "--all", "-n", namespace, "--grace-period=1", "--wait=false", check=False
            )
        deadline = time.monotonic() + timeout
        for namespace in self.namespaces:
            while time.monotonic() < deadline:
                listing = json.loads(self.plane.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
                if not listing["items"]:
                    break
                time.sleep(1)
            self.plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
