"""FairShare: a shared concurrency limit that serves the owner holding the fewest slots first."""

from __future__ import annotations

import asyncio

import pytest

from kuberay_py.runtime import FairShare


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_never_more_than_capacity_in_flight() -> None:
    share: FairShare[str] = FairShare(3)
    peak = 0

    async def work(owner: str) -> None:
        nonlocal peak
        async with share.slot(owner):
            peak = max(peak, share.in_flight)
            await asyncio.sleep(0.001)

    await asyncio.gather(*(work(f"o{i % 4}") for i in range(40)))
    assert peak == 3 and share.in_flight == 0 and share.waiting() == 0


async def test_a_freed_slot_goes_to_the_owner_holding_fewest() -> None:
    share: FairShare[str] = FairShare(2)
    await share.acquire("big")
    await share.acquire("big")
    order: list[str] = []

    async def take(owner: str) -> None:
        await share.acquire(owner)
        order.append(owner)

    queued_big = [asyncio.create_task(take("big")) for _ in range(5)]
    await settle()
    small = asyncio.create_task(take("small"))  # arrives after five queued writes of "big"
    await settle()
    assert share.waiting() == 6

    share.release("big")
    await settle()
    assert order == ["small"]  # it held none; "big" held one
    share.release("big")
    await settle()
    assert order == ["small", "big"]
    await small
    for _ in range(4):
        share.release("big")
        await settle()
    share.release("small")
    await asyncio.gather(*queued_big)
    assert share.held("big") == 1 and share.held("small") == 0 and share.waiting() == 0


async def test_owners_holding_as_many_take_turns() -> None:
    share: FairShare[str] = FairShare(1)
    await share.acquire("x")
    order: list[str] = []

    async def take(owner: str) -> None:
        await share.acquire(owner)
        order.append(owner)
        share.release(owner)

    tasks = [asyncio.create_task(take(o)) for o in ("a", "a", "a", "b", "b", "b")]
    await settle()
    share.release("x")
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "a", "b", "a", "b"]


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    share: FairShare[str] = FairShare(1)
    await share.acquire("a")
    waiter = asyncio.create_task(share.acquire("b"))
    await settle()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert share.waiting() == 0
    share.release("a")
    assert share.in_flight == 0
    await share.acquire("c")  # the limit is whole again
    assert share.held("c") == 1


async def test_a_slot_granted_to_a_cancelled_caller_is_passed_on() -> None:
    share: FairShare[str] = FairShare(1)
    await share.acquire("a")
    first = asyncio.create_task(share.acquire("b"))
    second = asyncio.create_task(share.acquire("c"))
    await settle()
    share.release("a")  # grants the slot to "b"...
    first.cancel()  # ...whose task is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1.0)
    assert share.held("b") == 0 and share.held("c") == 1 and share.in_flight == 1


def test_releasing_a_slot_not_held_is_an_error() -> None:
    share: FairShare[str] = FairShare(1)
    with pytest.raises(RuntimeError, match="does not hold"):
        share.release("nobody")
    with pytest.raises(ValueError, match="at least 1"):
        FairShare(0)
