"""A concurrency limit shared fairly between owners (for example, reconciled objects).

At most ``capacity`` operations are in flight in total. When a slot frees up it goes to the waiting owner
that holds the fewest slots at that moment; owners holding as many wait their turn in rotation. An owner
with one write to make therefore gets the next free slot even while another has hundreds queued, which a
plain semaphore (first come, first served) cannot give.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class FairShare(Generic[K]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._in_flight = 0
        self._held: dict[K, int] = {}
        # Owners with waiters, in turn order (a dict keeps insertion order; served owners move to the end).
        self._waiting: dict[K, deque[asyncio.Future[None]]] = {}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def held(self, owner: K) -> int:
        return self._held.get(owner, 0)

    def waiting(self) -> int:
        """Acquisitions queued behind the limit, over all owners."""
        return sum(len(queue) for queue in self._waiting.values())

    @asynccontextmanager
    async def slot(self, owner: K) -> AsyncIterator[None]:
        await self.acquire(owner)
        try:
            yield
        finally:
            self.release(owner)

    async def acquire(self, owner: K) -> None:
        if self._in_flight < self.capacity and not self._waiting:
            self._grant(owner)
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, deque()).append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.release(owner)  # the slot arrived as the caller was cancelled: pass it on
            else:
                self._forget_waiter(owner, granted)
            raise

    def release(self, owner: K) -> None:
        held = self._held.get(owner, 0)
        if held <= 0:
            raise RuntimeError(f"{owner!r} released a slot it does not hold")
        if held == 1:
            del self._held[owner]
        else:
            self._held[owner] = held - 1
        self._in_flight -= 1
        self._dispatch()

    def _grant(self, owner: K) -> None:
        self._in_flight += 1
        self._held[owner] = self._held.get(owner, 0) + 1

    def _dispatch(self) -> None:
        while self._in_flight < self.capacity and self._waiting:
            owner = min(self._waiting, key=self.held)  # min() keeps the first of equals: rotation order
            queue = self._waiting.pop(owner)
            granted = queue.popleft()
            if queue:
                self._waiting[owner] = queue  # back of the rotation
            if granted.done():
                continue  # its caller was cancelled and has not yet taken itself out
            self._grant(owner)
            granted.set_result(None)

    def _forget_waiter(self, owner: K, granted: asyncio.Future[None]) -> None:
        queue = self._waiting.get(owner)
        if queue is None:
            return
        try:
            queue.remove(granted)
        except ValueError:
            return
        if not queue:
            del self._waiting[owner]
