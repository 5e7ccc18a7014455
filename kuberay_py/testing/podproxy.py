"""An HTTP proxy on the host's loopback into the process kubelet's pod network (tests and the demo only).

The pods' network is closed to the machine (see :mod:`kuberay_py.testing.podnet`), so an operator running on
the host cannot reach a head's dashboard at its pod IP. Given `HTTP_PROXY=http://127.0.0.1:<port>`, its
requests come here instead: each is sent on, through the sandbox of the pod that has the address, to that
pod's port, and the answer comes back the same way. One request per connection (the request is sent with
`Connection: close`), so a kept-alive connection never carries a request to the wrong pod.

Run it as `python -m kuberay_py.testing.podproxy`; it prints `listening on 127.0.0.1:<port>` and serves until
it is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from urllib.parse import urlsplit

from kuberay_py.testing.podaccess import connect_to
from kuberay_py.testing.podnet_forward import Stream
from kuberay_py.testing.prockubelet import describe_all

_HEAD_LIMIT = 64 * 1024
_HOP_HEADERS = ("proxy-connection", "proxy-authorization", "connection", "keep-alive")


async def _open(ip: str, port: int) -> Stream:
    """A connection to `port` of the live pod that has the address `ip`."""
    pod = next((p for p in describe_all().values() if p.get("ip") == ip), None)
    if pod is None:
        raise ConnectionRefusedError(f"no pod has the address {ip}")
    return await connect_to(pod, port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(ConnectionError, OSError, RuntimeError):
        writer.write_eof()


def _reply(writer: asyncio.StreamWriter, status: str, text: str) -> None:
    body = text.encode()
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    writer.write(head.encode() + body)


async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
    try:
        head = await client_reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        client_writer.close()
        return
    lines = head.decode("latin-1").split("\r\n")
    method, target, version = [*lines[0].split(" ", 2), "", ""][:3]
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        _reply(client_writer, "400 Bad Request", f"only absolute http:// targets are proxied, not {target}")
        await client_writer.drain()
        client_writer.close()
        return
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    headers = [h for h in lines[1:] if h and h.split(":", 1)[0].strip().lower() not in _HOP_HEADERS]
    upstream_head = "\r\n".join([f"{method} {path} {version}", *headers, "Connection: close", "", ""])
    try:
        origin_reader, origin_writer = await _open(url.hostname, url.port or 80)
    except (OSError, ValueError) as error:
        _reply(client_writer, "502 Bad Gateway", str(error))
        await client_writer.drain()
        client_writer.close()
        return
    origin_writer.write(upstream_head.encode("latin-1"))
    await origin_writer.drain()
    upload = asyncio.create_task(_pipe(client_reader, origin_writer))
    await _pipe(origin_reader, client_writer)
    upload.cancel()
    for writer in (origin_writer, client_writer):
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=_HEAD_LIMIT)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
