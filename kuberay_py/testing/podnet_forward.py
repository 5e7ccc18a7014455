"""The in-namespace half of a :mod:`kuberay_py.testing.podnet` relay (tests only).

It is started inside a pod's network namespace (``ip netns exec NAME python -m
kuberay_py.testing.podnet_forward ...``) and forwards connections between that namespace's TCP and a Unix
socket, whose path, unlike a TCP address, is the same in every network namespace:

- ``tcp-to-unix PORT PATH``: listen on 127.0.0.1:PORT in this namespace; each connection goes to PATH.
- ``unix-to-tcp PATH HOST PORT``: listen on the Unix socket PATH; each connection goes to HOST:PORT here.

It prints ``ready`` once it listens, and exits when its stdin closes, so it never outlives the process that
started it. :func:`splice` is shared with the host half of each relay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable
from functools import partial

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[], Awaitable[Stream]]

READY = b"ready"
_CHUNK = 64 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(_CHUNK):
        writer.write(data)
        await writer.drain()
    # Pass the half-close on: the other direction may still have bytes to carry.
    if writer.can_write_eof():
        writer.write_eof()


async def splice(left: Stream, right: Stream) -> None:
    """Copy bytes both ways until both directions have ended; an error in either one ends both."""
    pumps = [
        asyncio.create_task(_pump(left[0], right[1])),
        asyncio.create_task(_pump(right[0], left[1])),
    ]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        left[1].close()
        right[1].close()


async def forward(accepted: Stream, connect: Connect) -> None:
    """Join one accepted connection to a new one from `connect`; a far side that is down or resets only
    closes this connection."""
    try:
        with contextlib.suppress(OSError):
            await splice(accepted, await connect())
    finally:
        accepted[1].close()


class Connections:
    """Forwards each connection a listener accepts with a task of its own, so that all can be ended."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._tasks: set[asyncio.Task[None]] = set()

    def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, not a coroutine: asyncio would report each cancelled handler task as an error.
        task = asyncio.get_running_loop().create_task(forward((reader, writer), self._connect))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _stdin_closed() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(_CHUNK):
        pass


async def _listen(args: argparse.Namespace, connections: Connections) -> asyncio.Server:
    if args.mode == "tcp-to-unix":
        return await asyncio.start_server(connections.accept, "127.0.0.1", args.port)
    return await asyncio.start_unix_server(connections.accept, args.path)


async def _serve(args: argparse.Namespace) -> None:
    if args.mode == "tcp-to-unix":
        connections = Connections(partial(asyncio.open_unix_connection, args.path))
    else:
        connections = Connections(partial(asyncio.open_connection, args.host, args.port))
    server = await _listen(args, connections)
    sys.stdout.buffer.write(READY + b"\n")
    sys.stdout.flush()
    await _stdin_closed()
    server.close()
    await connections.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kuberay_py.testing.podnet_forward")
    modes = parser.add_subparsers(dest="mode", required=True)
    tcp = modes.add_parser("tcp-to-unix", help="listen on 127.0.0.1:PORT, forward to the Unix socket PATH")
    tcp.add_argument("port", type=int)
    tcp.add_argument("path")
    unix = modes.add_parser("unix-to-tcp", help="listen on the Unix socket PATH, forward to HOST:PORT")
    unix.add_argument("path")
    unix.add_argument("host")
    unix.add_argument("port", type=int)
    return parser


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
