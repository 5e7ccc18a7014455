"""A rate-limited work queue with client-go's guarantees, for asyncio.

* A key waiting in the queue is stored once, however often it is added (dedupe).
* A key being processed is never handed to a second worker; if it is added meanwhile it is queued again when
  the first worker calls :meth:`WorkQueue.done`, so the change is never lost.
* :meth:`WorkQueue.add_after` delays an add (the earliest pending time wins);
  :meth:`WorkQueue.add_rate_limited` delays by the key's own exponential backoff (5 ms doubling up to
  1000 s), which :meth:`WorkQueue.forget` resets after a success. A failing key therefore waits longer and
  longer while the others keep flowing.
* :meth:`WorkQueue.shutdown` stops new adds; keys already queued are still handed out so workers can drain,
  and :meth:`WorkQueue.get` raises :class:`ShutDown` once nothing is left.

Protocol for a worker::

    key = await queue.get()
    try:
        ...
    finally:
        queue.done(key)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from kuberay_py.runtime import metrics

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue is shut down and empty."""


class ExponentialBackoff(Generic[K]):
    """Per-key delay ``base * 2**failures``, capped; client-go's ItemExponentialFailureRateLimiter."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """The delay for this failure of ``key``; each call counts one more failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures > 60:  # 2**60 * base is far past any sensible cap; avoid float overflow
            return self.cap
        return float(min(self.cap, self.base * 2**failures))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)


class WorkQueue(Generic[K]):
    """See the module docstring. ``name`` and ``controller`` label the workqueue metrics."""

    def __init__(
        self, name: str, *, controller: str | None = None, backoff: ExponentialBackoff[K] | None = None
    ):
        self.name = name
        self.controller = controller or name
        self.backoff: ExponentialBackoff[K] = backoff or ExponentialBackoff()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._added_at: dict[K, float] = {}
        self._processing: dict[K, float] = {}
        self._delayed: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False
        labels = (self.controller, self.name)
        self._depth = metrics.WORKQUEUE_DEPTH.labels(*labels)
        self._adds = metrics.WORKQUEUE_ADDS.labels(*labels)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(*labels)
        self._queue_duration = metrics.WORKQUEUE_QUEUE_DURATION.labels(*labels)
        self._work_duration = metrics.WORKQUEUE_WORK_DURATION.labels(*labels)
        self._depth.set(0)
        metrics.track_in_progress(self)

    def __len__(self) -> int:
        """Keys waiting to be picked up (not counting delayed or in-progress ones)."""
        return len(self._queue)

    def is_processing(self, key: K) -> bool:
        return key in self._processing

    def pending_delayed(self) -> int:
        return len(self._delayed)

    def in_progress_since(self) -> Iterable[float]:
        return list(self._processing.values())

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is already waiting; a key in progress is queued again when done."""
        if self._shutting_down or key in self._dirty:
            return
        self._adds.inc()
        self._dirty.add(key)
        self._added_at[key] = time.monotonic()
        if key in self._processing:
            return
        self._push(key)

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; a pending earlier add of the same key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._delayed[key] = (when, loop.call_at(when, self._fire, key))

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after its exponential backoff; counts a retry."""
        if self._shutting_down:
            return
        self._retries.inc()
        self.add_after(key, self.backoff.when(key))

    def forget(self, key: K) -> None:
        """Reset the backoff of ``key`` (call after it was processed successfully)."""
        self.backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.backoff.failures(key)

    async def get(self) -> K:
        """The next key, waiting for one if needed; raises :class:`ShutDown` when shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self._getters:
                    self._getters.remove(waiter)
                elif self._queue:
                    self._wake_one()  # we were woken for an item we will not take: pass it on
                raise
        key = self._queue.popleft()
        self._depth.dec()
        now = time.monotonic()
        self._processing[key] = now
        self._dirty.discard(key)
        self._queue_duration.observe(now - self._added_at.pop(key, now))
        return key

    def done(self, key: K) -> None:
        """Mark ``key`` finished; if it was added while in progress, it is queued again now."""
        started = self._processing.pop(key, None)
        if started is not None:
            self._work_duration.observe(time.monotonic() - started)
        if key in self._dirty:
            self._push(key)

    def shutdown(self) -> None:
        """Refuse new adds, drop delayed ones, and let workers drain what is queued."""
        self._shutting_down = True
        for _, handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _fire(self, key: K) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def _push(self, key: K) -> None:
        self._queue.append(key)
        self._depth.inc()
        self._wake_one()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
