"""How one pass sends its pod writes: a slow-start window per cluster, a fair share of the operator's writes
across clusters, and an early stop that hands the worker on when other clusters are waiting for one.

- The window starts at `start_window` (one, for a cluster not yet written to) and widens by one per success
  (so it doubles every round trip) up to `max_window`; after the first failure no more writes start. A quota
  or permission error then costs one request instead of hundreds, and once writes succeed a slow answer
  holds back only its own slot. The outcome gives the width reached, for the cluster's next pass to start
  from: a pass that yielded early would otherwise spend its whole turn in slow start.
- Each write also needs a slot of `share`, the operator-wide limit, which serves the cluster holding the
  fewest first: a small cluster's one write goes ahead of a big cluster's queued hundreds.
- When `should_yield()` turns true, writes still queued for a slot are dropped (nothing was sent for them)
  and no more start, up to the next yield point: the index where a new replica starts, so a multi-host
  replica is never left half made. Writes already sent are waited for. At least one write is sent first,
  so every pass makes progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from kuberay_py.runtime import ApiError, FairShare

T = TypeVar("T")

CHECK_EVERY_SECONDS = 0.1
"""How often a pass that may yield looks at `should_yield` while its writes are in flight."""


@dataclass(frozen=True)
class WriteOutcome:
    failure: ApiError | None
    """The first write that failed; writes started after it were not sent."""
    stopped_early: bool
    """Some items were left unwritten to let other clusters run."""
    window: int
    """The window's width at the end: where the next pass may start (one after a failure)."""


def never() -> bool:
    """The default for "are other clusters waiting": never, so a pass never yields."""
    return False


async def send_writes(
    items: list[T],
    write: Callable[[T], Coroutine[Any, Any, None]],
    *,
    owner: str,
    share: FairShare[str],
    max_window: int,
    start_window: int = 1,
    yield_points: Collection[int] = (),
    should_yield: Callable[[], bool] = never,
) -> WriteOutcome:
    furthest_sent = -1  # the highest index whose write got a slot (and so was sent)
    running: dict[asyncio.Task[None], int] = {}
    started, window, limit = 0, max(1, min(start_window, max_window)), len(items)
    failure: ApiError | None = None

    async def one(index: int) -> None:
        nonlocal furthest_sent
        async with share.slot(owner):
            furthest_sent = max(furthest_sent, index)
            await write(items[index])

    def cut() -> int | None:
        """Where this pass may stop now: the first yield point after everything sent, if anything was."""
        if furthest_sent < 0:
            return None
        return min((p for p in yield_points if p > furthest_sent), default=None)

    may_yield = bool(yield_points)
    try:
        while True:
            if may_yield and failure is None and limit == len(items) and should_yield():
                stop = cut()
                if stop is not None:
                    limit = stop
                    for task, index in running.items():
                        if index >= stop:
                            task.cancel()  # still queued for a slot: nothing was sent
            while failure is None and started < limit and len(running) < window:
                running[asyncio.create_task(one(started))] = started
                started += 1
            if not running:
                return WriteOutcome(failure, limit < len(items), 1 if failure else window)
            timeout = CHECK_EVERY_SECONDS if may_yield and limit == len(items) else None
            done, _ = await asyncio.wait(running, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                del running[task]
                if task.cancelled():
                    continue
                error = task.exception()
                if error is None:
                    window = min(window + 1, max_window)
                elif isinstance(error, ApiError):
                    failure = failure or error
                else:
                    raise error
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
