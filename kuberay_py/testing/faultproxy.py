"""A fault-injecting HTTPS reverse proxy in front of the local control plane's kube-apiserver (tests only).

The proxy listens on a free loopback port and terminates TLS with a certificate from the control plane's own
CA, so it sees every request. Each request is classified (:func:`~kuberay_py.testing.faultrules.classify`);
the first matching rule decides its fault, otherwise it is forwarded to the API server over TLS with the
control plane's admin client certificate (headers, Authorization included, pass through unchanged; the API
server authenticates the certificate first, so requests act as the admin). Request and response bodies are
streamed, so a watch reaches its client event by event.

    async with FaultProxy.for_control_plane(plane, seed=7) as proxy:
        client = await connect(proxy.write_kubeconfig())
        proxy.set_rules(drop_response(RequestClass.POD_CREATE, probability=0.2))
        proxy.hold_watches("pods", 5.0)
        ...
        print(proxy.fault_table())

Rules and holds may be changed at any moment from the event loop the proxy runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import socket
import ssl
import struct
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from kuberay_py.testing.faultrules import (
    Action,
    RequestClass,
    RequestInfo,
    Rule,
    classify,
    select,
    status_body,
)
from kuberay_py.testing.lifecycle import StartStop
from kuberay_py.testing.pki import KeyPair, issue_serving_cert

if TYPE_CHECKING:
    from kuberay_py.testing.controlplane import ControlPlane

# Headers that describe one connection, not the message; the proxy's two connections set their own.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
# Forward exactly what the client sent: aiohttp would otherwise add its own defaults upstream.
_NO_AUTO_HEADERS = ("Accept-Encoding", "User-Agent", "Content-Type")
_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN


@dataclass(eq=False)
class _Watch:
    """One watch stream being relayed; `held_until` is this stream's own hold (a `hold` rule), loop time."""

    resource: str
    held_until: float = 0.0


class FaultProxy(StartStop):
    """The proxy; :meth:`start`/:meth:`stop` or ``async with``. Counts live in :attr:`requests` and
    :attr:`faults` (keyed by ``(Rule.kind, RequestClass)``, e.g. ``("error-429", RequestClass.POD_CREATE)``).
    """

    def __init__(
        self, upstream: str, ca: KeyPair, admin: KeyPair, *, seed: int = 0, workdir: Path | None = None
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca = ca
        self.admin = admin
        self.rng = random.Random(seed)
        self.requests: Counter[RequestClass] = Counter()
        # When each write other than a lease call was sent on to the API server (event-loop clock): to show
        # that a process that lost or gave up leadership wrote nothing after its successor began.
        self.writes: list[float] = []
        self.faults: Counter[tuple[str, RequestClass]] = Counter()
        self.port = 0
        self._parent_dir = workdir
        self._dir: Path | None = None
        self._rules: list[Rule] = []
        self._holds: dict[str | None, float] = {}  # resource (None: every resource) -> end, loop time
        self._holds_changed = asyncio.Event()
        self._watches: set[_Watch] = set()
        self._in_flight: dict[int, web.BaseRequest] = {}  # by id(): requests are mutable mappings
        self._runner: web.ServerRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def for_control_plane(cls, plane: ControlPlane, *, seed: int = 0) -> FaultProxy:
        return cls(plane.server, plane.pki.ca, plane.pki.admin, seed=seed, workdir=plane.workdir)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the fault proxy is already running")
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="faultproxy-", dir=self._parent_dir))
        serving = await asyncio.to_thread(
            issue_serving_cert, self._dir, "faultproxy", self.ca, common_name="kuberay-py-fault-proxy"
        )
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(str(serving.cert), str(serving.key))
        upstream_tls = ssl.create_default_context(cafile=str(self.ca.cert))
        upstream_tls.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=upstream_tls, limit=0),
            auto_decompress=False,  # relay bytes as they are; Content-Encoding passes through
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0),
            skip_auto_headers=_NO_AUTO_HEADERS,
        )
        # handler_cancellation: a client that goes away (a closed watch) ends its upstream request too.
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=server_tls)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close every client and upstream connection; safe to call twice or after a failed start."""
        for request in list(self._in_flight.values()):
            _abort(request)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def write_kubeconfig(self, path: Path | None = None, user: Mapping[str, Any] | None = None) -> Path:
        """A kubeconfig for the proxy: its URL, the control plane's CA, and the admin's client certificate
        (or `user`). Without `path` it goes in the proxy's own directory, removed by :meth:`stop`."""
        from kuberay_py.testing.controlplane import client_cert_user, write_kubeconfig

        if self._dir is None:
            raise RuntimeError("start the fault proxy first")
        path = path or self._dir / "kubeconfig"
        user = dict(user) if user else client_cert_user(self.admin)
        write_kubeconfig(path, server=self.url, ca_file=self.ca.cert, user=user, name="faultproxy")
        return path

    # -- rules ---------------------------------------------------------------------------------------------
    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(self._rules)

    def set_rules(self, *rules: Rule) -> None:
        """Replace the rules; the first matching rule whose draw succeeds applies to each request."""
        self._rules = list(rules)

    def add_rule(self, rule: Rule) -> None:
        self._rules.append(rule)

    def clear_rules(self) -> None:
        """Back to plain forwarding: no rules, and every held watch delivers again."""
        self._rules = []
        self.release_watches()

    def hold_watches(self, resource: str | None, seconds: float) -> None:
        """Stall every watch of `resource` (None: of every resource), open or opened meanwhile, for `seconds`:
        nothing reaches their clients, the connections stay open, then delivery resumes where it stopped."""
        until = asyncio.get_running_loop().time() + seconds
        self._holds[resource] = max(until, self._holds.get(resource, 0.0))
        for watch in self._watches:
            if resource is None or watch.resource == resource:
                self.faults[("hold", RequestClass.WATCH)] += 1
        self._holds_changed.set()

    def release_watches(self) -> None:
        self._holds.clear()
        for watch in self._watches:
            watch.held_until = 0.0
        self._holds_changed.set()

    # -- what tests read -----------------------------------------------------------------------------------
    def open_watches(self, resource: str | None = None) -> int:
        """How many watch streams (of `resource`, or all) are being relayed right now."""
        return sum(1 for w in self._watches if resource is None or w.resource == resource)

    def fault_table(self) -> list[tuple[str, str, int]]:
        """(fault kind, request class, count) rows, sorted: the faults injected so far."""
        return sorted((kind, str(cls), n) for (kind, cls), n in self.faults.items())

    # -- relaying ------------------------------------------------------------------------------------------
    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        info = classify(request.method, request.path, request.query)
        self.requests[info.request_class] += 1
        rule = select(self._rules, info, self.rng)
        if rule is not None:
            self.faults[(rule.kind, info.request_class)] += 1
        self._in_flight[id(request)] = request
        try:
            if rule is not None and rule.action is Action.DELAY:
                await asyncio.sleep(rule.seconds)
            elif rule is not None and rule.action is Action.RESET:
                return _abort(request)
            elif rule is not None and rule.action is Action.ERROR:
                return _error_response(rule, info)
            return await self._forward(request, info, rule)
        finally:
            del self._in_flight[id(request)]

    async def _forward(
        self, request: web.BaseRequest, info: RequestInfo, rule: Rule | None
    ) -> web.StreamResponse:
        assert self._session is not None
        if _is_write(request.method, request.path, info):
            self.writes.append(asyncio.get_running_loop().time())
        try:
            upstream = await self._session.request(
                request.method,
                self.upstream + request.raw_path,
                headers=_end_to_end(request.headers.items()),
                data=request.content if request.body_exists else None,
                allow_redirects=False,
            )
        except (aiohttp.ClientError, OSError, TimeoutError):
            # The API server is down: the client's connection fails, as it would have without the proxy.
            return _abort(request)
        watch = _Watch(info.resource) if info.request_class is RequestClass.WATCH else None
        try:
            if rule is not None and rule.action is Action.DROP_RESPONSE:
                if watch is None:
                    await upstream.read()  # the answer exists, so the request has taken effect
                return _abort(request)
            if watch is not None:
                self._open_watch(watch, rule)
            response = web.StreamResponse(
                status=upstream.status, reason=upstream.reason, headers=_end_to_end(upstream.headers.items())
            )
            await self._unheld(watch)
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await self._unheld(watch)
                await response.write(chunk)
            await response.write_eof()
            return response
        except (aiohttp.ClientError, TimeoutError):
            # The API server broke the stream off: break the client's off too, rather than end it cleanly.
            return _abort(request)
        finally:
            upstream.release()
            if watch is not None:
                self._watches.discard(watch)

    def _open_watch(self, watch: _Watch, rule: Rule | None) -> None:
        loop_time = asyncio.get_running_loop().time()
        if rule is not None and rule.action is Action.HOLD:
            watch.held_until = loop_time + rule.seconds
        elif max(self._holds.get(watch.resource, 0.0), self._holds.get(None, 0.0)) > loop_time:
            self.faults[("hold", RequestClass.WATCH)] += 1
        self._watches.add(watch)

    async def _unheld(self, watch: _Watch | None) -> None:
        """Return once `watch` is held by nothing; re-check whenever holds change."""
        if watch is None:
            return
        loop = asyncio.get_running_loop()
        while True:
            until = max(watch.held_until, self._holds.get(watch.resource, 0.0), self._holds.get(None, 0.0))
            remaining = until - loop.time()
            if remaining <= 0:
                return
            changed = self._holds_changed = _renewed(self._holds_changed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)


_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# POSTs that ask the API server a question (may I? who is this?) and store nothing.
_REVIEW_GROUPS = ("/apis/authorization.k8s.io/", "/apis/authentication.k8s.io/")


def _is_write(method: str, path: str, info: RequestInfo) -> bool:
    """A request that changes what is stored, other than the lease itself."""
    if method not in _WRITE_METHODS or info.request_class is RequestClass.LEASE:
        return False
    return not path.startswith(_REVIEW_GROUPS)


def _renewed(event: asyncio.Event) -> asyncio.Event:
    """The event to wait on for the next change: the current one unless it has already fired."""
    return asyncio.Event() if event.is_set() else event


def _end_to_end(headers: Iterable[tuple[str, str]]) -> CIMultiDict[str]:
    return CIMultiDict((k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP)


def _abort(request: web.BaseRequest) -> web.Response:
    """Reset the client's connection (RST, not FIN); the response returned is never sent."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        transport.abort()
    return web.Response(status=502)


def _error_response(rule: Rule, info: RequestInfo) -> web.Response:
    retry_after = rule.retry_after if rule.status in (429, 503) else None
    message = f"fault proxy: injected {rule.kind} for {info.request_class} {info.resource}".rstrip()
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response(
        status_body(rule.status, message, retry_after), status=rule.status, headers=headers
    )
