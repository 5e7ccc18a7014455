"""The manager: owns the client, the shared cache, the controllers, leader election and the HTTP endpoints.

::

    client = await connect()
    manager = Manager(client, ManagerOptions(leader_election=True, leader_election_namespace="ray-system"))
    manager.controller("raycluster").for_(RAYCLUSTERS).owns(PODS).complete(reconciler)
    await manager.run()          # until SIGTERM/SIGINT or manager.stop()

:meth:`Manager.run`, in order: serves ``/metrics`` and ``/healthz``/``/readyz`` (ready once every cache has
synced), starts the informers and waits for them to sync, waits for leadership if enabled, starts the
controllers and any added runnables, then waits for a stop signal. On SIGTERM it stops taking events, lets
in-flight and queued reconciles finish for up to ``graceful_shutdown_timeout``, releases the lease and stops
the informers. If leadership is lost, reconciling stops at once (in-flight reconciles are cancelled) and
``run`` raises :class:`LeaderElectionLost`, so the process exits and restarts as a standby, as in
controller-runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from kuberay_py.runtime.cache import Cache, InformerOptions, ResourceSelector
from kuberay_py.runtime.client import Client
from kuberay_py.runtime.controller import Builder, Controller
from kuberay_py.runtime.events import EventRecorder
from kuberay_py.runtime.http_server import HealthChecks, HttpServer, Route, metrics_route, parse_bind_address
from kuberay_py.runtime.informer import Transform, default_transform
from kuberay_py.runtime.leader import LeaderElector, default_identity
from kuberay_py.runtime.resources import Resource

log = structlog.get_logger("kuberay_py.runtime.manager")

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class LeaderElectionLost(Exception):
    """Raised by :meth:`Manager.run` after leadership was lost and reconciling stopped."""


class CacheSyncTimeout(Exception):
    """The informers did not finish their first list within ``cache_sync_timeout``."""


@dataclass
class ManagerOptions:
    namespace: str | None = None
    """Watch only this namespace (None: all namespaces)."""
    cache_selectors: Mapping[Resource, ResourceSelector] = field(default_factory=dict)
    informer_options: InformerOptions = field(default_factory=InformerOptions)
    transform: Transform | None = default_transform
    cache_transforms: Mapping[Resource, Transform] = field(default_factory=dict)
    """Per-resource replacements for ``transform`` (see :mod:`kuberay_py.runtime.cache`)."""
    cache_sync_timeout: float = 120.0

    leader_election: bool = False
    leader_election_id: str = "kuberay-py-leader"
    leader_election_namespace: str | None = None
    """Defaults to the pod's own namespace, else ``default``."""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str | None = None

    metrics_bind_address: str = ":8080"
    health_probe_bind_address: str = ":8081"
    """Same address as metrics to serve everything on one port; ``"0"`` disables either."""
    graceful_shutdown_timeout: float = 30.0
    handle_signals: bool = True


Runnable = Callable[[], Coroutine[Any, Any, None]]


class Manager:
    def __init__(self, client: Client, options: ManagerOptions | None = None) -> None:
        self.client = client
        self.options = opts = options or ManagerOptions()
        self.identity = opts.identity or default_identity()
        self.cache = Cache(
            client,
            namespace=opts.namespace,
            selectors=opts.cache_selectors,
            transform=opts.transform,
            transforms=opts.cache_transforms,
            options=opts.informer_options,
        )
        self.controllers: list[Controller] = []
        self.healthz = HealthChecks()
        self.readyz = HealthChecks()
        self.healthz.add("ping", lambda: True)
        self.readyz.add("informers-synced", lambda: self.cache.synced and self._caches_started)
        self.elector: LeaderElector | None = None
        if opts.leader_election:
            self.elector = LeaderElector(
                client,
                name=opts.leader_election_id,
                namespace=opts.leader_election_namespace or _own_namespace(),
                identity=self.identity,
                lease_duration=opts.lease_duration,
                renew_deadline=opts.renew_deadline,
                retry_period=opts.retry_period,
            )
        self.servers: list[HttpServer] = []
        self._recorders: list[EventRecorder] = []
        self._runnables: list[tuple[Runnable, bool]] = []
        self._runnable_tasks: list[asyncio.Task[None]] = []
        self._caches_started = False
        self._caches_started_event = asyncio.Event()
        self._stop = asyncio.Event()
        self._leading = asyncio.Event()
        self._log = log.bind(identity=self.identity)

    # -- wiring ------------------------------------------------------------------------------------------

    def controller(self, name: str) -> Builder:
        """Start building a controller; ``complete()`` registers it with this manager."""
        return Builder(name, self.cache, self.add_controller)

    def add_controller(self, controller: Controller) -> None:
        self.controllers.append(controller)

    def add_runnable(self, runnable: Runnable, *, needs_leader: bool = True) -> None:
        """Run ``runnable()`` as a task for the manager's life (only while leading if ``needs_leader``)."""
        self._runnables.append((runnable, needs_leader))

    def event_recorder(self, reporting_controller: str) -> EventRecorder:
        """An Event recorder writing through this manager's client, flushed on shutdown."""
        recorder = EventRecorder(
            self.client, reporting_controller=reporting_controller, reporting_instance=self.identity
        )
        self._recorders.append(recorder)
        return recorder

    def port_of(self, path: str) -> int | None:
        """The port serving ``path`` (``/metrics``, ``/healthz``, ``/readyz``) once running, else None."""
        for server in self.servers:
            if path in server.routes:
                return server.port
        return None

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def stop(self) -> None:
        """Ask :meth:`run` to shut down gracefully (what SIGTERM does)."""
        self._stop.set()

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped; see the module docstring for the order of things."""
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        if self.options.handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    handled.append(sig)
        lost = False
        try:
            await self._start_servers()
            for recorder in self._recorders:
                recorder.start()
            self._start_runnables(needs_leader=False)
            self.cache.start()
            self._caches_started = True
            self._caches_started_event.set()
            await self._wait_for_caches()
            if self._stop.is_set():
                pass
            elif self.elector is not None:
                lost = await self._run_with_leader_election()
            else:
                self._start_leading()
                await self._wait_until_stopped()
        finally:
            await self._shutdown(released=not lost)
            for sig in handled:
                loop.remove_signal_handler(sig)
        if lost:
            raise LeaderElectionLost(self.identity)

    async def wait_ready(self) -> None:
        """Wait until the caches have synced (bound it with ``asyncio.timeout``)."""
        await self._caches_started_event.wait()
        await self.cache.wait_synced()

    def _on_signal(self, sig: signal.Signals) -> None:
        self._log.info("signal received, shutting down", signal=sig.name)
        self._stop.set()

    async def _start_servers(self) -> None:
        metrics_address = parse_bind_address(self.options.metrics_bind_address)
        health_address = parse_bind_address(self.options.health_probe_bind_address)
        health_routes: dict[str, Route] = {"/healthz": self.healthz, "/readyz": self.readyz}
        plan: list[tuple[tuple[str, int], dict[str, Route]]] = []
        if metrics_address:
            plan.append((metrics_address, {"/metrics": metrics_route}))
        if health_address:
            if plan and plan[0][0] == health_address and health_address[1] != 0:
                plan[0][1].update(health_routes)  # one port for everything
            else:
                plan.append((health_address, health_routes))
        for (host, port), routes in plan:
            server = HttpServer(host, port, routes)
            await server.start()
            self.servers.append(server)

    async def _wait_for_caches(self) -> None:
        timeout = self.options.cache_sync_timeout
        sync = asyncio.create_task(self.cache.wait_synced())
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({sync, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not sync.done():
            sync.cancel()
            if self._stop.is_set():
                return
            raise CacheSyncTimeout(f"informers not synced after {timeout} s")
        self._log.info("caches synced", informers=len(self.cache.informers))

    async def _run_with_leader_election(self) -> bool:
        """Acquire, lead until stopped or lost; True when leadership was lost."""
        assert self.elector is not None
        acquire = asyncio.create_task(self.elector.acquire())
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait({acquire, stop}, return_when=asyncio.FIRST_COMPLETED)
        if not acquire.done():
            acquire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acquire
            return False
        stop.cancel()
        acquire.result()
        self._start_leading()
        hold = asyncio.create_task(self.elector.hold())
        try:
            await self._wait_until_stopped(hold)
        finally:
            hold.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hold
        if self.elector.is_leader:
            return False
        self._log.error("leader election lost: stopping all reconciles now")
        await self._stop_leading(drain_timeout=0)
        return True

    def _start_leading(self) -> None:
        self._leading.set()
        for controller in self.controllers:
            controller.start()
        self._start_runnables(needs_leader=True)

    async def _wait_until_stopped(self, *also: asyncio.Future[Any]) -> None:
        """Return on stop(), when one of ``also`` finishes, or when a controller worker crashes."""
        stop = asyncio.ensure_future(self._stop.wait())
        watched: set[asyncio.Future[Any]] = {stop, *also}
        for controller in self.controllers:
            if controller.running:
                watched.add(asyncio.ensure_future(controller.wait()))
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for future in watched:
            if future not in also and not future.done():
                future.cancel()
        for future in done:
            if future is not stop and future not in also and future.exception() is not None:
                raise RuntimeError("a controller crashed") from future.exception()

    async def _stop_leading(self, drain_timeout: float) -> None:
        self._leading.clear()
        await asyncio.gather(*(c.stop(drain_timeout=drain_timeout) for c in self.controllers))
        tasks, self._runnable_tasks = self._runnable_tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _shutdown(self, *, released: bool) -> None:
        self._log.info("shutting down")
        await self._stop_leading(drain_timeout=self.options.graceful_shutdown_timeout)
        for recorder in self._recorders:
            await recorder.stop()
        if self.elector is not None and released:
            await self.elector.release()
        await self.cache.stop()
        self._caches_started = False
        for server in self.servers:
            await server.stop()
        self.servers.clear()
        self._log.info("stopped")

    def _start_runnables(self, *, needs_leader: bool) -> None:
        for runnable, wants_leader in self._runnables:
            if wants_leader == needs_leader:
                self._runnable_tasks.append(asyncio.create_task(runnable()))


def _own_namespace() -> str:
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
