"""The manager: owns the client, the shared cache, the controllers, leader election and the HTTP endpoints.

::

    client = await connect()
    manager = Manager(client, ManagerOptions(leader_election=True, leader_election_namespace="widget-system"))
    manager.controller("widget").for_(WIDGETS).owns(PODS).complete(reconciler)
    await manager.run()          # until SIGTERM/SIGINT or manager.stop()

:meth:`Manager.run`, in order: serves ``/metrics`` and ``/healthz``/``/readyz`` (ready once every cache has
synced), starts the informers and waits for them to sync, waits for leadership if enabled, then waits (up to
``takeover_catch_up_timeout``) until every informer has caught up with the API server as of the takeover
(:mod:`.freshness`), so the old leader's last writes are seen; then it starts the controllers and any added
runnables, and waits for a stop signal.

The lease is renewed over a connection pool of its own: with a :class:`~.kube_client.KubeClient` the manager
opens a second one on the same configuration (:meth:`~.kube_client.KubeClient.with_own_pool`) and closes it
when it stops, so renewals never queue behind reconcile traffic.

**Write fence.** ``manager.write_fence.allowed()`` says whether this process may send a write now. Without
leader election it is True until shutdown begins; with it, only while this process leads, its last
successful renewal began within ``renew_deadline`` (monotonic clock) and shutdown has not begun. It does no
I/O: call it right before each create, update, patch or delete, and when it is False skip the write and
return (requeueing is pointless: a process that is not leading does not reconcile)::

    class Reconciler:
        def __init__(self, manager: Manager) -> None:
            self.client, self.cache, self.fence = manager.client, manager.cache, manager.write_fence

        async def reconcile(self, request: Request) -> Result:
            ...
            if not self.fence.allowed():
                return Result()
            await self.client.create(PODS, pod)

**Shutdown** (SIGTERM, SIGINT or :meth:`Manager.stop`): the fence closes at once, so no new write starts.
The controllers stop taking events, and in-flight and queued reconciles get up to
``graceful_shutdown_timeout`` to finish while the lease keeps being renewed, so it cannot expire under a
draining process and let a standby in. Pending Events are flushed; only then do renewals stop and the lease
is released, and a standby takes over at once. If renewals fail for ``renew_deadline`` during the drain, the
drain is cut short (in-flight reconciles are cancelled) and the lease is not released.

If leadership is lost while running, reconciling stops at once (in-flight reconciles are cancelled) and
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
from kuberay_py.runtime.freshness import wait_caught_up
from kuberay_py.runtime.http_server import HealthChecks, HttpServer, Route, metrics_route, parse_bind_address
from kuberay_py.runtime.informer import Transform, default_transform
from kuberay_py.runtime.kube_client import KubeClient
from kuberay_py.runtime.leader import LeaderElector, default_identity
from kuberay_py.runtime.resources import Resource

log = structlog.get_logger("kuberay_py.runtime.manager")

_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
# The elector sends one request at a time; a second connection covers one that is stuck closing.
LEASE_POOL_CONNECTIONS = 2
_SLOW_CATCH_UP = 5.0  # log which informers are behind once catching up takes this long


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
    takeover_catch_up_timeout: float = 30.0
    """How long a new leader waits for its informers to catch up with the API server before it starts
    anyway (with a warning). The lease is renewed meanwhile."""

    metrics_bind_address: str = ":8080"
    health_probe_bind_address: str = ":8081"
    """Same address as metrics to serve everything on one port; ``"0"`` disables either."""
    graceful_shutdown_timeout: float = 30.0
    """How long in-flight reconciles may take to finish on shutdown; keep it below the pod's
    terminationGracePeriodSeconds so the lease is released before the process is killed."""
    handle_signals: bool = True


Runnable = Callable[[], Coroutine[Any, Any, None]]


class WriteFence:
    """Whether this process may send a write now; see the module docstring. The manager closes it."""

    def __init__(self, elector: LeaderElector | None) -> None:
        self._elector = elector
        self._closed = False

    def allowed(self) -> bool:
        """True when a write sent now cannot overlap another leader's. No I/O: call it before every write."""
        if self._closed:
            return False
        return self._elector is None or self._elector.holds_lease()

    def close(self) -> None:
        """Refuse every write from now on: shutdown has begun."""
        self._closed = True


class Manager:
    def __init__(
        self, client: Client, options: ManagerOptions | None = None, *, lease_client: Client | None = None
    ) -> None:
        """``lease_client``: what leader election talks through; by default a pool of its own (see above)."""
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
                lease_client or client,
                name=opts.leader_election_id,
                namespace=opts.leader_election_namespace or _own_namespace(),
                identity=self.identity,
                lease_duration=opts.lease_duration,
                renew_deadline=opts.renew_deadline,
                retry_period=opts.retry_period,
            )
        self.write_fence = WriteFence(self.elector)
        self.servers: list[HttpServer] = []
        self._lease_client_given = lease_client is not None
        self._own_lease_client: KubeClient | None = None
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
        """From acquiring the lease (at once, without leader election) until shutdown begins or it is lost.

        To decide whether to write, use :attr:`write_fence`, which also requires a recent renewal.
        """
        return self._leading.is_set()

    def stop(self) -> None:
        """Ask :meth:`run` to shut down gracefully (what SIGTERM does); the write fence closes at once."""
        self.write_fence.close()
        self._leading.clear()
        self._stop.set()

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until stopped; see the module docstring for the order of things."""
        handled = self._add_signal_handlers()
        renewal: asyncio.Task[None] | None = None
        lost = False
        try:
            await self._start_background()
            await self._wait_for_caches()
            if self.elector is None:
                await self._lead(None)
            elif await self._acquire():
                renewal = asyncio.create_task(self.elector.hold(), name="lease-renewal")
                await self._lead(renewal)
        finally:
            lost = renewal is not None and renewal.done()
            await self._shutdown(renewal)
            self._remove_signal_handlers(handled)
        if lost:
            raise LeaderElectionLost(self.identity)

    async def wait_ready(self) -> None:
        """Wait until the caches have synced (bound it with ``asyncio.timeout``)."""
        await self._caches_started_event.wait()
        await self.cache.wait_synced()

    def _add_signal_handlers(self) -> list[signal.Signals]:
        if not self.options.handle_signals:
            return []
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
                handled.append(sig)
        return handled

    def _remove_signal_handlers(self, handled: list[signal.Signals]) -> None:
        loop = asyncio.get_running_loop()
        for sig in handled:
            loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._log.info("signal received, shutting down", signal=sig.name)
        self.stop()

    async def _start_background(self) -> None:
        """Serve the endpoints; start the recorders, the runnables that need no leadership, and the caches."""
        await self._start_servers()
        for recorder in self._recorders:
            recorder.start()
        self._start_runnables(needs_leader=False)
        self._open_lease_client()
        self.cache.start()
        self._caches_started = True
        self._caches_started_event.set()

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

    def _open_lease_client(self) -> None:
        """Give the elector a connection pool of its own, so renewals never wait for other requests."""
        if self.elector is None or self._lease_client_given or self._own_lease_client is not None:
            return
        if isinstance(self.client, KubeClient):
            self._own_lease_client = self.client.with_own_pool(LEASE_POOL_CONNECTIONS)
            self.elector.client = self._own_lease_client

    async def _close_lease_client(self) -> None:
        own, self._own_lease_client = self._own_lease_client, None
        if own is not None:
            if self.elector is not None:
                self.elector.client = self.client
            await own.close()

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

    async def _acquire(self) -> bool:
        """Wait for the lease; False if stopped first."""
        assert self.elector is not None
        if self._stop.is_set():
            return False
        acquire = asyncio.create_task(self.elector.acquire(), name="lease-acquire")
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({acquire, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _cancel(stop)
            await _cancel(acquire)
        if acquire.cancelled():
            return False
        acquire.result()
        return True

    async def _lead(self, renewal: asyncio.Task[None] | None) -> None:
        """Reconcile until stopped, a controller crashes, or (while ``renewal`` runs) the lease is lost."""
        if self._stop.is_set():
            return
        self._leading.set()
        if renewal is None:
            self._start_controllers()
            await self._wait_until_stopped()
        elif await self._catch_up(renewal):
            self._start_controllers()
            await self._wait_until_stopped(renewal)

    async def _catch_up(self, renewal: asyncio.Task[None]) -> bool:
        """Wait for the informers to see the API server as of the takeover; False if stopped or lost first."""
        catch_up = asyncio.create_task(
            wait_caught_up(
                self.cache.informers,
                timeout=self.options.takeover_catch_up_timeout,
                slow_after=_SLOW_CATCH_UP,
            ),
            name="cache-catch-up",
        )
        try:
            await self._wait_until_stopped(catch_up, renewal)
        finally:
            await _cancel(catch_up)
        if self._stop.is_set() or renewal.done() or catch_up.cancelled():
            return False
        catch_up.result()
        return True

    def _start_controllers(self) -> None:
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

    async def _stop_controllers(self, drain_timeout: float) -> None:
        await asyncio.gather(*(c.stop(drain_timeout=drain_timeout) for c in self.controllers))
        tasks, self._runnable_tasks = self._runnable_tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _shutdown(self, renewal: asyncio.Task[None] | None) -> None:
        """Stop writing; drain and flush while the lease is still renewed; then release it (see above)."""
        self._log.info("shutting down")
        self.write_fence.close()
        self._leading.clear()
        if renewal is not None and renewal.done():
            self._log.error("leader election lost: stopping all reconciles now")
            await self._stop_controllers(drain_timeout=0)
            held = False
        else:
            held = await self._drain(renewal)
        for recorder in self._recorders:
            await recorder.stop()
        if renewal is not None:
            await self._end_renewal(renewal)
        if self.elector is not None and held:
            await self.elector.release()
        await self.cache.stop()
        self._caches_started = False
        for server in self.servers:
            await server.stop()
        self.servers.clear()
        await self._close_lease_client()
        self._log.info("stopped")

    async def _drain(self, renewal: asyncio.Task[None] | None) -> bool:
        """Stop the controllers, giving in-flight reconciles time to finish, cut short if the lease is lost.

        ``renewal`` goes on meanwhile. True if the lease is still held afterwards (or there is none).
        """
        drain = asyncio.create_task(
            self._stop_controllers(self.options.graceful_shutdown_timeout), name="drain"
        )
        watched: set[asyncio.Future[Any]] = {drain} if renewal is None else {drain, renewal}
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cut = not drain.done()
            await _cancel(drain)
            if cut:
                await self._stop_controllers(drain_timeout=0)  # the runnables too
        if not drain.cancelled() and drain.exception() is not None:
            self._log.error("error while draining", exc_info=drain.exception())
        if renewal is not None and renewal.done():
            self._log.error("leader election lost while draining: in-flight reconciles cancelled")
            return False
        return True

    async def _end_renewal(self, renewal: asyncio.Task[None]) -> None:
        await _cancel(renewal)
        if not renewal.cancelled() and renewal.exception() is not None:
            self._log.error("lease renewal failed", exc_info=renewal.exception())

    def _start_runnables(self, *, needs_leader: bool) -> None:
        for runnable, wants_leader in self._runnables:
            if wants_leader == needs_leader:
                self._runnable_tasks.append(asyncio.create_task(runnable()))


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` if it still runs and wait for it to end (its own outcome is left on the task)."""
    if task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


def _own_namespace() -> str:
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"
