"""Reaching into the process kubelet's pods from the host, as `kubectl exec`, `port-forward` and `logs` would
(tests and the local demo only; needs root, like the kubelet).

The kubelet describes each live pod in a file (:func:`kuberay_py.testing.prockubelet.describe_all`): its
network namespace and address, its sandbox's socket, and each running container's PID 1 and environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from kuberay_py.testing.lifecycle import CloseOnExit
from kuberay_py.testing.podnet_forward import Connections, Stream
from kuberay_py.testing.podruntime import exec_argv
from kuberay_py.testing.prockubelet import describe_all


class PodAccessError(RuntimeError):
    pass


def describe(key: str) -> dict[str, Any]:
    """The live pod "namespace/name" as its kubelet describes it."""
    found: dict[str, Any] | None = describe_all().get(key)
    if found is None:
        raise PodAccessError(f"no process-kubelet pod {key}")
    return found


async def connect_to(pod: dict[str, Any], port: int) -> Stream:
    """A connection to `port` on the pod's address, made inside its network by its sandbox."""
    reader, writer = await asyncio.open_unix_connection(pod["agent_socket"])
    writer.write(json.dumps({"connect": {"host": pod["ip"], "port": port}}).encode() + b"\n")
    await writer.drain()
    answer = json.loads(await reader.readline() or b"{}")
    if not answer.get("ok"):
        writer.close()
        raise ConnectionRefusedError(f"{pod.get('key', pod['ip'])}:{port}: {answer.get('detail', 'refused')}")
    return reader, writer


@dataclass(frozen=True)
class ExecResult:
    returncode: int
    output: str


async def exec_in(
    key: str, container: str, argv: list[str], *, timeout: float = 120.0, env: dict[str, str] | None = None
) -> ExecResult:
    """Run `argv` in a running container with its environment (plus `env`); stdout and stderr together."""
    entry = (describe(key)["containers"].get(container)) or {}
    pid = entry.get("pid")
    if not pid:
        raise PodAccessError(f"container {container} of {key} is not running")
    process = await asyncio.create_subprocess_exec(
        *exec_argv(int(pid), argv),
        env={**entry.get("env", {}), **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return ExecResult(int(process.returncode or 0), output.decode(errors="replace"))


def logs(key: str, container: str, log_root: Path | None = None) -> str:
    """A container's log (every start of it), from the live pod or, under `log_root`, a deleted one."""
    with contextlib.suppress(PodAccessError):
        path = Path(describe(key)["log_dir"]) / f"{container}.log"
        return path.read_text(errors="replace") if path.exists() else ""
    if log_root is not None:
        folder = key.replace("/", "_")
        texts = [
            p.read_text(errors="replace")
            for p in sorted((log_root / "pods").glob(f"{folder}_*/{container}.log"))
        ]
        return "".join(texts)
    return ""


class PortForward(CloseOnExit):
    """127.0.0.1:`local_port` on the host leads to `port` on the pod's address, through its sandbox."""

    def __init__(self, key: str, port: int) -> None:
        self.key = key
        self.port = port
        self.local_port = 0
        self._server: asyncio.Server | None = None
        self._connections = Connections(self._connect)

    async def _connect(self) -> Stream:
        return await connect_to(describe(self.key), self.port)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._connections.accept, "127.0.0.1", 0)
        self.local_port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._connections.close()
