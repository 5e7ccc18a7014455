"""The polling helper: sync and async checks, the value it returns, the failure it raises."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.waiting import blocking, eventually


async def test_a_sync_check_is_polled_until_truthy_and_its_value_returned() -> None:
    calls = itertools.count()
    assert await eventually(lambda: next(calls) >= 3 and "done", interval=0.001) == "done"


async def test_an_async_check_is_awaited() -> None:
    calls = itertools.count()

    async def check() -> int | None:
        await asyncio.sleep(0)
        n = next(calls)
        return n if n >= 2 else None

    assert await eventually(check, interval=0.001) == 2


async def test_on_timeout_it_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the answer; last value: \[\]"):
        await eventually(lambda: [], timeout=0.02, interval=0.005, what="the answer")


def test_plain_code_waits_through_blocking() -> None:
    calls = itertools.count()
    assert blocking(eventually(lambda: next(calls) == 2, interval=0.001)) is True


async def test_blocking_from_plain_code_inside_a_coroutine_holds_up_its_loop() -> None:
    ticks: list[int] = []

    async def tick() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = len(ticks)
    calls = itertools.count()
    assert blocking(eventually(lambda: next(calls) == 3, interval=0.001)) is True
    assert len(ticks) == before
    ticker.cancel()
