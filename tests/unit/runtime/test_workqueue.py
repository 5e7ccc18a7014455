import asyncio
import itertools
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

import pytest

from kuberay_py.runtime.workqueue import ExponentialBackoff, ShutDown, WorkQueue
from tests.unit.runtime.runtime_unit_support import sample
from tests.waiting import eventually

K = TypeVar("K", bound=Hashable)


async def serve(queue: WorkQueue[K], process: Callable[[K], Awaitable[None]]) -> None:
    """A worker: process keys one at a time, marking each done, until the queue shuts down."""
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            await process(key)
        finally:
            queue.done(key)


async def test_adds_of_a_waiting_key_are_deduplicated():
    queue: WorkQueue[str] = WorkQueue("dedupe")
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    queue.add("a")

    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert len(queue) == 0


async def test_a_key_in_progress_is_not_handed_to_a_second_worker():
    queue: WorkQueue[str] = WorkQueue("exclusive")
    queue.add("a")
    first = await queue.get()
    queue.add("a")  # changed again while being processed

    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0.02)
    assert not second.done(), "the same key must not be processed twice at once"

    queue.done(first)
    assert await asyncio.wait_for(second, 1) == "a"


async def test_a_key_re_added_during_processing_runs_again_after_it_finishes():
    queue: WorkQueue[str] = WorkQueue("readd")
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    queue.add("a")  # still one pending run, however many adds
    assert len(queue) == 0
    queue.done(key)

    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_many_workers_never_process_one_key_concurrently():
    queue: WorkQueue[int] = WorkQueue("concurrency")
    running: set[int] = set()
    overlaps: list[int] = []
    processed: list[int] = []

    async def process(key: int) -> None:
        if key in running:
            overlaps.append(key)
        running.add(key)
        await asyncio.sleep(0.001)
        running.discard(key)
        processed.append(key)

    workers = [asyncio.create_task(serve(queue, process)) for _ in range(8)]
    for round_ in range(20):
        for key in range(5):
            queue.add(key)
        await asyncio.sleep(0.0005 * (round_ % 3))
    await eventually(
        lambda: len(queue) == 0 and not any(queue.is_processing(k) for k in range(5)),
        timeout=5.0,
        interval=0.005,
    )
    queue.shutdown()
    await asyncio.gather(*workers)

    assert overlaps == []
    assert set(processed) == set(range(5))


async def test_exponential_backoff_grows_from_5ms_doubling_to_1000s_and_resets():
    backoff: ExponentialBackoff[str] = ExponentialBackoff()
    delays = [backoff.when("a") for _ in range(20)]

    assert delays[:4] == pytest.approx([0.005, 0.01, 0.02, 0.04])
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0
    assert backoff.when("b") == pytest.approx(0.005), "keys back off independently"
    assert backoff.failures("a") == 20

    backoff.forget("a")
    assert backoff.failures("a") == 0
    assert backoff.when("a") == pytest.approx(0.005)


async def test_backoff_cap_holds_for_very_many_failures():
    backoff: ExponentialBackoff[str] = ExponentialBackoff()
    for _ in range(2000):
        delay = backoff.when("a")
    assert delay == 1000.0


async def test_rate_limited_adds_wait_for_the_backoff_and_forget_resets_it():
    queue: WorkQueue[str] = WorkQueue("ratelimit", backoff=ExponentialBackoff(base=0.02, cap=1.0))
    retries_before = sample("workqueue_retries_total", controller="ratelimit", name="ratelimit")

    queue.add_rate_limited("a")  # 20 ms
    assert len(queue) == 0
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.done("a")
    queue.add_rate_limited("a")  # 40 ms
    queue.add_rate_limited("a")  # would be 80 ms: the pending earlier add wins
    assert queue.num_requeues("a") == 3
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    queue.done("a")

    queue.forget("a")
    assert queue.num_requeues("a") == 0
    assert sample("workqueue_retries_total", controller="ratelimit", name="ratelimit") == retries_before + 3


async def test_delayed_add_arrives_after_the_delay():
    queue: WorkQueue[str] = WorkQueue("delayed")
    loop = asyncio.get_running_loop()
    start = loop.time()
    queue.add_after("a", 0.05)
    assert len(queue) == 0
    assert queue.pending_delayed() == 1

    assert await asyncio.wait_for(queue.get(), 1) == "a"
    assert loop.time() - start >= 0.04
    assert queue.pending_delayed() == 0


async def test_delayed_adds_keep_the_earliest_time_and_merge_with_direct_adds():
    queue: WorkQueue[str] = WorkQueue("delayed-merge")
    queue.add_after("a", 10)
    queue.add_after("a", 0.01)  # earlier: replaces the 10 s one
    queue.add_after("a", 5)  # later: ignored
    assert queue.pending_delayed() == 1
    assert await asyncio.wait_for(queue.get(), 1) == "a"

    queue.add("b")
    queue.add_after("b", 0.01)
    await asyncio.sleep(0.03)
    assert len(queue) == 1, "a delayed add of a waiting key does not duplicate it"


async def test_zero_delay_adds_at_once():
    queue: WorkQueue[str] = WorkQueue("nodelay")
    queue.add_after("a", 0)
    assert len(queue) == 1


async def test_shutdown_refuses_adds_drains_queued_keys_then_raises():
    queue: WorkQueue[str] = WorkQueue("drain")
    queue.add("a")
    queue.add("b")
    queue.add_after("c", 0.01)
    queue.shutdown()
    queue.add("d")

    assert await queue.get() == "a"
    assert await queue.get() == "b"
    await asyncio.sleep(0.03)
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_wakes_idle_getters():
    queue: WorkQueue[str] = WorkQueue("wake")
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0.01)
    queue.shutdown()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)


async def test_a_cancelled_getter_does_not_swallow_a_key():
    queue: WorkQueue[str] = WorkQueue("cancel")
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0.01)
    queue.add("a")
    first.cancel()  # woken for "a" but cancelled before taking it
    await asyncio.sleep(0.01)
    assert second.done() and second.result() == "a"


async def test_fairness_a_key_that_keeps_failing_does_not_starve_others():
    queue: WorkQueue[str] = WorkQueue("fairness")
    processed: list[str] = []

    async def process(key: str) -> None:
        processed.append(key)
        if key == "bad":
            queue.add_rate_limited(key)
        else:
            queue.forget(key)

    queue.add("bad")
    task = asyncio.create_task(serve(queue, process))  # a single worker: the failing key competes for it
    for i in range(50):
        queue.add(f"good-{i}")
        await asyncio.sleep(0.001)
    await eventually(lambda: all(f"good-{i}" in processed for i in range(50)), timeout=5.0, interval=0.005)
    queue.shutdown()
    await task

    bad_runs = processed.count("bad")
    assert bad_runs >= 2, "the failing key is retried"
    assert bad_runs < 20, "its backoff grows, so it cannot monopolise the worker"


async def test_queue_metrics_track_depth_adds_and_durations():
    labels = {"controller": "metered", "name": "metered"}
    queue: WorkQueue[str] = WorkQueue("metered")
    adds = sample("workqueue_adds_total", **labels)
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert sample("workqueue_depth", **labels) == 2
    assert sample("workqueue_adds_total", **labels) == adds + 2

    key = await queue.get()
    assert sample("workqueue_depth", **labels) == 1
    queue.done(key)
    assert sample("workqueue_queue_duration_seconds_count", **labels) >= 1
    assert sample("workqueue_work_duration_seconds_count", **labels) >= 1
