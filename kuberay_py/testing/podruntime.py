"""One pod run as real processes, for the process kubelet (tests only).

The pod gets a network namespace on the kubelet's pod network, and a sandbox process
(:mod:`kuberay_py.testing.podagent`) holding its mount and UTS namespaces. Each container is a process tree in
a PID and mount namespace of its own below the sandbox's, started by ``unshare --kill-child``, so killing that
one process ends every process of the container. Init containers run in order, then the containers; probes
run as the kubelet runs them; a container that exits is restarted as `restartPolicy` says; deletion runs the
preStop hooks, then SIGTERM, then SIGKILL when the grace period is over. `status()` is the pod status a
kubelet would report, read from those processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import resource
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kuberay_py.runtime.objects import now_rfc3339
from kuberay_py.testing.controlplane import die_with_parent
from kuberay_py.testing.podnet import PodNetwork, PodSandbox
from kuberay_py.testing.podspec import (
    DataSource,
    Obj,
    PodSpecError,
    Probe,
    VolumePlan,
    command_line,
    container_env,
    named_port,
    plan_volume,
    probe_of,
    resolv_conf,
)

log = logging.getLogger("kuberay_py.process_kubelet")

_AGENT = "kuberay_py.testing.podagent"
_READY_TIMEOUT = 30.0
_PID_TIMEOUT = 10.0
_SETUP_RETRY = 5.0
_EXEC_KILL_WAIT = 5.0
_SHM_BYTES = 64 * 1024 * 1024  # what container runtimes give a pod's /dev/shm
_NOFILE = 1048576
_PR_SET_PDEATHSIG = 1
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_STOP_POLL = 0.2


class Node(Protocol):
    """What a pod needs from its kubelet."""

    name: str
    ip: str
    allocatable: Mapping[str, str]
    network: PodNetwork
    api_socket: Path
    api_port_in_pod: int
    image_env: Mapping[str, str]
    extra_path: tuple[str, ...]
    restart_backoff: float

    def hosts_for(self, pod_ip: str, hostname: str, namespace: str) -> str: ...

    def changed(self, key: str) -> None: ...

    async def read_data(self, kind: str, namespace: str, name: str) -> Mapping[str, str] | None: ...

    async def request_token(self, pod: Obj, source: Obj) -> str: ...

    def made_mount_point(self, path: str) -> None: ...


@dataclass
class Container:
    spec: Obj
    init: bool
    restarts: int = 0
    process: asyncio.subprocess.Process | None = None
    pid: int | None = None  # PID 1 of the container's PID namespace, as the host sees it
    env: dict[str, str] = field(default_factory=dict)
    started_at: str | None = None
    terminated: Obj | None = None
    last_terminated: Obj | None = None
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    ready: bool = False
    started: bool = False  # the startup probe (if any) succeeded
    live_failures: int = 0
    stopping: bool = False

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


def _exit_code(returncode: int) -> int:
    # `unshare --fork` dies of the signal that killed its child: report it the way a container runtime does.
    return returncode if returncode >= 0 else 128 - returncode


class PodRuntime:
    def __init__(self, node: Node, pod: Obj, root: Path, log_dir: Path) -> None:
        self.node = node
        self.pod = pod
        meta = pod["metadata"]
        self.key = f"{meta['namespace']}/{meta['name']}"
        self.uid = str(meta["uid"])
        self.root = root
        self.log_dir = log_dir
        self.sandbox: PodSandbox | None = None
        self.agent: asyncio.subprocess.Process | None = None
        self.agent_socket = root / "agent.sock"
        spec = pod.get("spec") or {}
        self.restart_policy = str(spec.get("restartPolicy") or "Always")
        self.init = [Container(c, True) for c in spec.get("initContainers") or []]
        self.containers = [Container(c, False) for c in spec.get("containers") or []]
        self.initialized = not self.init
        self.sandbox_ready = False
        self.start_time = now_rfc3339()
        self.deleting = False
        self.kill_at: float | None = (
            None  # when containers still running get SIGKILL; a shorter grace moves it
        )
        self.config_error: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._volumes: dict[str, VolumePlan] = {}

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        self._main = asyncio.create_task(self._run(), name=f"pod {self.key}")

    async def _run(self) -> None:
        while True:
            try:
                await self._prepare()
                break
            except PodSpecError as error:
                self.config_error = str(error)
                log.warning("pod %s: %s", self.key, error)
                self.node.changed(self.key)
                await asyncio.sleep(_SETUP_RETRY)
            except Exception as error:
                # A sandbox that failed half way is made again from nothing, like a kubelet's pod sandbox.
                log.exception("pod %s: setting up its sandbox failed", self.key)
                self.config_error = f"pod sandbox: {error}"
                self.node.changed(self.key)
                await self._remove_sandbox()
                await asyncio.sleep(_SETUP_RETRY)
        self.config_error = None
        for container in self.init:
            while not self.deleting:
                if not await self._try_start(container):
                    continue
                assert container.process is not None
                await container.process.wait()
                self._record_exit(container)
                code = (container.terminated or {}).get("exitCode", 1)
                if code == 0:
                    break
                if self.restart_policy == "Never":
                    self.node.changed(self.key)
                    return  # the pod has failed
                await self._back_off(container)
        self.initialized = True
        self.node.changed(self.key)
        for container in self.containers:
            self._spawn(self._supervise(container))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prepare(self) -> None:
        """The pod's directories, volumes, network namespace and sandbox process."""
        for sub in ("tmp", "volumes", "specs", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        source: DataSource = self.node.read_data
        for volume in (self.pod.get("spec") or {}).get("volumes") or []:
            plan = await plan_volume(
                self.pod,
                volume,
                source,
                lambda ref: self.node.request_token(self.pod, ref),
                self.node.allocatable,
            )
            self._volumes[plan.name] = plan
            self._write_volume(plan)
        if self.sandbox is None:
            self.sandbox = await self.node.network.add_pod(self.key)
            self.pod.setdefault("status", {})["podIP"] = self.sandbox.ip
        if self.agent is None:
            await self._start_sandbox(self.sandbox)
        for container in self.init + self.containers:
            container.env = await self._env_of(container)
        self.sandbox_ready = True
        self.node.changed(self.key)

    def _volume_path(self, name: str) -> Path:
        return self.root / "volumes" / name

    def _write_volume(self, plan: VolumePlan) -> None:
        path = self._volume_path(plan.name)
        path.mkdir(parents=True, exist_ok=True)
        for relative, content in (plan.files or {}).items():
            target = (path / relative).resolve()
            if not target.is_relative_to(path.resolve()):
                raise PodSpecError(f"volume {plan.name!r}: path {relative!r} leaves the volume")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)

    async def _start_sandbox(self, sandbox: PodSandbox) -> None:
        meta = self.pod["metadata"]
        hostname = str((self.pod.get("spec") or {}).get("hostname") or meta["name"])[:63]
        (self.root / "hosts").write_text(self.node.hosts_for(sandbox.ip, hostname, meta["namespace"]))
        (self.root / "resolv.conf").write_text(resolv_conf(meta["namespace"]))
        tmpfs = [f"{self.root / 'shm'}:{_SHM_BYTES}"]
        (self.root / "shm").mkdir(exist_ok=True)
        for plan in self._volumes.values():
            if plan.memory:
                size = f":{plan.size_bytes}" if plan.size_bytes else ""
                tmpfs.append(f"{self._volume_path(plan.name)}{size}")
        argv = [
            *sandbox.exec_prefix(),
            "unshare", "--mount", "--uts", "--propagation", "private", "--",
            sys.executable, "-m", _AGENT, "sandbox",
            "--dir", str(self.root), "--hostname", hostname, "--socket", str(self.agent_socket),
            "--relay", f"{self.node.api_port_in_pod}:{self.node.api_socket}",
            *(f"--tmpfs={entry}" for entry in tmpfs),
            *(f"--keep={path}" for path in kept_under_tmp()),
        ]  # fmt: skip
        with await asyncio.to_thread(open, self.log_dir / "sandbox.log", "ab") as out:
            agent = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=out,
                preexec_fn=die_with_parent,
            )  # fmt: skip
        self.agent = agent
        assert agent.stdout is not None
        line = b""
        with contextlib.suppress(TimeoutError):
            line = await asyncio.wait_for(agent.stdout.readline(), _READY_TIMEOUT)
        if line.strip() != b"ready":
            raise RuntimeError(f"pod {self.key}: sandbox did not start; see {self.log_dir / 'sandbox.log'}")

    def hosts_changed(self) -> None:
        """Rewrite the pod's /etc/hosts in place: the sandbox's bind mount holds this very file."""
        if self.sandbox is None or not (self.root / "hosts").exists():
            return
        meta = self.pod["metadata"]
        hostname = str((self.pod.get("spec") or {}).get("hostname") or meta["name"])[:63]
        text = self.node.hosts_for(self.sandbox.ip, hostname, meta["namespace"]).encode()
        with open(self.root / "hosts", "r+b") as hosts:
            if hosts.read() != text:
                hosts.seek(0)
                hosts.write(text)
                hosts.truncate()

    async def _env_of(self, container: Container) -> dict[str, str]:
        assert self.sandbox is not None
        base = {
            **self.node.image_env,
            "PATH": ":".join([str(Path(sys.executable).parent), *self.node.extra_path, _SYSTEM_PATH]),
            # A home of the pod's own, as a container has: what Ray keeps in ~/.ray (an auth token file) is
            # never shared with the machine or another pod.
            "HOME": str(self.root / "home"),
            "HOSTNAME": str(self.pod["metadata"]["name"]),
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(self.node.api_port_in_pod),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(self.node.api_port_in_pod),
        }
        self.pod.setdefault("status", {}).update(
            podIP=self.sandbox.ip, hostIP=self.node.ip, podIPs=[{"ip": self.sandbox.ip}]
        )
        return await container_env(self.pod, container.spec, self.node.read_data, self.node.allocatable, base)

    # -- containers ----------------------------------------------------------------------------------------
    def _mounts(self, container: Container) -> list[Obj]:
        mounts = []
        for index, mount in enumerate(container.spec.get("volumeMounts") or []):
            plan = self._volumes.get(str(mount.get("name")))
            if plan is None:
                raise PodSpecError(f"volumeMounts[{index}]: no volume {mount.get('name')!r}")
            source = Path(plan.host_path) if plan.host_path is not None else self._volume_path(plan.name)
            sub = str(mount.get("subPath") or "")
            if sub:
                source = source / sub
                if plan.empty_dir:
                    source.mkdir(parents=True, exist_ok=True)
            target = str(mount.get("mountPath", ""))
            # The container's launcher makes a missing mount point and its missing parents on the machine's
            # own filesystem; the kubelet removes them again when it exits.
            missing = Path(target)
            while not os.path.lexists(missing):
                self.node.made_mount_point(str(missing))
                missing = missing.parent
            mounts.append({"source": str(source), "target": target, "readOnly": bool(mount.get("readOnly"))})
        return mounts

    async def _start_container(self, container: Container) -> None:
        assert self.agent is not None
        container.waiting = ("ContainerCreating", "")
        try:
            argv = command_line(container.spec, container.env)
            mounts = self._mounts(container)
        except PodSpecError as error:
            container.waiting = ("CreateContainerConfigError", str(error))
            self.node.changed(self.key)
            raise
        spec_file = self.root / "specs" / f"{container.name}.json"
        spec = {
            "argv": argv,
            "env": container.env,
            "mounts": mounts,
            "workingDir": container.spec.get("workingDir"),
        }
        spec_file.write_text(json.dumps(spec))
        log.info(
            "pod %s: starting %s (in place of image %s)",
            self.key,
            container.name,
            container.spec.get("image"),
        )
        logfile = self.log_dir / f"{container.name}.log"
        with await asyncio.to_thread(open, logfile, "ab") as out:
            out.write(f"--- {now_rfc3339()} start {container.name} (restart {container.restarts})\n".encode())
            out.flush()
            container.process = await asyncio.create_subprocess_exec(
                "nsenter", "-t", str(self.agent.pid), "-m", "-u", "-n", "--",
                "unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc",
                "--propagation", "private", "--",
                sys.executable, "-m", _AGENT, "container", "--spec", str(spec_file),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, preexec_fn=_container_preexec,
            )  # fmt: skip
        container.pid = await _child_of(container.process.pid)
        container.started_at = now_rfc3339()
        container.terminated = None
        container.waiting = None
        container.ready = False
        container.started = probe_of(container.spec, "startupProbe") is None
        container.live_failures = 0
        self.node.changed(self.key)

    def _record_exit(self, container: Container) -> None:
        assert container.process is not None and container.process.returncode is not None
        code = _exit_code(container.process.returncode)
        container.terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": container.started_at,
            "finishedAt": now_rfc3339(),
            "containerID": self._container_id(container),
        }
        container.ready = False
        log.info("pod %s: container %s exited with %d", self.key, container.name, code)
        self.node.changed(self.key)

    def _container_id(self, container: Container) -> str:
        return f"process://{self.uid[:8]}-{container.name}-{container.restarts}"

    async def _back_off(self, container: Container) -> None:
        delay = min(self.node.restart_backoff * 2 ** min(container.restarts, 8), 300.0)
        container.waiting = ("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container")
        self.node.changed(self.key)
        await asyncio.sleep(delay)
        container.last_terminated = container.terminated
        container.terminated = None
        container.restarts += 1

    def _restarts(self, exit_code: int) -> bool:
        return self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and exit_code != 0)

    async def _try_start(self, container: Container) -> bool:
        """Start the container; when it cannot start, report why, wait, and say so."""
        try:
            await self._start_container(container)
            return True
        except PodSpecError:
            pass  # reported as CreateContainerConfigError
        except OSError as error:
            log.warning("pod %s: starting %s failed: %s", self.key, container.name, error)
            container.waiting = ("RunContainerError", str(error))
            self.node.changed(self.key)
        await asyncio.sleep(_SETUP_RETRY)
        return False

    async def _supervise(self, container: Container) -> None:
        while not self.deleting:
            if not await self._try_start(container):
                continue
            assert container.process is not None
            probes = [
                asyncio.create_task(self._probe_loop(container, kind))
                for kind in ("startupProbe", "readinessProbe", "livenessProbe")
                if probe_of(container.spec, kind) is not None
            ]
            if not probes:
                container.ready = True
                self.node.changed(self.key)
            await container.process.wait()
            for task in probes:
                task.cancel()
            self._record_exit(container)
            if self.deleting or not self._restarts(
                container.terminated["exitCode"] if container.terminated else 1
            ):
                return
            await self._back_off(container)

    # -- probes --------------------------------------------------------------------------------------------
    async def _probe_loop(self, container: Container, kind: str) -> None:
        probe = probe_of(container.spec, kind)
        assert probe is not None
        await asyncio.sleep(probe.initial_delay)
        successes = failures = 0
        while container.running:
            if kind != "startupProbe" and not container.started:
                await asyncio.sleep(probe.period)
                continue
            ok, detail = await self.run_probe(container, probe)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            if kind == "startupProbe":
                if ok:
                    container.started = True
                    self.node.changed(self.key)
                    return
                if failures >= probe.failure_threshold:
                    await self._kill_unhealthy(container, f"startup probe failed: {detail}")
                    return
            elif kind == "readinessProbe":
                ready = container.ready
                if ok and successes >= probe.success_threshold:
                    ready = True
                elif not ok and failures >= probe.failure_threshold:
                    ready = False
                if ready != container.ready:
                    container.ready = ready
                    self.node.changed(self.key)
            elif not ok and failures >= probe.failure_threshold:
                await self._kill_unhealthy(container, f"liveness probe failed: {detail}")
                return
            await asyncio.sleep(probe.period)

    async def run_probe(self, container: Container, probe: Probe) -> tuple[bool, str]:
        assert self.sandbox is not None
        if probe.kind == "exec":
            argv = [str(part) for part in probe.detail.get("command") or []]
            code, output = await self.exec_in(container, argv, probe.timeout)
            return code == 0, output[-200:]
        if probe.kind in ("httpGet", "tcpSocket"):
            request = {
                "host": probe.detail.get("host") or self.sandbox.ip,
                "port": named_port(container.spec, probe.detail.get("port")),
                "timeout": probe.timeout,
            }
            if probe.kind == "httpGet":
                request.update(
                    path=probe.detail.get("path") or "/", scheme=probe.detail.get("scheme") or "HTTP"
                )
                request["headers"] = probe.detail.get("httpHeaders") or []
            answer = await self.ask_agent(
                {"http" if probe.kind == "httpGet" else "tcp": request}, probe.timeout + 1
            )
            return bool(answer.get("ok")), str(answer.get("detail", ""))
        return False, f"{probe.kind} probes are not supported by the process kubelet"

    async def ask_agent(self, request: Obj, timeout: float) -> Obj:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_unix_connection(str(self.agent_socket))
                try:
                    writer.write(json.dumps(request).encode() + b"\n")
                    await writer.drain()
                    answer: Obj = json.loads(await reader.readline() or b"{}")
                    return answer
                finally:
                    writer.close()
        except (OSError, TimeoutError, ValueError) as error:
            return {"ok": False, "detail": f"probe not run: {error}"}

    async def exec_in(self, container: Container, argv: list[str], timeout: float) -> tuple[int, str]:
        """Run `argv` in the container's namespaces with its environment, as `kubectl exec` would."""
        if container.pid is None or not container.running:
            return 1, "container not running"
        process = await asyncio.create_subprocess_exec(
            *exec_argv(container.pid, argv), env=container.env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await asyncio.wait_for(process.wait(), _EXEC_KILL_WAIT)
            return 1, f"timed out after {timeout:g}s"
        return int(process.returncode or 0), output.decode(errors="replace")

    async def _kill_unhealthy(self, container: Container, reason: str) -> None:
        log.info("pod %s: killing %s: %s", self.key, container.name, reason)
        await self._stop_container(container, self._grace())

    # -- stopping ------------------------------------------------------------------------------------------
    def _grace(self) -> float:
        meta_grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        spec_grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        value = meta_grace if meta_grace is not None else spec_grace
        return float(30 if value is None else value)

    async def _stop_container(self, container: Container, grace: float) -> None:
        """preStop, SIGTERM to the container's PID 1, then SIGKILL once `grace` seconds have passed."""
        process = container.process
        if process is None or process.returncode is not None or container.stopping:
            return
        container.stopping = True
        try:
            self.shorten(grace)
            pre_stop = ((container.spec.get("lifecycle") or {}).get("preStop") or {}).get("exec")
            if pre_stop and grace > 0:
                argv = [str(part) for part in pre_stop.get("command") or []]
                code, output = await self.exec_in(container, argv, self._left())
                log.info("pod %s: preStop of %s exited %d: %s", self.key, container.name, code, output[-300:])
                line = f"--- {now_rfc3339()} preStop exited {code}\n{output}\n".encode()
                await asyncio.to_thread(_append, self.log_dir / f"{container.name}.log", line)
            if container.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(container.pid, signal.SIGTERM)
            while process.returncode is None and self._left() > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), min(self._left(), _STOP_POLL))
            if process.returncode is None:
                for pid in (container.pid, process.pid):
                    if pid is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                await process.wait()
        finally:
            container.stopping = False

    def shorten(self, grace: float) -> None:
        """SIGKILL no later than `grace` seconds from now, as a deletion with a shorter grace period asks."""
        at = time.monotonic() + grace
        if self.kill_at is None or at < self.kill_at:
            self.kill_at = at

    def _left(self) -> float:
        return max((self.kill_at or time.monotonic()) - time.monotonic(), 0.0)

    async def stop(self, grace: float | None = None) -> None:
        """Stop every container (within the grace period), then remove the sandbox, namespace and files."""
        self.deleting = True
        if self._main is not None and not self._main.done():
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)
        wait = self._grace() if grace is None else grace
        await asyncio.gather(
            *(self._stop_container(c, wait) for c in self.init + self.containers), return_exceptions=True
        )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._remove()

    async def _remove(self) -> None:
        await self._remove_sandbox()
        await asyncio.to_thread(shutil.rmtree, self.root, True)

    async def _remove_sandbox(self) -> None:
        self.sandbox_ready = False
        if self.agent is not None:
            if self.agent.stdin is not None:
                self.agent.stdin.close()
            try:
                await asyncio.wait_for(self.agent.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.agent.kill()
                await self.agent.wait()
            self.agent = None
        await self.node.network.remove_pod(self.key)
        self.sandbox = None

    # -- status --------------------------------------------------------------------------------------------
    def _container_status(self, container: Container) -> Obj:
        state: Obj
        if container.running:
            state = {"running": {"startedAt": container.started_at}}
        elif container.terminated is not None:
            state = {"terminated": container.terminated}
        else:
            reason, message = container.waiting or ("ContainerCreating", "")
            if self.config_error:
                reason, message = "CreateContainerConfigError", self.config_error
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        status: Obj = {
            "name": container.name,
            "image": container.spec.get("image", ""),
            "imageID": "",
            "state": state,
            "lastState": {"terminated": container.last_terminated} if container.last_terminated else {},
            "ready": container.running and container.ready and container.started,
            "restartCount": container.restarts,
            "started": container.running and container.started,
        }
        if container.started_at is not None:
            status["containerID"] = self._container_id(container)
        return status

    def phase(self) -> str:
        if not self.initialized:
            failed_init = (
                any(c.terminated is not None and c.terminated.get("exitCode") for c in self.init)
                and self.restart_policy == "Never"
            )
            return "Failed" if failed_init else "Pending"
        if any(c.running for c in self.containers) or any(c.terminated is None for c in self.containers):
            return "Running" if any(c.running or c.terminated for c in self.containers) else "Pending"
        codes = [int((c.terminated or {}).get("exitCode", 1)) for c in self.containers]
        if self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and any(codes)):
            return "Running"  # between a container's exit and its restart
        return "Failed" if any(codes) else "Succeeded"

    def status(self, previous: Obj) -> Obj:
        ready = self.initialized and all(self._container_status(c)["ready"] for c in self.containers)

        def condition(kind: str, value: bool) -> Obj:
            text = "True" if value else "False"
            old = next((c for c in previous.get("conditions") or [] if c.get("type") == kind), None)
            since = old.get("lastTransitionTime") if old and old.get("status") == text else None
            return {
                "type": kind,
                "status": text,
                "lastProbeTime": None,
                "lastTransitionTime": since or now_rfc3339(),
            }

        scheduled = next(
            (c for c in previous.get("conditions") or [] if c.get("type") == "PodScheduled"),
            condition("PodScheduled", True),
        )
        status: Obj = {
            "phase": self.phase(),
            "hostIP": self.node.ip,
            "hostIPs": [{"ip": self.node.ip}],
            "startTime": self.start_time,
            "conditions": [
                condition("PodReadyToStartContainers", self.sandbox_ready),
                condition("Initialized", self.initialized),
                condition("Ready", ready),
                condition("ContainersReady", ready),
                scheduled,
            ],
            "containerStatuses": [self._container_status(c) for c in self.containers],
        }
        if self.init:
            status["initContainerStatuses"] = [self._container_status(c) for c in self.init]
        if self.sandbox is not None:
            status["podIP"] = self.sandbox.ip
            status["podIPs"] = [{"ip": self.sandbox.ip}]
        return status

    def describe(self) -> Obj:
        """What tests need to reach into the pod: its namespace, address and the containers' PID 1s."""
        return {
            "key": self.key,
            "uid": self.uid,
            "netns": self.sandbox.netns if self.sandbox else None,
            "ip": self.sandbox.ip if self.sandbox else None,
            "agent_socket": str(self.agent_socket),
            "log_dir": str(self.log_dir),
            "containers": {
                c.name: {"pid": c.pid if c.running else None, "env": c.env}
                for c in self.init + self.containers
            },
        }


def kept_under_tmp() -> list[str]:
    """The top directories under /tmp that hold this Python environment or this package, if any: a pod's
    own /tmp must not hide them from its containers."""
    import kuberay_py

    homes = [sys.prefix, sys.base_prefix, sys.executable, str(Path(kuberay_py.__file__).parent)]
    kept = set()
    for home in homes:
        for path in {Path(home), Path(home).resolve()}:
            if path.is_relative_to("/tmp") and len(path.parts) > 2:
                kept.add(str(Path(*path.parts[:3])))
    return sorted(kept)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data)


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


def _container_preexec() -> None:
    # SIGKILL, not the SIGTERM of `die_with_parent`: `unshare --fork` ignores SIGTERM while its child runs,
    # and only its own death makes `--kill-child` end the container.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # What container runtimes give a container, so `ulimit -n 65536` in Ray's start command works.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (_NOFILE, _NOFILE))


def exec_argv(pid: int, argv: list[str]) -> list[str]:
    """`argv` run in the mount, UTS, network and PID namespaces of process `pid`, in its working directory."""
    return ["nsenter", "-t", str(pid), "-m", "-u", "-n", "-p", "-w", "--", *argv]


async def _child_of(pid: int) -> int | None:
    """The PID of `unshare --fork`'s one child: the container's PID 1."""
    path = f"/proc/{pid}/task/{pid}/children"
    deadline = time.monotonic() + _PID_TIMEOUT
    while time.monotonic() < deadline:
        try:
            children = _read(path).split()  # procfs: never blocks
        except OSError:
            return None
        if children:
            return int(children[0])
        await asyncio.sleep(0.005)
    return None
