"""What every kubelet here does: read its options, register its Nodes, keep them Ready, list and watch.

Shared by the simulated kubelet and the process kubelet (tests only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kuberay_py.runtime.objects import now_rfc3339
from kuberay_py.testing.binaries import pinned_versions
from kuberay_py.testing.rawapi import ApiError, RawApi

log = logging.getLogger("kuberay_py.kubelet")

Obj = dict[str, Any]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Config = TypeVar("Config", bound="DataclassInstance")


def config_from_args(config_type: type[Config], args: argparse.Namespace, **converted: Any) -> Config:
    """A kubelet's config from its parsed options: every field that an option of the same name sets, but
    those in `converted`, whose options parse to another type than the field's."""
    given = {f.name: getattr(args, f.name) for f in fields(config_type) if hasattr(args, f.name)}
    return config_type(**{**given, **converted})


def node_status(name: str, ip: str, resources: Mapping[str, str], runtime: str, message: str) -> Obj:
    stamp = now_rfc3339()
    version = pinned_versions().get("KUBERNETES_VERSION", "v0.0.0")
    return {
        "capacity": dict(resources),
        "allocatable": dict(resources),
        "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
        ],
        "nodeInfo": {
            "machineID": name,
            "systemUUID": name,
            "bootID": name,
            "kernelVersion": "simulated",
            "osImage": "kuberay-py test node",
            "containerRuntimeVersion": runtime,
            "kubeletVersion": version,
            "kubeProxyVersion": version,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


async def patch_node_status(api: RawApi, name: str, status: Obj) -> None:
    await api.request(
        "PATCH",
        f"/api/v1/nodes/{name}/status",
        body={"status": status},
        content_type="application/merge-patch+json",
    )


async def register_node(api: RawApi, name: str, status: Obj, instance_type: str) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": instance_type,
            },
        },
    }
    try:
        await api.request("POST", "/api/v1/nodes", body=node)
    except ApiError as exc:
        if exc.status != 409:
            raise
    await patch_node_status(api, name, status)
    # Admission taints every new Node not-ready; the node lifecycle controller would lift it once the node
    # reports Ready, and the kubelet owns its nodes' lifecycle here, so it lifts it itself.
    await api.request(
        "PATCH",
        f"/api/v1/nodes/{name}",
        body={"spec": {"taints": None}},
        content_type="application/merge-patch+json",
    )


async def heartbeat(api: RawApi, statuses: Callable[[], Mapping[str, Obj]], every: float) -> None:
    while True:
        await asyncio.sleep(every)
        for name, status in statuses().items():
            with contextlib.suppress(ApiError, OSError, asyncio.TimeoutError):
                await patch_node_status(api, name, status)


async def list_and_watch(
    api: RawApi,
    path: str,
    query: list[tuple[str, str]],
    on_event: Callable[[str, Obj], None],
    on_list: Callable[[list[Obj]], None],
) -> None:
    """List `path`, hand the items to `on_list`, then each watch event to `on_event`; relist after a
    410 or a broken stream. Runs until cancelled."""
    while True:
        try:
            listing = await api.request("GET", path, query=query)
            on_list(listing.get("items", []))
            version = listing["metadata"]["resourceVersion"]
            while True:
                watch = [*query, ("resourceVersion", version), ("allowWatchBookmarks", "true")]
                watch.append(("timeoutSeconds", "300"))
                async for event in api.watch(path, watch):
                    obj = event["object"]
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        on_event(event["type"], obj)
        except asyncio.CancelledError:
            raise
        except ApiError as exc:
            if exc.status != 410:
                log.warning("watch of %s failed, relisting: %s", path, exc)
                await asyncio.sleep(1)
        except Exception as exc:
            log.warning("watch of %s interrupted, relisting: %s", path, exc)
            await asyncio.sleep(1)


async def remove_pod(api: RawApi, pod: Obj) -> bool:
    """A kubelet's last word on a pod whose containers have stopped: delete it at once, if it is still that
    pod. True when it is gone; False (logged) when the API server refused for another reason."""
    meta = pod["metadata"]
    try:
        await api.request(
            "DELETE",
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
            body={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
        )
    except ApiError as exc:
        if exc.status in (404, 409):
            return True
        log.warning("removing pod %s/%s failed: %s", meta["namespace"], meta["name"], exc)
        return False
    return True


async def run_until_signalled(
    kubeconfig: Path, kubelet: Callable[[RawApi, asyncio.Event], Awaitable[None]]
) -> None:
    """`kubelet(api, stop)` with `stop` set by SIGTERM or SIGINT; the API client closed after it."""
    api = await RawApi.from_kubeconfig(kubeconfig)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await kubelet(api, stop)
    finally:
        await api.close()
