"""Polling for tests, where every effect is eventually consistent: `eventually` is the one helper, for sync
and async checks alike; plain (non-async) code waits for it through `blocking`."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[..., Awaitable[T | None]],
    *,
    timeout: float = ...,
    interval: float = ...,
    what: str = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[..., T | None], *, timeout: float = ..., interval: float = ..., what: str = ...
) -> T: ...


async def eventually(
    check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"
) -> Any:
    """Call `check` (a function, or one returning an awaitable) until it gives something truthy, and return
    that; fail naming `what` and the last value after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)


def blocking(awaitable: Awaitable[T]) -> T:
    """Wait for `awaitable` from plain code, as in `blocking(eventually(check, what=...))` in a sync test or
    fixture. It runs on a loop of its own; called from plain code inside a coroutine, it blocks that
    coroutine's loop as any plain call does."""

    async def result() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(result())
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, result()).result()
