"""A tiny HTTP/1.1 server on asyncio streams for ``/metrics``, ``/healthz`` and ``/readyz``.

Only ``GET``/``HEAD`` of fixed paths, one request per connection: enough for Prometheus and kubelet probes,
without a web framework. Routes are async or plain callables returning a :class:`Response`.

:func:`metrics_route` renders :data:`kuberay_py.runtime.metrics.REGISTRY`; :class:`HealthChecks` turns named
checks into the Kubernetes probe convention (200 ``ok``, or 500 listing what failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kuberay_py.runtime import metrics

log = structlog.get_logger("kuberay_py.runtime.http")

_MAX_HEADER_BYTES = 16 * 1024
_READ_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[], Response | Awaitable[Response]]


def parse_bind_address(address: str) -> tuple[str, int] | None:
    """``":8080"`` (all interfaces), ``"127.0.0.1:0"`` (any free port) or ``"0"`` (disabled: None)."""
    if address in ("", "0"):
        return None
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or "0.0.0.0"), int(port)


class HttpServer:
    def __init__(self, host: str, port: int, routes: Mapping[str, Route]) -> None:
        self.host = host
        self.requested_port = port
        self.routes = dict(routes)
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started on port 0)."""
        if self._server is None or not self._server.sockets:
            return self.requested_port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.requested_port)
        log.info("serving", address=f"{self.host}:{self.port}", paths=sorted(self.routes))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            response, method = await self._respond(head)
            status = HTTPStatus(response.status)
            header = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write(header if method == "HEAD" else header + response.body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except Exception:
            log.exception("http handler failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, head: bytes) -> tuple[Response, str]:
        if len(head) > _MAX_HEADER_BYTES:
            return Response(431, b"request header too large\n"), "GET"
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3:
            return Response(400, b"bad request\n"), "GET"
        method, target = parts[0], parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return Response(405, b"method not allowed\n"), method
        route = self.routes.get(target) or self.routes.get(target.rstrip("/"))
        if route is None:
            return Response(404, b"not found\n"), method
        result = route()
        if inspect.isawaitable(result):
            result = await result
        return result, method


def metrics_route() -> Response:
    return Response(200, generate_latest(metrics.REGISTRY), CONTENT_TYPE_LATEST)


class HealthChecks:
    """Named boolean checks behind one probe endpoint."""

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}

    def add(self, name: str, check: Callable[[], bool]) -> None:
        self._checks[name] = check

    def __call__(self) -> Response:
        failed = []
        for name, check in self._checks.items():
            try:
                ok = check()
            except Exception:
                ok = False
            if not ok:
                failed.append(name)
        if failed:
            body = "".join(f"[-]{name} failed\n" for name in failed)
            return Response(500, f"{body}check failed\n".encode())
        return Response(200, b"ok")
