"""send_writes: the per-cluster window, the shared fair share, and stopping early on a replica boundary."""

from __future__ import annotations

import asyncio

from kuberay_py.controllers.raycluster.writes import send_writes
from kuberay_py.runtime import FairShare, Forbidden


async def test_the_window_grows_from_where_the_last_pass_left_it() -> None:
    peak = in_flight = 0

    async def write(_: int) -> None:
        nonlocal peak, in_flight
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1

    share: FairShare[str] = FairShare(100)
    outcome = await send_writes(list(range(50)), write, owner="a", share=share, max_window=8, start_window=6)
    assert outcome.failure is None and not outcome.stopped_early
    assert peak == 8 and outcome.window == 8


async def test_after_a_failure_nothing_more_starts_and_the_next_pass_starts_at_one() -> None:
    calls = 0

    async def write(_: int) -> None:
        nonlocal calls
        calls += 1
        raise Forbidden("pods is forbidden")

    share: FairShare[str] = FairShare(10)
    outcome = await send_writes(list(range(100)), write, owner="a", share=share, max_window=24)
    assert isinstance(outcome.failure, Forbidden) and calls == 1 and outcome.window == 1


async def test_a_yield_drops_writes_still_queued_for_a_slot_but_not_inside_a_replica() -> None:
    share: FairShare[str] = FairShare(2)
    release = asyncio.Event()
    written: list[int] = []

    async def write(index: int) -> None:
        written.append(index)
        await release.wait()

    # Replicas of two pods: items 0-1, 2-3, 4-5, 6-7. Another owner holds one of the two slots throughout.
    await share.acquire("other")
    task = asyncio.create_task(
        send_writes(
            list(range(8)),
            write,
            owner="big",
            share=share,
            max_window=8,
            start_window=8,
            yield_points={0, 2, 4, 6},
            should_yield=lambda: bool(written),
        )
    )
    await asyncio.sleep(0.01)
    assert written == [0]  # one slot free: item 0 is sent, items 1-7 queue for a slot
    release.set()
    share.release("other")
    outcome = await asyncio.wait_for(task, 2.0)
    # It stopped at a replica boundary after what was sent (how far depends on how the slots freed up):
    # whole replicas only, and not all of them.
    sent = len(written)
    assert outcome.stopped_early and sorted(written) == list(range(sent)) and sent % 2 == 0 and sent < 8
    assert share.in_flight == 0 and share.waiting() == 0
