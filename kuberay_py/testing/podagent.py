"""The in-pod halves of the process kubelet (tests only): a pod's sandbox, and the start of each container.

``sandbox`` runs once per pod, inside the pod's network namespace and in mount and UTS namespaces of its own
(``ip netns exec NS unshare --mount --uts --propagation private python -m kuberay_py.testing.podagent
sandbox ...``). It gives the pod its hostname, its own ``/tmp``, ``/etc/hosts`` and ``/etc/resolv.conf``, and
a tmpfs for each memory-backed emptyDir, then holds those namespaces for the pod's containers to join. It
listens on a Unix socket (a path reaches across network namespaces) for the kubelet's probes and for
connections into the pod, and relays the pod's own loopback `--relay PORT:SOCKET` (the API server) out. It
prints ``ready`` once set up and exits when its stdin closes.

``container`` is the first program of each container, as PID 1 of the container's own PID and mount
namespaces (``nsenter -t SANDBOX -m -u -n unshare --pid --fork --mount-proc ... container --spec FILE``).
It bind-mounts the container's volumes, enters its working directory and executes its command with its
environment, so the command itself becomes PID 1 and gets signals as it would in a container.

The socket speaks one JSON line per connection: ``{"http": {...}}`` and ``{"tcp": {...}}`` answer
``{"ok": bool, "detail": str}``; ``{"connect": {"host": H, "port": P}}`` answers ``{"ok": true}`` and then
carries the connection's bytes to H:P inside the pod.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

from kuberay_py.testing.podnet_forward import READY, Connections, splice

_REQUEST_LIMIT = 64 * 1024


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def _bind(source: str, target: str, read_only: bool = False) -> None:
    _mount("--bind", source, target)
    if read_only:
        _mount("-o", "remount,bind,ro", target)


# --- probes and connections -------------------------------------------------------------------------------


async def _http_probe(request: dict[str, Any]) -> tuple[bool, str]:
    host, port = str(request.get("host") or "127.0.0.1"), int(request["port"])
    path = str(request.get("path") or "/")
    if request.get("scheme", "HTTP").upper() != "HTTP":
        return False, "only HTTP probes are supported"
    headers = "".join(f"{h['name']}: {h['value']}\r\n" for h in request.get("headers") or [])
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.36\r\n"
            f"{headers}Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = (await reader.readline()).decode(errors="replace").split()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if len(status_line) < 2 or not status_line[1].isdigit():
        return False, "no HTTP status line"
    code = int(status_line[1])
    return 200 <= code < 400, f"HTTP probe failed with statuscode: {code}" if code >= 400 else f"{code}"


async def _tcp_probe(request: dict[str, Any]) -> tuple[bool, str]:
    _, writer = await asyncio.open_connection(str(request.get("host") or "127.0.0.1"), int(request["port"]))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, "connected"


class Sandbox:
    def __init__(self, relays: list[tuple[int, str]]) -> None:
        self.relays = relays
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: list[Connections] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readuntil(b"\n")
            request = json.loads(line)
            if "connect" in request:
                target = request["connect"]
                try:
                    inner = await asyncio.open_connection(str(target["host"]), int(target["port"]))
                except OSError as error:
                    writer.write(json.dumps({"ok": False, "detail": str(error)}).encode() + b"\n")
                    await writer.drain()
                    return
                writer.write(b'{"ok": true}\n')
                await writer.drain()
                await splice((reader, writer), inner)
                return
            probe = _http_probe if "http" in request else _tcp_probe
            spec = request.get("http") or request.get("tcp") or {}
            try:
                ok, detail = await asyncio.wait_for(probe(spec), float(spec.get("timeout", 1)))
            except TimeoutError:
                ok, detail = False, "timeout"
            except OSError as error:
                ok, detail = False, str(error)
            writer.write(json.dumps({"ok": ok, "detail": detail}).encode() + b"\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, KeyError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def serve(self, socket_path: str) -> None:
        server = await asyncio.start_unix_server(self.handle, socket_path, limit=_REQUEST_LIMIT)
        relays = []
        for port, target in self.relays:
            connections = Connections(partial(asyncio.open_unix_connection, target))
            self._connections.append(connections)
            relays.append(await asyncio.start_server(connections.accept, "127.0.0.1", port))
        sys.stdout.buffer.write(READY + b"\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()  # EOF: the kubelet is done with this pod
        server.close()
        for relay in relays:
            relay.close()
        for connections in self._connections:
            await connections.close()


def run_sandbox(args: argparse.Namespace) -> None:
    root = Path(args.dir)
    socket.sethostname(args.hostname)
    _mount("--make-rprivate", "/")
    for entry in args.tmpfs:
        path, _, size = entry.partition(":")
        options = f"size={size}" if size else "size=50%"
        _mount("-t", "tmpfs", "-o", options, "tmpfs", path)
    _bind(str(root / "hosts"), "/etc/hosts")
    _bind(str(root / "resolv.conf"), "/etc/resolv.conf")
    # The pod's own /tmp hides the host's, except what the containers' programs live in (a checkout and its
    # environment may be under /tmp): those are bound into it at the same paths first.
    for keep in args.keep:
        inside = root / "tmp" / Path(keep).relative_to("/tmp")
        inside.mkdir(parents=True, exist_ok=True)
        _bind(keep, str(inside))
    _mount("--rbind", str(root / "tmp"), "/tmp")
    relays = []
    for entry in args.relay:
        port, _, target = entry.partition(":")
        relays.append((int(port), target))
    asyncio.run(Sandbox(relays).serve(args.socket))


# --- a container's start ----------------------------------------------------------------------------------


def run_container(args: argparse.Namespace) -> None:
    spec = json.loads(Path(args.spec).read_text())
    for mount in spec["mounts"]:
        source, target = mount["source"], mount["target"]
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            Path(target).touch()
        _bind(source, target, bool(mount.get("readOnly")))
    os.chdir(spec.get("workingDir") or "/")
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as error:
        print(f"exec {argv[0]!r}: {error}", file=sys.stderr)
        sys.exit(127 if isinstance(error, FileNotFoundError) else 126)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kuberay_py.testing.podagent")
    commands = parser.add_subparsers(dest="command", required=True)
    sandbox = commands.add_parser("sandbox")
    sandbox.add_argument("--dir", required=True)
    sandbox.add_argument("--hostname", required=True)
    sandbox.add_argument("--socket", required=True)
    sandbox.add_argument("--tmpfs", action="append", default=[], help="PATH[:SIZE_BYTES]")
    sandbox.add_argument("--relay", action="append", default=[], help="PORT:UNIX_SOCKET")
    sandbox.add_argument("--keep", action="append", default=[], help="a directory under /tmp to keep visible")
    container = commands.add_parser("container")
    container.add_argument("--spec", required=True)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.command == "sandbox":
        run_sandbox(args)
    else:
        run_container(args)


if __name__ == "__main__":
    main()
