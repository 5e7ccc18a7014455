"""A process kubelet: one Node whose pods run as real local processes (tests and the local demo only).

There is no container runtime here, so the containers of each pod bound to this kubelet's Node run as
processes of the Python environment this kubelet runs in (the image is not pulled; its name is logged), each
pod in network, mount, UTS and PID namespaces of its own (:mod:`kuberay_py.testing.podruntime`). Pods are
on a bridge in a network namespace the kubelet makes (:mod:`kuberay_py.testing.podnet`): every address in use
is loopback or inside those namespaces. From inside a pod, `KUBERNETES_SERVICE_HOST:PORT` is the pod's own
loopback, relayed over a Unix socket to the API server; Service names resolve through the pod's
/etc/hosts, which this kubelet keeps equal to the ready addresses of each Service's EndpointSlices.

Everything it makes (processes, namespaces, interfaces, files, mount points) is removed when it exits, and
what a crashed instance left is removed when the next one starts. `describe()` of each pod is written to
``<state dir>/pods/<namespace>_<name>.json`` for :mod:`kuberay_py.testing.podaccess`. It needs root.

Run it as `python -m kuberay_py.testing.prockubelet --kubeconfig PATH --log-dir DIR`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from kuberay_py.testing.kubenodes import (
    config_from_args,
    heartbeat,
    list_and_watch,
    node_status,
    register_node,
    remove_pod,
    run_until_signalled,
)
from kuberay_py.testing.podnet import PodNetwork, remove_leftovers, run_is_live
from kuberay_py.testing.podnet_forward import Connections
from kuberay_py.testing.podruntime import PodRuntime
from kuberay_py.testing.podspec import Obj, hosts_file, ready_addresses, secret_data
from kuberay_py.testing.rawapi import ApiError, RawApi

log = logging.getLogger("kuberay_py.process_kubelet")

PREFIX = "krpk-"
STATE_ROOT = Path("/var/lib/kuberay-py-kubelet")
SUBNET = "10.245.0.0/24"
_SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ENDPOINT_SLICES = "/apis/discovery.k8s.io/v1/endpointslices"


@dataclass(frozen=True)
class ProcessKubeletConfig:
    node_name: str = "process-node"
    cpu: str = "16"
    memory: str = "64Gi"
    gpus: int = 4
    pods: int = 110
    api_port_in_pod: int = 443
    restart_backoff: float = 10.0
    heartbeat_seconds: float = 30.0
    image_env: tuple[tuple[str, str], ...] = ()
    # Directories put on every container's PATH after the venv's bin, e.g. the cached Redis for a pod whose
    # image would have had redis-server on its PATH.
    extra_path: tuple[str, ...] = ()


def _api_port(kubeconfig: Path) -> int:
    document = yaml.safe_load(kubeconfig.read_text())
    server = urlparse(document["clusters"][0]["cluster"]["server"])
    return int(server.port or 443)


def _remove_mount_points(run_dir: Path) -> None:
    """rmdir (deepest first) each mount point a run made, if it is still empty."""
    listing = run_dir / "mountpoints"
    if not listing.exists():
        return
    made = sorted(set(listing.read_text().split("\n")) - {""}, key=len, reverse=True)
    for path in made:
        with contextlib.suppress(OSError):
            if os.path.isdir(path):
                os.rmdir(path)
            elif os.path.isfile(path) and os.path.getsize(path) == 0:
                os.unlink(path)


async def remove_kubelet_leftovers() -> None:
    """What crashed instances left: their namespaces and processes, then their files and mount points."""
    await remove_leftovers(PREFIX)
    await asyncio.to_thread(_remove_dead_runs)


def _remove_dead_runs() -> None:
    if not STATE_ROOT.is_dir():
        return
    for run_dir in STATE_ROOT.iterdir():
        if run_dir.name.startswith(PREFIX) and not run_is_live(run_dir.name):
            _remove_mount_points(run_dir)
            shutil.rmtree(run_dir, True)


class ProcessKubelet:
    def __init__(self, api: RawApi, config: ProcessKubeletConfig, api_port: int, log_dir: Path) -> None:
        self.api = api
        self.config = config
        self.name = config.node_name
        self.network = PodNetwork(prefix=PREFIX, subnet=SUBNET)
        self.ip = self.network.gateway
        resources = {"cpu": config.cpu, "memory": config.memory, "pods": str(config.pods)}
        resources["ephemeral-storage"] = "100Gi"
        if config.gpus:
            resources["nvidia.com/gpu"] = str(config.gpus)
        self.allocatable: Mapping[str, str] = resources
        self.image_env: Mapping[str, str] = dict(config.image_env)
        self.extra_path: tuple[str, ...] = config.extra_path
        self.restart_backoff = config.restart_backoff
        self.api_port_in_pod = config.api_port_in_pod
        self._api_port = api_port
        self.log_dir = log_dir
        self.run_dir = STATE_ROOT / self.network.run_name
        self.api_socket = self.run_dir / "api.sock"
        self.pods: dict[str, PodRuntime] = {}  # "namespace/name" -> its runtime
        self.latest: dict[str, Obj] = {}  # "namespace/name" -> the pod as last seen
        self._written: dict[str, Obj] = {}
        self._dirty: set[str] = set()
        self._writers: dict[str, asyncio.Task[None]] = {}
        self._stopping: dict[str, asyncio.Task[None]] = {}
        self._slices: dict[tuple[str, str], tuple[tuple[str, str], list[str]]] = {}
        self._api_connections = Connections(partial(asyncio.open_connection, "127.0.0.1", api_port))
        self._serial = 0

    # -- what pods ask of their node -----------------------------------------------------------------------
    def services(self) -> dict[tuple[str, str], list[str]]:
        merged: dict[tuple[str, str], list[str]] = {}
        for service, addresses in self._slices.values():
            merged.setdefault(service, []).extend(addresses)
        return merged

    def hosts_for(self, pod_ip: str, hostname: str, namespace: str) -> str:
        return hosts_file(pod_ip, hostname, namespace, self.services())

    def changed(self, key: str) -> None:
        self._dirty.add(key)
        if key not in self._writers:
            self._writers[key] = asyncio.create_task(self._write_status(key))

    async def read_data(self, kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
        resource = "configmaps" if kind == "configmap" else "secrets"
        try:
            obj = await self.api.request("GET", f"/api/v1/namespaces/{namespace}/{resource}/{name}")
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        if kind == "secret":
            return secret_data(obj)
        return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}

    async def request_token(self, pod: Obj, source: Obj) -> str:
        meta = pod["metadata"]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        spec: Obj = {
            "expirationSeconds": int(source.get("expirationSeconds") or 3607),
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"], "uid": meta["uid"]},
        }
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        answer = await self.api.request(
            "POST",
            f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token",
            body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return str(answer["status"]["token"])

    def made_mount_point(self, path: str) -> None:
        with open(self.run_dir / "mountpoints", "a") as listing:
            listing.write(path + "\n")

    # -- running -------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        await remove_kubelet_leftovers()
        await self.network.start()
        self.run_dir.mkdir(parents=True)
        (self.run_dir / "pods").mkdir()
        server = await asyncio.start_unix_server(self._api_connections.accept, str(self.api_socket))
        try:
            await register_node(self.api, self.name, self._node_status(), "process")
            log.info("node %s registered; pods on %s", self.name, self.network.subnet)
            tasks = [
                asyncio.create_task(heartbeat(self.api, lambda: {self.name: self._node_status()}, 30.0)),
                asyncio.create_task(
                    list_and_watch(
                        self.api,
                        "/apis/discovery.k8s.io/v1/endpointslices",
                        [],
                        self._on_slice,
                        self._on_slices,
                    )
                ),
                asyncio.create_task(
                    list_and_watch(
                        self.api,
                        "/api/v1/pods",
                        [("fieldSelector", f"spec.nodeName={self.name}")],
                        self._on_pod,
                        self._on_pods,
                    )
                ),
            ]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self._shutdown(server)

    async def _shutdown(self, server: asyncio.Server) -> None:
        """Every pod's processes killed at once (nothing may outlive the kubelet), then the rest removed."""
        for task in self._writers.values():
            task.cancel()
        await asyncio.gather(*(runtime.stop(0) for runtime in self.pods.values()), return_exceptions=True)
        server.close()
        await self._api_connections.close()
        await self.network.close()
        await asyncio.to_thread(_remove_mount_points, self.run_dir)
        await asyncio.to_thread(shutil.rmtree, self.run_dir, True)

    def _node_status(self) -> Obj:
        return node_status(self.name, self.ip, self.allocatable, "process://1.0", "process kubelet is ready")

    # -- Services ------------------------------------------------------------------------------------------
    def _slice_entry(self, slice_: Obj) -> tuple[tuple[str, str], list[str]] | None:
        meta = slice_["metadata"]
        service = (meta.get("labels") or {}).get(_SERVICE_NAME_LABEL)
        if not service:
            return None
        return (meta["namespace"], service), ready_addresses(slice_)

    def _on_slices(self, items: list[Obj]) -> None:
        self._slices = {}
        for item in items:
            entry = self._slice_entry(item)
            if entry is not None:
                self._slices[item["metadata"]["uid"]] = entry
        self._hosts_changed()

    def _on_slice(self, kind: str, slice_: Obj) -> None:
        uid = slice_["metadata"]["uid"]
        entry = self._slice_entry(slice_)
        if kind == "DELETED" or entry is None:
            self._slices.pop(uid, None)
        else:
            self._slices[uid] = entry
        self._hosts_changed()

    def _hosts_changed(self) -> None:
        for runtime in self.pods.values():
            try:
                runtime.hosts_changed()
            except OSError as error:
                log.warning("pod %s: writing /etc/hosts: %s", runtime.key, error)

    # -- pods ----------------------------------------------------------------------------------------------
    def _on_pods(self, items: list[Obj]) -> None:
        seen = set()
        for pod in items:
            seen.add(self._observe(pod))
        for key in set(self.pods) - seen:
            self._stop(key, 0.0, delete=False)

    def _on_pod(self, kind: str, pod: Obj) -> None:
        if kind == "DELETED":
            key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            runtime = self.pods.get(key)
            if runtime is not None and runtime.uid == pod["metadata"]["uid"]:
                self._stop(key, 0.0, delete=False)
            return
        self._observe(pod)

    def _observe(self, pod: Obj) -> str:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        self.latest[key] = pod
        runtime = self.pods.get(key)
        if runtime is not None and runtime.uid != meta["uid"]:
            self._stop(key, 0.0, delete=False)  # a pod of the same name replaced this one
            runtime = None
        if meta.get("deletionTimestamp"):
            if runtime is None and key not in self._stopping:
                self._stopping[key] = asyncio.create_task(self._finish(pod))
            elif runtime is not None:
                grace = meta.get("deletionGracePeriodSeconds")
                runtime.pod["metadata"]["deletionGracePeriodSeconds"] = grace
                if key in self._stopping and grace is not None:
                    runtime.shorten(float(grace))
                self._stop(key, None, delete=True)
            return key
        if runtime is None and key not in self._stopping:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return key  # a finished pod of an earlier kubelet: nothing to run
            self._serial += 1
            folder = f"{meta['namespace']}_{meta['name']}"
            runtime = PodRuntime(
                self,
                pod,
                self.run_dir / "p" / str(self._serial),
                self.log_dir / "pods" / f"{folder}_{meta['uid'][:8]}",
            )
            self.pods[key] = runtime
            runtime.start()
            self.changed(key)
        return key

    def _stop(self, key: str, grace: float | None, *, delete: bool) -> None:
        runtime = self.pods.get(key)
        if runtime is None or key in self._stopping:
            return
        self._stopping[key] = asyncio.create_task(self._stop_pod(key, runtime, grace, delete))

    async def _stop_pod(self, key: str, runtime: PodRuntime, grace: float | None, delete: bool) -> None:
        try:
            await runtime.stop(grace)
        except Exception:
            log.exception("pod %s: stopping failed", key)
        finally:
            self.pods.pop(key, None)
            (self.run_dir / "pods" / f"{key.replace('/', '_')}.json").unlink(missing_ok=True)
        if delete:
            await self._finish(runtime.pod)
        self._stopping.pop(key, None)

    async def _finish(self, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            await remove_pod(self.api, pod)
        finally:
            self._stopping.pop(f"{meta['namespace']}/{meta['name']}", None)

    async def _write_status(self, key: str) -> None:
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                runtime = self.pods.get(key)
                if runtime is None or runtime.deleting:
                    break
                pod = self.latest.get(key, runtime.pod)
                status = runtime.status(pod.get("status") or {})
                description = runtime.describe()
                path = self.run_dir / "pods" / f"{key.replace('/', '_')}.json"
                path.write_text(json.dumps(description))
                if self._written.get(runtime.uid) == status:
                    continue
                meta = pod["metadata"]
                try:
                    updated = await self.api.request(
                        "PATCH",
                        f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                        body={"metadata": {"uid": runtime.uid}, "status": status},
                        content_type="application/merge-patch+json",
                    )
                    self._written[runtime.uid] = status
                    self.latest[key] = updated
                except ApiError as error:
                    if error.status in (404, 409):
                        break
                    log.warning("pod %s: status update failed: %s", key, error)
                    self._dirty.add(key)
                    await asyncio.sleep(1)
        finally:
            self._writers.pop(key, None)
            if key in self._dirty and key in self.pods:
                self.changed(key)


def _path_entry(text: str) -> str:
    if not text or ":" in text:
        raise argparse.ArgumentTypeError(f"{text!r} cannot be a PATH entry")
    return str(Path(text).absolute())


def parse_args(argv: list[str] | None = None) -> tuple[Path, Path, ProcessKubeletConfig]:
    defaults = ProcessKubeletConfig()
    parser = argparse.ArgumentParser(
        prog="python -m kuberay_py.testing.prockubelet", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--log-dir", type=Path, required=True, help="where each pod's container logs go")
    parser.add_argument("--node-name", default=defaults.node_name)
    parser.add_argument("--cpu", default=defaults.cpu, help="the Node's CPU capacity")
    parser.add_argument("--memory", default=defaults.memory, help="the Node's memory capacity")
    parser.add_argument("--gpus", type=int, default=defaults.gpus, help="nvidia.com/gpu the Node reports")
    parser.add_argument("--restart-backoff", type=float, default=defaults.restart_backoff)
    parser.add_argument(
        "--image-env", action="append", default=[], metavar="NAME=VALUE", help="set in every container"
    )
    parser.add_argument(
        "--extra-path",
        type=_path_entry,
        action="append",
        default=[],
        metavar="DIR",
        help="put on every container's PATH after the venv's bin (repeatable)",
    )
    args = parser.parse_args(argv)
    image_env = tuple((name, value) for name, _, value in (e.partition("=") for e in args.image_env) if value)
    config = config_from_args(
        ProcessKubeletConfig, args, image_env=image_env, extra_path=tuple(args.extra_path)
    )
    return args.kubeconfig, args.log_dir, config


async def run(kubeconfig: Path, log_dir: Path, config: ProcessKubeletConfig) -> None:
    port = _api_port(kubeconfig)
    await run_until_signalled(
        kubeconfig, lambda api, stop: ProcessKubelet(api, config, port, log_dir).run(stop)
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kubeconfig, log_dir, config = parse_args(argv)
    asyncio.run(run(kubeconfig, log_dir, config))


def describe_all(state_root: Path = STATE_ROOT) -> dict[str, Any]:
    """Every live pod's description, by "namespace/name", across the live process kubelets."""
    found: dict[str, Any] = {}
    if not state_root.is_dir():
        return found
    for run_dir in state_root.iterdir():
        for path in (run_dir / "pods").glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                description = json.loads(path.read_text())
                found[description["key"]] = description
    return found


if __name__ == "__main__":
    main()
