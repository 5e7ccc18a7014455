"""Pod networking for a process kubelet (tests only): network namespaces joined by a switch of their own.

    async with PodNetwork() as network:
        sandbox = await network.add_pod("default/raycluster-head")
        server = await asyncio.create_subprocess_exec(*sandbox.exec_prefix(), "python", "-m", "http.server")
        relay = await network.relay_into(sandbox, api_server_port, 6443)  # pod loopback -> host's
        host_port, out = await network.relay_out_of(sandbox, 8000)  # host loopback -> pod's
        ...
        await network.remove_pod("default/raycluster-head")

The switch is a Linux bridge inside a network namespace of its own, which also holds the gateway address.
Each pod's namespace has `lo`, and `eth0`: one end of a veth pair whose other end is a port of the bridge,
with the next free address of the network's subnet and a default route via the gateway. Every interface is
created directly inside a namespace made here, so the machine's own (root) network namespace never gains an
interface, address or route, not even for a moment, and nothing forwards between the namespaces and the
machine: pods reach each other and nothing else. A packet for any other address (a DNS query to the
machine's resolver too) is dropped, not refused, so it waits out its timeout. The host's loopback is
reached only through a `Relay`, which carries each connection over a Unix socket (a path is the same in
every network namespace); its in-namespace half is :mod:`kuberay_py.testing.podnet_forward`.

Every namespace is named `<prefix><run id>-...`. A live instance holds a lock under `STATE_DIR`, so
:func:`remove_leftovers`, which :meth:`PodNetwork.start` runs first, removes what crashed instances left
(their processes included) and never touches a live one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import itertools
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Self

from kuberay_py.testing.lifecycle import CloseOnExit
from kuberay_py.testing.podnet_forward import READY, Connect, Connections

log = logging.getLogger("kuberay_py.podnet")

DEFAULT_PREFIX = "krpy-"
DEFAULT_SUBNET = "10.244.0.0/24"
# On tmpfs, like the namespaces' own names: a reboot clears both together.
STATE_DIR = Path("/run/kuberay-py-podnet")
NETNS_DIR = Path("/run/netns")  # where `ip netns` keeps a file per namespace name

_BRIDGE = "br0"
_FORWARDER = "kuberay_py.testing.podnet_forward"
_RUN_ID_HEX = 8
_SLUG_MAX = 32
_PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_.-]+")
_COMMAND_TIMEOUT = 30.0
_READY_TIMEOUT = 15.0
_EXIT_TIMEOUT = 5.0
_KILL_POLL = 0.02
_TEARDOWN_CONCURRENCY = 8


class PodNetworkError(RuntimeError):
    """The pod network could not do what was asked."""


class CommandError(PodNetworkError):
    """A command failed; the message names it and carries its stderr."""

    def __init__(self, argv: Sequence[str], detail: str, returncode: int | None = None) -> None:
        self.argv = list(argv)
        self.detail = detail
        self.returncode = returncode
        status = "failed" if returncode is None else f"exited with {returncode}"
        super().__init__(f"`{shlex.join(self.argv)}` {status}: {detail}")


# --- commands ---------------------------------------------------------------------------------------------


async def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()


async def _run(*argv: str, stdin: str | None = None) -> str:
    """Run a command to completion and return its stdout; CommandError if it fails or hangs."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    data = None if stdin is None else stdin.encode()
    try:
        out, err = await asyncio.wait_for(process.communicate(data), _COMMAND_TIMEOUT)
    except TimeoutError:
        await _kill(process)
        raise CommandError(argv, f"no answer after {_COMMAND_TIMEOUT:g}s") from None
    except asyncio.CancelledError:
        await _kill(process)
        raise
    if process.returncode != 0:
        detail = err.decode(errors="replace").strip() or "(nothing on stderr)"
        if stdin is not None:
            detail += f" (input: {'; '.join(stdin.splitlines())})"
        raise CommandError(argv, detail, process.returncode)
    return out.decode()


async def _ip_batch(netns: str, commands: Sequence[str]) -> None:
    """Run `ip` commands inside a namespace with one process; the first failure stops the rest."""
    await _run("ip", "-n", netns, "-batch", "-", stdin="\n".join(commands) + "\n")


# --- namespaces -------------------------------------------------------------------------------------------


async def list_namespaces(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """The names of the network namespaces (`ip netns list`) that start with `prefix`."""
    out = await _run("ip", "netns", "list")
    names = (line.split()[0] for line in out.splitlines() if line.strip())
    return sorted(name for name in names if name.startswith(prefix))


async def _namespace_pids(name: str) -> list[int]:
    return [int(pid) for pid in (await _run("ip", "netns", "pids", name)).split()]


async def _kill_namespace_processes(name: str) -> None:
    """SIGKILL every process in the namespace until none is left (a process may fork while we kill)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _EXIT_TIMEOUT
    while pids := await _namespace_pids(name):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if loop.time() > deadline:
            raise CommandError(["ip", "netns", "pids", name], f"processes {pids} outlived SIGKILL")
        await asyncio.sleep(_KILL_POLL)


async def _delete_namespace(name: str) -> None:
    """Kill the namespace's processes, then delete it; a namespace that is already gone is fine."""
    if not (NETNS_DIR / name).exists():
        return
    await _kill_namespace_processes(name)
    await _run("ip", "netns", "delete", name)


# --- run state: a lock that says "alive", and a directory for relay sockets -------------------------------


def _check_prefix(prefix: str) -> None:
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"prefix {prefix!r} must be letters, digits, '_', '.' or '-'")


def _lock_path(run: str) -> Path:
    return STATE_DIR / f"{run}.lock"


def _run_dir(run: str) -> Path:
    return STATE_DIR / run


def _hold_run(run: str) -> int:
    """Create the run's state and return the fd whose flock marks it alive until it is closed."""
    _run_dir(run).mkdir(parents=True, mode=0o700)
    fd = os.open(_lock_path(run), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def run_is_live(run: str) -> bool:
    # flock locks belong to an open file, so this probe sees the holder's lock even in the same process.
    try:
        fd = os.open(_lock_path(run), os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _remove_run_state(run: str) -> None:
    shutil.rmtree(_run_dir(run), ignore_errors=True)
    _lock_path(run).unlink(missing_ok=True)


def _run_of(prefix: str, name: str) -> str | None:
    """`<prefix><run id>` for a name this module made with `prefix`, else None."""
    match = re.match(rf"({re.escape(prefix)}[0-9a-f]{{{_RUN_ID_HEX}}})(?:-|\.lock\Z|\Z)", name)
    return match.group(1) if match else None


def _runs_with_state(prefix: str) -> set[str]:
    if not STATE_DIR.is_dir():
        return set()
    runs = (_run_of(prefix, entry.name) for entry in STATE_DIR.iterdir())
    return {run for run in runs if run is not None}


async def remove_leftovers(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Remove every namespace named with `prefix` by an instance that is no longer alive (it crashed, or was
    never closed), killing its processes first, and that instance's state; return the namespaces removed.
    Namespaces of live instances, and names this module would not make, are left alone."""
    _check_prefix(prefix)
    by_run: dict[str, list[str]] = {}
    for name in await list_namespaces(prefix):
        if (run := _run_of(prefix, name)) is not None:
            by_run.setdefault(run, []).append(name)
    runs = set(by_run) | await asyncio.to_thread(_runs_with_state, prefix)
    removed: list[str] = []
    for run in sorted(runs):
        if await asyncio.to_thread(run_is_live, run):
            continue
        for name in by_run.get(run, []):
            await _delete_namespace(name)
            removed.append(name)
        await asyncio.to_thread(_remove_run_state, run)
    return removed


# --- sandboxes and relays -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodSandbox:
    """A pod's network namespace; `ip` is its eth0 address."""

    key: str
    netns: str
    ip: str

    def exec_prefix(self) -> list[str]:
        """The argv prefix that runs a command inside this namespace."""
        return ["ip", "netns", "exec", self.netns]


async def _log_lines(stream: asyncio.StreamReader, where: str) -> None:
    # Read the forwarder's stderr all along, so a full pipe can never block it.
    async for line in stream:
        log.warning("relay forwarder in %s: %s", where, line.decode(errors="replace").rstrip())


class Relay(CloseOnExit):
    """A way between the host's loopback and a pod's: a listener in the host process and a forwarder inside
    the pod's namespace, joined by a Unix socket. `close()` stops both and every connection they carry."""

    def __init__(self, network: PodNetwork, sandbox: PodSandbox, socket_path: Path, connect: Connect) -> None:
        self.sandbox = sandbox
        self.socket_path = socket_path
        self._network = network
        self._connections = Connections(connect)
        self._server: asyncio.Server | None = None
        self._forwarder: asyncio.subprocess.Process | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._closed = False

    async def _serve_unix(self) -> None:
        self._server = await asyncio.start_unix_server(self._connections.accept, str(self.socket_path))

    async def _serve_tcp(self) -> int:
        self._server = await asyncio.start_server(self._connections.accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _start_forwarder(self, *args: str) -> None:
        argv = [*self.sandbox.exec_prefix(), sys.executable, "-m", _FORWARDER, *args]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._forwarder = process
        assert process.stdout is not None and process.stderr is not None
        line = b""
        with contextlib.suppress(TimeoutError):
            line = await asyncio.wait_for(process.stdout.readline(), _READY_TIMEOUT)
        if line.strip() != READY:
            await _kill(process)
            detail = (await process.stderr.read()).decode(errors="replace").strip()
            raise CommandError(argv, detail or f"not listening after {_READY_TIMEOUT:g}s", process.returncode)
        self._stderr_task = asyncio.create_task(_log_lines(process.stderr, self.sandbox.netns))

    async def _stop_forwarder(self, process: asyncio.subprocess.Process) -> None:
        # EOF on its stdin is the forwarder's signal to exit; SIGKILL only if it does not.
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), _EXIT_TIMEOUT)
        except TimeoutError:
            await _kill(process)
        if self._stderr_task is not None:
            await asyncio.wait([self._stderr_task], timeout=_EXIT_TIMEOUT)
            self._stderr_task.cancel()

    async def close(self) -> None:
        """Stop listening, end every connection, stop the forwarder; closing twice is fine."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        await self._connections.close()
        if self._forwarder is not None:
            await self._stop_forwarder(self._forwarder)
        if self._server is not None:
            await self._server.wait_closed()
        self.socket_path.unlink(missing_ok=True)
        self._network._forget_relay(self)


# --- the network ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Pod:
    sandbox: PodSandbox
    port: str  # the bridge's end of the pod's veth pair
    address: int
    relays: set[Relay] = field(default_factory=set)
    plumbed: bool = False


class PodNetwork(CloseOnExit):
    """A switch (a bridge in a namespace of its own) and a namespace per pod, all named
    `<prefix><run id>-...`; `start()` before use and `close()` after (or `async with`)."""

    def __init__(self, *, prefix: str = DEFAULT_PREFIX, subnet: str = DEFAULT_SUBNET) -> None:
        _check_prefix(prefix)
        self.subnet = ipaddress.IPv4Network(subnet)
        if self.subnet.prefixlen > 30:
            raise ValueError(f"subnet {subnet} has no room for a gateway and a pod")
        self.prefix = prefix
        self.run_id = secrets.token_hex(_RUN_ID_HEX // 2)
        self.run_name = f"{prefix}{self.run_id}"
        self.bridge_netns = f"{self.run_name}-br"
        self.gateway = str(self.subnet.network_address + 1)
        self._first = int(self.subnet.network_address) + 2
        self._last = int(self.subnet.broadcast_address) - 1
        self._next_address = self._first
        self._in_use: set[int] = set()
        self._pods: dict[str, _Pod] = {}
        self._relays: set[Relay] = set()
        self._serials = itertools.count(1)
        self._lock_fd: int | None = None
        self._closed = False
        self._teardown_slots = asyncio.Semaphore(_TEARDOWN_CONCURRENCY)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    @property
    def pods(self) -> dict[str, PodSandbox]:
        return {key: pod.sandbox for key, pod in self._pods.items()}

    async def start(self) -> None:
        """Remove what crashed instances left, then make the switch."""
        if self._lock_fd is not None or self._closed:
            raise PodNetworkError("a PodNetwork starts once")
        await remove_leftovers(self.prefix)
        self._lock_fd = await asyncio.to_thread(_hold_run, self.run_name)
        try:
            await _run("ip", "netns", "add", self.bridge_netns)
            await _ip_batch(
                self.bridge_netns,
                [
                    f"link add {_BRIDGE} type bridge",
                    f"addr add {self.gateway}/{self.subnet.prefixlen} dev {_BRIDGE}",
                    f"link set {_BRIDGE} up",
                ],
            )
        except BaseException:
            await self.close()
            raise

    def _check_running(self) -> None:
        if self._lock_fd is None or self._closed:
            raise PodNetworkError("the PodNetwork is used before start() or after close()")

    def _allocate(self) -> int:
        # Round-robin from the last address handed out, so a freed address is not reused at once.
        size = self._last - self._first + 1
        for step in range(size):
            address = self._first + (self._next_address - self._first + step) % size
            if address not in self._in_use:
                self._in_use.add(address)
                self._next_address = address + 1
                return address
        raise PodNetworkError(f"no free address left in {self.subnet}")

    def _netns_name(self, serial: int, key: str) -> str:
        slug = _UNSAFE_RE.sub("-", key).strip("-.")[:_SLUG_MAX].rstrip("-.")
        return f"{self.run_name}-{serial}" + (f"-{slug}" if slug else "")

    async def add_pod(self, key: str) -> PodSandbox:
        """Make the pod's namespace: `lo` up, and eth0 on the switch with the next free address."""
        self._check_running()
        if key in self._pods:
            raise ValueError(f"pod {key!r} already has a sandbox")
        serial = next(self._serials)
        address = self._allocate()
        sandbox = PodSandbox(key, self._netns_name(serial, key), str(ipaddress.IPv4Address(address)))
        pod = _Pod(sandbox, port=f"port{serial}", address=address)
        self._pods[key] = pod
        try:
            await self._plumb(pod)
        except BaseException:
            self._pods.pop(key, None)
            # The first error says more; close() sweeps up whatever this teardown leaves.
            try:
                await self._teardown(pod)
            except Exception:
                log.warning("tearing down half-made sandbox %s", sandbox.netns, exc_info=True)
            raise
        return sandbox

    async def _plumb(self, pod: _Pod) -> None:
        netns = pod.sandbox.netns
        await _run("ip", "netns", "add", netns)
        # Both ends are made where they live: nothing ever appears in the root namespace.
        await _ip_batch(
            self.bridge_netns,
            [
                f"link add {pod.port} type veth peer name eth0 netns {netns}",
                f"link set {pod.port} master {_BRIDGE} up",
            ],
        )
        await _ip_batch(
            netns,
            [
                "link set lo up",
                f"addr add {pod.sandbox.ip}/{self.subnet.prefixlen} dev eth0",
                "link set eth0 up",
                f"route add default via {self.gateway}",
            ],
        )
        pod.plumbed = True

    async def remove_pod(self, key: str) -> None:
        """Kill the pod's processes and relays and delete its namespace and veth; an unknown key is fine."""
        pod = self._pods.pop(key, None)
        if pod is not None:
            await self._teardown(pod)

    async def _teardown(self, pod: _Pod) -> None:
        try:
            for relay in list(pod.relays):
                await relay.close()
            if pod.plumbed:
                await _run("ip", "-n", self.bridge_netns, "link", "delete", pod.port)
            # Deleting the namespace also takes any veth a half-finished add_pod left in it.
            await _delete_namespace(pod.sandbox.netns)
        finally:
            self._in_use.discard(pod.address)

    async def _bounded_teardown(self, pod: _Pod) -> None:
        async with self._teardown_slots:
            await self._teardown(pod)

    async def close(self) -> None:
        """Remove every relay, pod namespace and veth, and the switch; closing twice is fine. What fails is
        raised after the rest is removed; the next start() with this prefix removes what it left."""
        if self._closed:
            return
        self._closed = True
        for relay in list(self._relays):
            await relay.close()
        pods = list(self._pods.values())
        self._pods.clear()
        results = await asyncio.gather(*(self._bounded_teardown(pod) for pod in pods), return_exceptions=True)
        errors = [result for result in results if isinstance(result, Exception)]
        # The switch, and anything a failed add_pod or teardown left behind.
        try:
            for name in await list_namespaces(f"{self.run_name}-"):
                await _delete_namespace(name)
        except PodNetworkError as error:
            errors.append(error)
        await asyncio.to_thread(_remove_run_state, self.run_name)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup(f"closing pod network {self.run_name}", errors)

    def _pod_of(self, sandbox: PodSandbox) -> _Pod:
        self._check_running()
        pod = self._pods.get(sandbox.key)
        if pod is None or pod.sandbox != sandbox:
            raise PodNetworkError(f"{sandbox.netns} is not a pod of network {self.run_name}")
        return pod

    def _new_relay(self, pod: _Pod, connect: Connect, path: Path) -> Relay:
        relay = Relay(self, pod.sandbox, path, connect)
        self._relays.add(relay)
        pod.relays.add(relay)
        return relay

    def _forget_relay(self, relay: Relay) -> None:
        self._relays.discard(relay)
        pod = self._pods.get(relay.sandbox.key)
        if pod is not None:
            pod.relays.discard(relay)

    def _socket_path(self) -> Path:
        return _run_dir(self.run_name) / f"relay-{next(self._serials)}.sock"

    async def relay_into(self, sandbox: PodSandbox, host_port: int, pod_port: int) -> Relay:
        """Make 127.0.0.1:`pod_port` inside the pod lead to 127.0.0.1:`host_port` on the host."""
        pod = self._pod_of(sandbox)
        path = self._socket_path()
        relay = self._new_relay(pod, partial(asyncio.open_connection, "127.0.0.1", host_port), path)
        try:
            await relay._serve_unix()  # first: the forwarder dials it for every connection
            await relay._start_forwarder("tcp-to-unix", str(pod_port), str(path))
        except BaseException:
            await relay.close()
            raise
        return relay

    async def relay_out_of(
        self, sandbox: PodSandbox, pod_port: int, *, pod_host: str = "127.0.0.1"
    ) -> tuple[int, Relay]:
        """Make 127.0.0.1:<the port returned> on the host lead to `pod_host`:`pod_port` inside the pod (its
        loopback by default; pass `sandbox.ip` for a server bound to eth0 only)."""
        pod = self._pod_of(sandbox)
        path = self._socket_path()
        relay = self._new_relay(pod, partial(asyncio.open_unix_connection, str(path)), path)
        try:
            await relay._start_forwarder("unix-to-tcp", str(path), pod_host, str(pod_port))
            host_port = await relay._serve_tcp()
        except BaseException:
            await relay.close()
            raise
        return host_port, relay
