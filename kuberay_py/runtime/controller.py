"""Controllers: a work queue, the watches that feed it, and workers that call a reconciler.

Build one with :class:`Builder` (usually through ``Manager.controller(name)``)::

    manager.controller("widget") \\
        .for_(WIDGETS, predicates=[any_of(GenerationChanged(), labels_or_annotations_changed())]) \\
        .owns(PODS) \\
        .owns(SERVICES) \\
        .watches(CONFIG_MAPS, widgets_using_config_map) \\
        .with_options(max_concurrent_reconciles=8) \\
        .complete(WidgetReconciler(manager.client, manager.cache, recorder))

``for_`` enqueues the object itself, ``owns`` enqueues the controlling owner (by the child's controller
ownerReference, which must point at the ``for_`` kind), ``watches`` enqueues whatever the mapper returns.

Each of ``max_concurrent_reconciles`` workers takes a key, binds ``controller``, ``namespace``, ``name`` and
a fresh ``reconcile_id`` into structlog's context (so any ``structlog.get_logger()`` call in the reconciler
carries them), calls the reconciler, and records the outcome in the ``controller_runtime_*`` metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from kuberay_py.runtime import metrics
from kuberay_py.runtime.cache import Cache
from kuberay_py.runtime.cancellation import raise_if_cancelling
from kuberay_py.runtime.handlers import EnqueueHandler, Mapper, map_to_controller, map_to_self
from kuberay_py.runtime.informer import Informer
from kuberay_py.runtime.predicates import Predicate
from kuberay_py.runtime.reconcile import Reconciler, Request, Result, TerminalError
from kuberay_py.runtime.resources import Resource
from kuberay_py.runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue

log = structlog.get_logger("kuberay_py.runtime.controller")


@dataclass(frozen=True, slots=True)
class Watch:
    """One source of requests: an informer, how its objects map to requests, and which events count."""

    informer: Informer
    mapper: Mapper
    predicates: Sequence[Predicate] = ()


class Controller:
    """Runs ``reconciler`` for the requests its watches produce, ``max_concurrent_reconciles`` at a time."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        watches: Sequence[Watch] = (),
        max_concurrent_reconciles: int = 1,
        reconcile_timeout: float | None = None,
        backoff: ExponentialBackoff[Request] | None = None,
    ) -> None:
        if max_concurrent_reconciles < 1:
            raise ValueError("max_concurrent_reconciles must be at least 1")
        self.name = name
        self.reconciler = reconciler
        self.watches = list(watches)
        self.max_concurrent_reconciles = max_concurrent_reconciles
        self.reconcile_timeout = reconcile_timeout
        self.queue: WorkQueue[Request] = WorkQueue(name, controller=name, backoff=backoff)
        self._handlers: list[tuple[Informer, EnqueueHandler]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._log = log.bind(controller=name)
        self._active = metrics.ACTIVE_WORKERS.labels(name)
        self._active.set(0)
        metrics.MAX_CONCURRENT_RECONCILES.labels(name).set(max_concurrent_reconciles)

    @property
    def running(self) -> bool:
        return any(not w.done() for w in self._workers)

    def start(self) -> None:
        """Connect the watches (replaying what is cached as adds) and start the workers."""
        if self._workers:
            return
        for watch in self.watches:
            handler = EnqueueHandler(self.queue, watch.mapper, watch.predicates)
            watch.informer.add_handler(handler)
            self._handlers.append((watch.informer, handler))
        self._workers = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
            for i in range(self.max_concurrent_reconciles)
        ]
        self._log.info("controller started", workers=self.max_concurrent_reconciles)

    async def wait(self) -> None:
        """Wait for the workers to finish (after :meth:`stop`), re-raising a crashed worker's error.

        Cancelling the wait leaves the workers running (``gather`` would cancel them with it).
        """
        if not self._workers:
            return
        done, _ = await asyncio.wait(self._workers, return_when=asyncio.FIRST_EXCEPTION)
        for worker in done:
            if not worker.cancelled() and (error := worker.exception()) is not None:
                raise error

    async def stop(self, *, drain_timeout: float | None = 30.0) -> None:
        """Stop taking events; let workers finish what is queued for up to ``drain_timeout`` seconds.

        ``drain_timeout=0`` cancels in-flight reconciles at once (used when leadership is lost). Cancelling
        ``stop`` itself cuts the drain short: the workers are cancelled all the same.
        """
        self._disconnect()
        self.queue.shutdown()
        workers, self._workers = self._workers, []
        if not workers:
            return
        try:
            if drain_timeout:
                _, pending = await asyncio.wait(workers, timeout=drain_timeout)
                if pending:
                    self._log.warning(
                        "drain timed out, cancelling in-flight reconciles", pending=len(pending)
                    )
        finally:
            for worker in workers:
                worker.cancel()
            for worker in workers:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            self._log.info("controller stopped")

    def _disconnect(self) -> None:
        for informer, handler in self._handlers:
            informer.remove_handler(handler)
        self._handlers.clear()

    async def _worker(self) -> None:
        while True:
            try:
                request = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.reconcile_once(request)
            finally:
                self.queue.done(request)
            raise_if_cancelling()  # a reconciler that swallowed our cancellation must not keep us running

    async def reconcile_once(self, request: Request) -> None:
        """Reconcile one request and requeue it as its outcome demands."""
        name = self.name
        structlog.contextvars.bind_contextvars(
            controller=name, namespace=request.namespace, name=request.name, reconcile_id=str(uuid.uuid4())
        )
        self._active.inc()
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.reconcile_timeout):
                result = await self.reconciler.reconcile(request)
        except TerminalError as exc:
            metrics.RECONCILE_ERRORS.labels(name).inc()
            metrics.RECONCILE_TOTAL.labels(name, "error").inc()
            self.queue.forget(request)
            self._log.error("reconcile failed permanently", error=str(exc))
        except Exception as exc:
            metrics.RECONCILE_ERRORS.labels(name).inc()
            metrics.RECONCILE_TOTAL.labels(name, "error").inc()
            self.queue.add_rate_limited(request)
            self._log.error(
                "reconcile failed", error=repr(exc), retries=self.queue.num_requeues(request), exc_info=exc
            )
        else:
            self._requeue(request, result or Result())
        finally:
            metrics.RECONCILE_TIME.labels(name).observe(time.monotonic() - started)
            self._active.dec()
            structlog.contextvars.unbind_contextvars("controller", "namespace", "name", "reconcile_id")

    def _requeue(self, request: Request, result: Result) -> None:
        if result.requeue_after and result.requeue_after > 0:
            self.queue.forget(request)
            self.queue.add_after(request, result.requeue_after)
            metrics.RECONCILE_TOTAL.labels(self.name, "requeue_after").inc()
        elif result.requeue:
            self.queue.add_rate_limited(request)
            metrics.RECONCILE_TOTAL.labels(self.name, "requeue").inc()
        else:
            self.queue.forget(request)
            metrics.RECONCILE_TOTAL.labels(self.name, "success").inc()


class Builder:
    """Fluent wiring of a controller's watches; :meth:`complete` returns (and registers) the controller."""

    def __init__(self, name: str, cache: Cache, register: Callable[[Controller], None] | None = None) -> None:
        self._name = name
        self._cache = cache
        self._register = register
        self._for: tuple[Resource, Sequence[Predicate]] | None = None
        self._owns: list[tuple[Resource, Sequence[Predicate]]] = []
        self._watches: list[tuple[Resource, Mapper, Sequence[Predicate]]] = []
        self._max_concurrent = 1
        self._reconcile_timeout: float | None = None
        self._backoff: ExponentialBackoff[Request] | None = None

    def for_(self, resource: Resource, *, predicates: Sequence[Predicate] = ()) -> Builder:
        """The primary resource: its own events enqueue its own key."""
        if self._for is not None:
            raise ValueError("for_ can be called only once")
        self._for = (resource, predicates)
        return self

    def owns(self, resource: Resource, *, predicates: Sequence[Predicate] = ()) -> Builder:
        """A child resource: its events enqueue its controlling owner of the ``for_`` kind."""
        self._owns.append((resource, predicates))
        return self

    def watches(self, resource: Resource, mapper: Mapper, *, predicates: Sequence[Predicate] = ()) -> Builder:
        """Any resource: its events enqueue whatever ``mapper`` returns."""
        self._watches.append((resource, mapper, predicates))
        return self

    def with_options(
        self,
        *,
        max_concurrent_reconciles: int | None = None,
        reconcile_timeout: float | None = None,
        backoff: ExponentialBackoff[Request] | None = None,
    ) -> Builder:
        if max_concurrent_reconciles is not None:
            self._max_concurrent = max_concurrent_reconciles
        if reconcile_timeout is not None:
            self._reconcile_timeout = reconcile_timeout
        if backoff is not None:
            self._backoff = backoff
        return self

    def complete(self, reconciler: Reconciler) -> Controller:
        watches: list[Watch] = []
        if self._for is not None:
            resource, predicates = self._for
            watches.append(Watch(self._cache.informer(resource), map_to_self, predicates))
        if self._owns and self._for is None:
            raise ValueError("owns needs for_: children are mapped to owners of the for_ kind")
        for resource, predicates in self._owns:
            assert self._for is not None
            watches.append(Watch(self._cache.informer(resource), map_to_controller(self._for[0]), predicates))
        for resource, mapper, predicates in self._watches:
            watches.append(Watch(self._cache.informer(resource), mapper, predicates))
        if not watches:
            raise ValueError("a controller needs at least one of for_, owns or watches")
        controller = Controller(
            self._name,
            reconciler,
            watches=watches,
            max_concurrent_reconciles=self._max_concurrent,
            reconcile_timeout=self._reconcile_timeout,
            backoff=self._backoff,
        )
        if self._register is not None:
            self._register(controller)
        return controller
