"""A simulated kubelet: registers fake Nodes and plays the part of their container runtime.

There is no container runtime on a test machine, so this process stands in for one. It keeps its Nodes Ready,
and for every pod the scheduler binds to them it writes the status a real kubelet would: Pending, then Running
with container statuses and a loopback pod IP (only a string: nothing ever connects to it), then Ready. On
deletion it waits for the containers to "stop" (never longer than the grace period) and removes the pod.

Status is a level-based function of the pod, its annotations and the time since it was first seen (for a
container's exit and restart, the times recorded in its status), so replayed watch events or a restart never
confuse it. Faults are injected per pod with annotations:

- `sim.kuberay-py.io/fail: "<message>"`: phase Failed, containers terminated with exit code 1.
- `sim.kuberay-py.io/succeed: "true"`: phase Succeeded, containers terminated with exit code 0.
- `sim.kuberay-py.io/crash: "true"`: the first container is in CrashLoopBackOff (restartCount grows once).
- `sim.kuberay-py.io/unready: "true"`: Running but never Ready while the annotation stays.
- `sim.kuberay-py.io/stop-seconds: "<n>"`: containers take n seconds to stop on deletion (capped by grace).
- `sim.kuberay-py.io/terminate-container: "<name>[:<exitCode>][,<name>[:<exitCode>]...]"`: each named
  container of a Running pod exits with that code (default 1; 0 to 255); the pod is not deleted.

A terminated container is reported as `state.terminated` (reason `Completed` for exit code 0, else `Error`)
with `ready: false`, and the pod's Ready and ContainersReady conditions go False. Then `spec.restartPolicy`
decides, as it does for a real kubelet: `Always` (the default) and, for a non-zero exit, `OnFailure` start
the container again `--restart-delay` seconds after the exit (restartCount + 1, the exit kept in
`lastState.terminated`, Ready again `--ready-delay` seconds later); otherwise it stays terminated, and once
every container is terminated the pod's phase becomes Failed (any non-zero exit) or Succeeded. Status times
have whole seconds, so both delays are met to within a second. Each annotation value is acted on once (the
exit's message records it); to make a container exit again, change the value (`ray` and `ray:1` mean the
same exit). Unknown container names and malformed entries are ignored, and containers that are not running
are left alone.

Run it as `python -m kuberay_py.testing.kubelet --kubeconfig PATH [--nodes N] ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kuberay_py.runtime.objects import now_rfc3339
from kuberay_py.testing.kubenodes import (
    config_from_args,
    heartbeat,
    list_and_watch,
    node_status,
    register_node,
    remove_pod,
    run_until_signalled,
)
from kuberay_py.testing.rawapi import ApiError, RawApi

log = logging.getLogger("kuberay_py.simulated_kubelet")

ANNOTATION_PREFIX = "sim.kuberay-py.io/"
FAIL_ANNOTATION = ANNOTATION_PREFIX + "fail"
SUCCEED_ANNOTATION = ANNOTATION_PREFIX + "succeed"
CRASH_ANNOTATION = ANNOTATION_PREFIX + "crash"
UNREADY_ANNOTATION = ANNOTATION_PREFIX + "unready"
STOP_SECONDS_ANNOTATION = ANNOTATION_PREFIX + "stop-seconds"
TERMINATE_ANNOTATION = ANNOTATION_PREFIX + "terminate-container"
DEFAULT_EXIT_CODE = 1

TERMINAL_PHASES = ("Failed", "Succeeded")


@dataclass(frozen=True)
class KubeletConfig:
    nodes: int = 4
    node_prefix: str = "sim-node"
    cpu: str = "64"
    memory: str = "256Gi"
    pods_per_node: int = 250
    gpus_per_node: int = 4
    start_delay: float = 0.0  # seconds from binding to Running
    ready_delay: float = 0.0  # seconds from Running to Ready, and from a container's restart to Ready
    restart_delay: float = 2.0  # seconds from a container's exit to its restart, if its pod restarts it
    stop_delay: float = 0.0  # seconds containers take to stop on deletion, capped by the grace period
    fail_rate: float = 0.0  # fraction of pods that fail at start (decided per pod uid, so it is stable)
    workers: int = 32
    heartbeat_seconds: float = 30.0


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_since(stamp: str | None, now: datetime) -> float:
    """Age of an RFC 3339 status time; a missing or unreadable one counts as long past."""
    try:
        return (now - datetime.fromisoformat(stamp or "")).total_seconds()
    except ValueError:
        return float("inf")


def pod_ip(index: int) -> str:
    """The index-th address of 127.16.0.0/12, skipping .0 and .255 so every string looks like a host."""
    index = index % (254 * 256 * 16)
    host = index % 254 + 1
    rest = index // 254
    return f"127.{16 + rest // 256 % 16}.{rest % 256}.{host}"


def _condition(
    existing: list[dict[str, Any]], kind: str, status: bool, reason: str | None = None
) -> dict[str, Any]:
    value = "True" if status else "False"
    previous = next((c for c in existing if c.get("type") == kind), None)
    changed_at = previous.get("lastTransitionTime") if previous and previous.get("status") == value else None
    condition: dict[str, Any] = {
        "type": kind,
        "status": value,
        "lastProbeTime": None,
        "lastTransitionTime": changed_at or now_rfc3339(),
    }
    if reason and not status:
        condition["reason"] = reason
    return condition


def desired_status(
    pod: dict[str, Any],
    node_ip: str,
    ip: str,
    elapsed: float,
    config: KubeletConfig,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """The status this kubelet wants the pod to have now, or None to leave the status alone.

    `elapsed` is the time since the pod reached this kubelet; `now` (default: the clock) times container
    exits and restarts, which are kept in the status itself.
    """
    status = pod.get("status", {})
    annotations = pod["metadata"].get("annotations") or {}
    if status.get("phase") in TERMINAL_PHASES:
        return None
    uid = pod["metadata"]["uid"]
    failure = annotations.get(FAIL_ANNOTATION)
    if failure is None and config.fail_rate > 0 and random.Random(uid).random() < config.fail_rate:
        failure = "simulated start failure"
    started = elapsed >= config.start_delay
    if failure is not None or SUCCEED_ANNOTATION in annotations:
        phase = "Failed" if failure is not None else "Succeeded"
        exit_code, reason = (1, "Error") if failure is not None else (0, "Completed")
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "message": failure or "",
            "finishedAt": now_rfc3339(),
        }
        return _status(
            pod, status, phase, node_ip, ip, ready=False, container_state={"terminated": terminated}
        )
    if not started:
        waiting = {"waiting": {"reason": "ContainerCreating"}}
        return _status(pod, status, "Pending", node_ip, None, ready=False, container_state=waiting)
    ready = elapsed >= config.start_delay + config.ready_delay and UNREADY_ANNOTATION not in annotations
    crashing = CRASH_ANNOTATION in annotations
    running = _status(pod, status, "Running", node_ip, ip, ready=ready and not crashing, crashing=crashing)
    return _apply_exits(pod, running, now or datetime.now(UTC), config)


def _status(
    pod: dict[str, Any],
    status: dict[str, Any],
    phase: str,
    node_ip: str,
    ip: str | None,
    *,
    ready: bool,
    container_state: dict[str, Any] | None = None,
    crashing: bool = False,
) -> dict[str, Any]:
    spec = pod.get("spec", {})
    existing_conditions = status.get("conditions", [])
    previous = {c["name"]: c for c in status.get("containerStatuses", [])}
    containers = []
    for i, container in enumerate(spec.get("containers", [])):
        old = previous.get(container["name"], {})
        started_at = (old.get("state", {}).get("running") or {}).get("startedAt") or now_rfc3339()
        state = container_state or {"running": {"startedAt": started_at}}
        restarts = int(old.get("restartCount", 0))
        entry: dict[str, Any] = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": f"sim://{container.get('image', '')}",
            "containerID": _container_id(pod, container["name"], restarts),
            "ready": ready,
            "started": "running" in state,
            "restartCount": restarts,
            "state": state,
        }
        if "lastState" in old:
            entry["lastState"] = old["lastState"]
        if crashing and i == 0:
            was_crashing = (old.get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"
            entry["restartCount"] = restarts if was_crashing else restarts + 1
            entry["started"] = False
            entry["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": "simulated crash"}}
            entry["lastState"] = {
                "terminated": {"exitCode": 1, "reason": "Error", "finishedAt": now_rfc3339()}
            }
        containers.append(entry)
    init_statuses = [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": f"sim://{c.get('image', '')}",
            "ready": phase != "Pending",
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}
            if phase != "Pending"
            else {"waiting": {"reason": "PodInitializing"}},
        }
        for c in spec.get("initContainers", [])
    ]
    initialized = phase != "Pending"
    desired: dict[str, Any] = {
        "phase": phase,
        "hostIP": node_ip,
        "hostIPs": [{"ip": node_ip}],
        "startTime": status.get("startTime") or now_rfc3339(),
        "conditions": [
            _condition(existing_conditions, "PodScheduled", True),
            _condition(existing_conditions, "Initialized", initialized, "ContainersNotInitialized"),
            _condition(existing_conditions, "ContainersReady", ready, "ContainersNotReady"),
            _condition(existing_conditions, "Ready", ready, "ContainersNotReady"),
        ],
        "containerStatuses": containers,
    }
    if init_statuses:
        desired["initContainerStatuses"] = init_statuses
    if ip is not None:
        desired["podIP"] = ip
        desired["podIPs"] = [{"ip": ip}]
    return desired


def _container_id(pod: dict[str, Any], name: str, restarts: int) -> str:
    """A new ID for every run of a container, as a runtime gives one."""
    base = f"sim://{pod['metadata']['uid']}/{name}"
    return base if restarts == 0 else f"{base}/{restarts}"


# -- container exits (terminate-container) ----------------------------------------------------------------
def termination_requests(value: str) -> dict[str, int]:
    """Container name -> exit code, from a terminate-container annotation value."""
    requests: dict[str, int] = {}
    for item in value.split(","):
        name, _, code = (part.strip() for part in item.partition(":"))
        if not name:
            continue
        try:
            exit_code = int(code) if code else DEFAULT_EXIT_CODE
        except ValueError:
            continue
        if 0 <= exit_code <= 255:
            requests[name] = exit_code
    return requests


def restarts_after(restart_policy: str | None, exit_code: int) -> bool:
    """Whether a container that exited with `exit_code` is started again under the pod's restart policy."""
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return exit_code != 0
    return True  # Always, the API's default


def _restart_policy(pod: dict[str, Any]) -> str:
    return str(pod.get("spec", {}).get("restartPolicy") or "Always")


def _exit_marker(value: str) -> str:
    # Kept in the exit's message: the status is this kubelet's only memory that it acted on a value.
    return f"exit requested by {TERMINATE_ANNOTATION}={value}"


def _acted_on(old: dict[str, Any], marker: str) -> bool:
    return any(
        ((old.get(field) or {}).get("terminated") or {}).get("message") == marker
        for field in ("state", "lastState")
    )


def _exited(entry: dict[str, Any], exit_code: int, marker: str, now: datetime) -> dict[str, Any]:
    """A running container's status once it has exited with `exit_code`."""
    terminated = {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "message": marker,
        "startedAt": entry["state"]["running"]["startedAt"],
        "finishedAt": rfc3339(now),
        "containerID": entry["containerID"],
    }
    return {**entry, "ready": False, "started": False, "state": {"terminated": terminated}}


def _restarted(
    pod: dict[str, Any], entry: dict[str, Any], old: dict[str, Any], exited: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """An exited container's status once it runs again; the exit moves to `lastState`."""
    restarts = int(old.get("restartCount", 0)) + 1
    return {
        **entry,
        "containerID": _container_id(pod, entry["name"], restarts),
        "restartCount": restarts,
        "started": True,
        "state": {"running": {"startedAt": rfc3339(now)}},
        "lastState": {"terminated": exited},
    }


def _was_restarted(entry: dict[str, Any]) -> bool:
    return int(entry.get("restartCount", 0)) > 0 and "terminated" in (entry.get("lastState") or {})


def _next_container_state(
    pod: dict[str, Any],
    entry: dict[str, Any],
    old: dict[str, Any],
    exit_code: int | None,
    marker: str,
    now: datetime,
    config: KubeletConfig,
) -> dict[str, Any]:
    """One container's status, given the running status `_status` proposes and the one reported before."""
    exited = (old.get("state") or {}).get("terminated")
    if exited is not None:
        due = _seconds_since(exited.get("finishedAt"), now) >= config.restart_delay
        if not (due and restarts_after(_restart_policy(pod), int(exited.get("exitCode", 0)))):
            return {**old, "ready": False, "started": False}
        entry = _restarted(pod, entry, old, exited, now)
    elif exit_code is not None and "running" in entry["state"] and not _acted_on(old, marker):
        return _exited(entry, exit_code, marker, now)
    if "running" in entry["state"] and _was_restarted(entry):
        warm = _seconds_since(entry["state"]["running"].get("startedAt"), now) >= config.ready_delay
        return {**entry, "ready": entry["ready"] and warm}
    return entry


def _final_phase(pod: dict[str, Any], containers: list[dict[str, Any]]) -> str | None:
    """Failed or Succeeded once every container has exited for good, else None."""
    if not containers or any("terminated" not in (c.get("state") or {}) for c in containers):
        return None
    codes = [int(c["state"]["terminated"].get("exitCode", 0)) for c in containers]
    if any(restarts_after(_restart_policy(pod), code) for code in codes):
        return None
    return "Failed" if any(code != 0 for code in codes) else "Succeeded"


def _apply_exits(
    pod: dict[str, Any], desired: dict[str, Any], now: datetime, config: KubeletConfig
) -> dict[str, Any]:
    """`desired` (a Running status) with requested exits, pending restarts and their effect on the pod."""
    value = (pod["metadata"].get("annotations") or {}).get(TERMINATE_ANNOTATION, "")
    requests = termination_requests(value)
    marker = _exit_marker(value)
    previous = {c["name"]: c for c in pod.get("status", {}).get("containerStatuses", [])}
    containers = [
        _next_container_state(
            pod, entry, previous.get(entry["name"], {}), requests.get(entry["name"]), marker, now, config
        )
        for entry in desired["containerStatuses"]
    ]
    phase = _final_phase(pod, containers)
    ready = all(c["ready"] for c in containers)
    reason = "PodCompleted" if phase else "ContainersNotReady"
    existing = pod.get("status", {}).get("conditions", [])
    replaced = {kind: _condition(existing, kind, ready, reason) for kind in ("ContainersReady", "Ready")}
    return {
        **desired,
        "phase": phase or desired["phase"],
        "containerStatuses": containers,
        "conditions": [replaced.get(c["type"], c) for c in desired["conditions"]],
    }


def seconds_to_container_change(
    pod: dict[str, Any], status: dict[str, Any], now: datetime, config: KubeletConfig
) -> float | None:
    """Seconds until a container in `status` is due to restart or to turn Ready, if one is."""
    if status.get("phase") in TERMINAL_PHASES:
        return None
    dues = []
    for c in status.get("containerStatuses", []):
        state = c.get("state") or {}
        exited = state.get("terminated")
        if exited is not None and restarts_after(_restart_policy(pod), int(exited.get("exitCode", 0))):
            dues.append(config.restart_delay - _seconds_since(exited.get("finishedAt"), now))
        elif "running" in state and not c.get("ready") and _was_restarted(c):
            dues.append(config.ready_delay - _seconds_since(state["running"].get("startedAt"), now))
    return min((due for due in dues if due > 0), default=None)


def _differs(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    def essentials(status: dict[str, Any]) -> Any:
        return (
            status.get("phase"),
            status.get("podIP"),
            [(c.get("type"), c.get("status")) for c in status.get("conditions", [])],
            [
                (c.get("name"), c.get("ready"), c.get("restartCount"), sorted(c.get("state", {})))
                for c in status.get("containerStatuses", [])
            ],
            [(c.get("name"), c.get("ready")) for c in status.get("initContainerStatuses", [])],
        )

    return bool(essentials(current) != essentials(desired))


class KeyedWorkQueue:
    """Runs `handle(key)` for queued keys on a few workers, never the same key twice at once.

    Its own rather than the runtime's WorkQueue: the kubelet plays the cluster the operator is tested
    against, so a fault in the operator's runtime must not be able to hide itself in the kubelet too."""

    def __init__(self, handle: Callable[[str], Awaitable[None]], workers: int) -> None:
        self._handle = handle
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._again: set[str] = set()
        self._tasks = [asyncio.create_task(self._work()) for _ in range(workers)]

    def add(self, key: str) -> None:
        if key in self._active:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def _work(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                await self._handle(key)
            except Exception:
                log.exception("handling %s failed", key)
            finally:
                self._active.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    self.add(key)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class SimulatedKubelet:
    def __init__(self, api: RawApi, config: KubeletConfig) -> None:
        self.api = api
        self.config = config
        self.node_names = [f"{config.node_prefix}-{i}" for i in range(config.nodes)]
        self.node_ips = {name: f"127.0.1.{i + 1}" for i, name in enumerate(self.node_names)}
        self.pods: dict[str, dict[str, Any]] = {}  # "namespace/name" -> latest pod seen
        self.first_seen: dict[str, float] = {}  # uid -> monotonic time the pod reached this kubelet
        self.ips: dict[str, str] = {}  # uid -> pod IP
        self.stopping: set[str] = set()  # uids whose deletion is in progress
        self._next_ip = 0
        self._queue: KeyedWorkQueue | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._stop_tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        await self.register_nodes()
        self._queue = KeyedWorkQueue(self._sync, self.config.workers)
        tasks = [asyncio.create_task(self._watch_pods()), asyncio.create_task(self._heartbeat())]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._queue.close()

    # -- nodes ---------------------------------------------------------------------------------------------
    def _node_status(self, name: str) -> dict[str, Any]:
        resources = {
            "cpu": self.config.cpu,
            "memory": self.config.memory,
            "pods": str(self.config.pods_per_node),
            "ephemeral-storage": "1Ti",
        }
        if self.config.gpus_per_node:
            resources["nvidia.com/gpu"] = str(self.config.gpus_per_node)
        return node_status(
            name,
            self.node_ips[name],
            resources,
            "simulated://1.0",
            "simulated kubelet is posting ready status",
        )

    async def register_nodes(self) -> None:
        for name in self.node_names:
            await register_node(self.api, name, self._node_status(name), "simulated")
        log.info("registered %d nodes", len(self.node_names))

    async def _heartbeat(self) -> None:
        await heartbeat(
            self.api,
            lambda: {n: self._node_status(n) for n in self.node_names},
            self.config.heartbeat_seconds,
        )

    # -- pods ----------------------------------------------------------------------------------------------
    async def _watch_pods(self) -> None:
        # Only pods the scheduler has bound; pods of other nodes are filtered out below.
        await list_and_watch(
            self.api, "/api/v1/pods", [("fieldSelector", "spec.nodeName!=")], self._on_event, self._on_list
        )

    def _on_list(self, items: list[dict[str, Any]]) -> None:
        seen = {self._observe(pod) for pod in items}
        for key in set(self.pods) - seen:
            self.pods.pop(key, None)

    def _on_event(self, kind: str, pod: dict[str, Any]) -> None:
        if kind == "DELETED":
            self._forget(pod)
        else:
            self._observe(pod)

    def _observe(self, pod: dict[str, Any]) -> str:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        if pod.get("spec", {}).get("nodeName") not in self.node_ips:
            return key
        self.pods[key] = pod
        self.first_seen.setdefault(meta["uid"], time.monotonic())
        assert self._queue is not None
        self._queue.add(key)
        return key

    def _forget(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        current = self.pods.get(key)
        if current is not None and current["metadata"]["uid"] == meta["uid"]:
            self.pods.pop(key, None)
        self.first_seen.pop(meta["uid"], None)
        self.ips.pop(meta["uid"], None)
        self.stopping.discard(meta["uid"])
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _ip_for(self, uid: str) -> str:
        if uid not in self.ips:
            self.ips[uid] = pod_ip(self._next_ip)
            self._next_ip += 1
        return self.ips[uid]

    def _wake_later(self, key: str, delay: float) -> None:
        assert self._queue is not None
        queue = self._queue
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(max(delay, 0.0), queue.add, key)

    async def _sync(self, key: str) -> None:
        pod = self.pods.get(key)
        if pod is None:
            return
        meta = pod["metadata"]
        uid = meta["uid"]
        if meta.get("deletionTimestamp"):
            if uid not in self.stopping:
                self.stopping.add(uid)
                task = asyncio.create_task(self._stop_pod(pod))
                self._stop_tasks.add(task)
                task.add_done_callback(self._stop_tasks.discard)
            return
        elapsed = time.monotonic() - self.first_seen.get(uid, time.monotonic())
        now = datetime.now(UTC)
        status = pod.get("status", {})
        ip = status.get("podIP") or self._ip_for(uid)
        desired = desired_status(pod, self.node_ips[pod["spec"]["nodeName"]], ip, elapsed, self.config, now)
        if desired is not None and _differs(status, desired):
            try:
                updated = await self.api.request(
                    "PATCH",
                    f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                    body={"status": desired},
                    content_type="application/merge-patch+json",
                )
            except ApiError as exc:
                if exc.status == 404:
                    return
                raise
            if updated["metadata"]["uid"] == uid:
                self.pods[key] = updated
        wake = self._next_transition(pod, desired, elapsed, now)
        if wake is not None:
            self._wake_later(key, wake + 0.01)

    def _next_transition(
        self, pod: dict[str, Any], desired: dict[str, Any] | None, elapsed: float, now: datetime
    ) -> float | None:
        """Seconds until the next timed change: the pod Running, then Ready, or a container's restart."""
        pod_due = (self.config.start_delay, self.config.start_delay + self.config.ready_delay)
        dues = [due - elapsed for due in pod_due if elapsed < due]
        container_due = (
            None if desired is None else seconds_to_container_change(pod, desired, now, self.config)
        )
        if container_due is not None:
            dues.append(container_due)
        return min(dues, default=None)

    async def _stop_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        try:
            stop_seconds = float(annotations.get(STOP_SECONDS_ANNOTATION, self.config.stop_delay))
        except ValueError:
            stop_seconds = self.config.stop_delay
        grace = meta.get("deletionGracePeriodSeconds")
        wait = min(stop_seconds, float(grace)) if grace is not None else stop_seconds
        try:
            if wait > 0:
                await asyncio.sleep(wait)
            if not await remove_pod(self.api, pod):
                self.stopping.discard(meta["uid"])
        except Exception:
            log.exception("removing pod %s/%s failed", meta["namespace"], meta["name"])
            self.stopping.discard(meta["uid"])


def parse_args(argv: list[str] | None = None) -> tuple[Path, KubeletConfig]:
    defaults = KubeletConfig()
    parser = argparse.ArgumentParser(
        prog="python -m kuberay_py.testing.kubelet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--nodes", type=int, default=defaults.nodes)
    parser.add_argument("--node-prefix", default=defaults.node_prefix)
    parser.add_argument("--cpu", default=defaults.cpu, help="CPU capacity of each node")
    parser.add_argument("--memory", default=defaults.memory, help="memory capacity of each node")
    parser.add_argument("--pods-per-node", type=int, default=defaults.pods_per_node)
    parser.add_argument("--gpus-per-node", type=int, default=defaults.gpus_per_node)
    parser.add_argument("--start-delay", type=float, default=defaults.start_delay)
    parser.add_argument("--ready-delay", type=float, default=defaults.ready_delay)
    parser.add_argument("--stop-delay", type=float, default=defaults.stop_delay)
    parser.add_argument("--restart-delay", type=float, default=defaults.restart_delay)
    parser.add_argument("--fail-rate", type=float, default=defaults.fail_rate)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    args = parser.parse_args(argv)
    return args.kubeconfig, config_from_args(KubeletConfig, args)


async def run(kubeconfig: Path, config: KubeletConfig) -> None:
    await run_until_signalled(kubeconfig, lambda api, stop: SimulatedKubelet(api, config).run(stop))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kubeconfig, config = parse_args(argv)
    asyncio.run(run(kubeconfig, config))


if __name__ == "__main__":
    main()
