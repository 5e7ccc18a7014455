"""Polling helpers for tests against a real API server, where every effect is eventually consistent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T], timeout: float = 60.0, interval: float = 0.2, what: str = "condition"
) -> T:
    """Call `check` until it returns something truthy; fail with the last value after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)
        last = check()
    return last


async def async_wait_for(
    check: Callable[[], Awaitable[T]], timeout: float = 60.0, interval: float = 0.2, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    last: T = await check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
        await asyncio.sleep(interval)
        last = await check()
    return last
