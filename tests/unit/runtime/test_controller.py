import asyncio

import structlog

from kuberay_py.runtime.cache import Cache, InformerOptions
from kuberay_py.runtime.controller import Builder, Controller
from kuberay_py.runtime.objects import owner_reference
from kuberay_py.runtime.predicates import GenerationChanged
from kuberay_py.runtime.reconcile import Request, Result, TerminalError
from kuberay_py.runtime.resources import CONFIG_MAPS, SECRETS, Resource
from kuberay_py.runtime.workqueue import ExponentialBackoff
from kuberay_py.testing.memory_client import InMemoryClient
from tests.unit.runtime.runtime_unit_support import configmap, sample
from tests.waiting import eventually

WIDGETS = Resource("example.com", "v1", "widgets", "Widget", has_status=True)
GADGETS = Resource("other.example.com", "v1", "gadgets", "Widget")  # same kind, another group


class Recording:
    """A reconciler that records requests and answers from a script."""

    def __init__(self, answers=None) -> None:
        self.requests: list[Request] = []
        self.answers = answers or {}
        self.contexts: list[dict] = []

    async def reconcile(self, request: Request) -> Result:
        self.requests.append(request)
        self.contexts.append(structlog.contextvars.get_contextvars())
        answer = self.answers.get(request.name)
        if callable(answer):
            answer = answer()
        if isinstance(answer, BaseException):
            raise answer
        return answer or Result()


async def started(client: InMemoryClient, build) -> tuple[Cache, Controller]:
    cache = Cache(client, options=InformerOptions(backoff_initial=0.01, backoff_max=0.05))
    controller = build(Builder("test-" + str(id(client)), cache))
    cache.start()
    await asyncio.wait_for(cache.wait_synced(), 5)
    controller.start()
    return cache, controller


async def stopped(cache: Cache, controller: Controller) -> None:
    await controller.stop(drain_timeout=1)
    await cache.stop()


def widget(name: str) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"size": 1}}


async def test_for_enqueues_the_object_and_owns_maps_children_to_their_controller():
    client = InMemoryClient()
    owner = await client.create(WIDGETS, widget("w"))
    reconciler = Recording()
    cache, controller = await started(
        client, lambda b: b.for_(WIDGETS).owns(CONFIG_MAPS).complete(reconciler)
    )
    try:
        await eventually(
            lambda: reconciler.requests == [Request("default", "w")], timeout=5.0, interval=0.005
        )
        reconciler.requests.clear()

        await client.create(
            CONFIG_MAPS, configmap("child", metadata={"ownerReferences": [owner_reference(owner)]})
        )
        not_controller = dict(owner_reference(owner), controller=False)
        await client.create(CONFIG_MAPS, configmap("loose", metadata={"ownerReferences": [not_controller]}))
        gadget = await client.create(GADGETS, widget("g"))
        await client.create(
            CONFIG_MAPS, configmap("foreign", metadata={"ownerReferences": [owner_reference(gadget)]})
        )
        await client.create(CONFIG_MAPS, configmap("orphan"))
        await eventually(lambda: Request("default", "w") in reconciler.requests, timeout=5.0, interval=0.005)
        await asyncio.sleep(0.05)
        assert set(reconciler.requests) == {Request("default", "w")}, (
            "only controller refs of the for_ kind map"
        )
    finally:
        await stopped(cache, controller)


async def test_watches_maps_with_a_custom_mapper():
    client = InMemoryClient()
    reconciler = Recording()

    def users_of(secret):
        return [
            Request("default", name) for name in secret.get("data", {}).get("users", "").split(",") if name
        ]

    cache, controller = await started(client, lambda b: b.watches(SECRETS, users_of).complete(reconciler))
    try:
        await client.create(SECRETS, configmap("s", data={"users": "x,y"}))
        await eventually(
            lambda: set(reconciler.requests) == {Request("default", "x"), Request("default", "y")},
            timeout=5.0,
            interval=0.005,
        )
    finally:
        await stopped(cache, controller)


async def test_generation_changed_predicate_ignores_status_and_metadata_only_writes():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("w"))
    reconciler = Recording()
    cache, controller = await started(
        client, lambda b: b.for_(WIDGETS, predicates=[GenerationChanged()]).complete(reconciler)
    )
    try:
        await eventually(lambda: len(reconciler.requests) == 1, timeout=5.0, interval=0.005)
        await client.patch_status(WIDGETS, "w", {"status": {"ready": True}}, "default")
        await client.patch(WIDGETS, "w", {"metadata": {"labels": {"a": "b"}}}, "default")
        await eventually(
            lambda: cache.get(WIDGETS, "w", "default")["metadata"].get("labels"), timeout=5.0, interval=0.005
        )
        await asyncio.sleep(0.05)
        assert len(reconciler.requests) == 1

        await client.patch(WIDGETS, "w", {"spec": {"size": 2}}, "default")
        await eventually(lambda: len(reconciler.requests) == 2, timeout=5.0, interval=0.005)
        await client.delete(WIDGETS, "w", "default")
        await eventually(lambda: len(reconciler.requests) == 3, timeout=5.0, interval=0.005)
    finally:
        await stopped(cache, controller)


async def test_errors_are_counted_and_retried_with_backoff_until_success():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("flaky"))
    failures = iter([RuntimeError("one"), RuntimeError("two"), None])
    reconciler = Recording({"flaky": lambda: next(failures)})
    cache, controller = await started(
        client,
        lambda b: b.for_(WIDGETS).with_options(backoff=ExponentialBackoff(base=0.01)).complete(reconciler),
    )
    name = controller.name
    try:
        await eventually(lambda: len(reconciler.requests) == 3, timeout=5.0, interval=0.005)
        await eventually(
            lambda: sample("controller_runtime_reconcile_total", controller=name, result="success") == 1,
            timeout=5.0,
            interval=0.005,
        )
        assert sample("controller_runtime_reconcile_errors_total", controller=name) == 2
        assert sample("controller_runtime_reconcile_total", controller=name, result="error") == 2
        assert sample("workqueue_retries_total", controller=name, name=name) == 2
        assert controller.queue.num_requeues(Request("default", "flaky")) == 0, "success resets the backoff"
        assert sample("controller_runtime_reconcile_time_seconds_count", controller=name) == 3
    finally:
        await stopped(cache, controller)


async def test_terminal_errors_are_counted_but_not_retried():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("broken"))
    reconciler = Recording({"broken": TerminalError("invalid spec")})
    cache, controller = await started(client, lambda b: b.for_(WIDGETS).complete(reconciler))
    try:
        await eventually(
            lambda: sample("controller_runtime_reconcile_errors_total", controller=controller.name) == 1,
            timeout=5.0,
            interval=0.005,
        )
        await asyncio.sleep(0.05)
        assert len(reconciler.requests) == 1
    finally:
        await stopped(cache, controller)


async def test_requeue_after_and_requeue_results():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("poll"))
    await client.create(WIDGETS, widget("again"))
    polls = iter([Result(requeue_after=0.02), Result(requeue_after=0.02), Result()])
    agains = iter([Result(requeue=True), Result()])
    reconciler = Recording({"poll": lambda: next(polls), "again": lambda: next(agains)})
    cache, controller = await started(client, lambda b: b.for_(WIDGETS).complete(reconciler))
    name = controller.name
    try:
        await eventually(
            lambda: reconciler.requests.count(Request("default", "poll")) == 3, timeout=5.0, interval=0.005
        )
        await eventually(
            lambda: reconciler.requests.count(Request("default", "again")) == 2, timeout=5.0, interval=0.005
        )
        assert sample("controller_runtime_reconcile_total", controller=name, result="requeue_after") == 2
        assert sample("controller_runtime_reconcile_total", controller=name, result="requeue") == 1
        assert sample("controller_runtime_reconcile_total", controller=name, result="success") == 2
    finally:
        await stopped(cache, controller)


async def test_log_context_carries_controller_request_and_a_fresh_reconcile_id():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("w"))
    reconciler = Recording({"w": lambda: Result(requeue=True) if len(reconciler.requests) < 2 else Result()})
    cache, controller = await started(client, lambda b: b.for_(WIDGETS).complete(reconciler))
    try:
        await eventually(lambda: len(reconciler.contexts) == 2, timeout=5.0, interval=0.005)
    finally:
        await stopped(cache, controller)
    first, second = reconciler.contexts
    assert first["controller"] == controller.name
    assert (first["namespace"], first["name"]) == ("default", "w")
    assert first["reconcile_id"] != second["reconcile_id"]
    assert "reconcile_id" not in structlog.contextvars.get_contextvars()


async def test_workers_run_different_keys_concurrently_and_never_one_key_twice():
    client = InMemoryClient()
    active: set[str] = set()
    peak = {"all": 0, "overlap": 0}

    class Slow:
        async def reconcile(self, request: Request) -> Result:
            if request.name in active:
                peak["overlap"] += 1
            active.add(request.name)
            peak["all"] = max(peak["all"], len(active))
            await asyncio.sleep(0.02)
            active.discard(request.name)
            return Result()

    for i in range(8):
        await client.create(WIDGETS, widget(f"w{i}"))
    cache, controller = await started(
        client, lambda b: b.for_(WIDGETS).with_options(max_concurrent_reconciles=4).complete(Slow())
    )
    try:
        for _ in range(3):
            for i in range(8):
                await client.patch(WIDGETS, f"w{i}", {"spec": {"size": _ + 2}}, "default")
        await eventually(lambda: len(controller.queue) == 0 and not active, timeout=5.0, interval=0.005)
        await asyncio.sleep(0.05)
        await eventually(lambda: not active, timeout=5.0, interval=0.005)
    finally:
        await stopped(cache, controller)
    assert peak["overlap"] == 0
    assert peak["all"] == 4
    assert sample("controller_runtime_max_concurrent_reconciles", controller=controller.name) == 4


async def test_fairness_one_failing_object_does_not_starve_the_others():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("bad"))
    reconciler = Recording({"bad": RuntimeError("always fails")})
    cache, controller = await started(client, lambda b: b.for_(WIDGETS).complete(reconciler))  # one worker
    try:
        for i in range(30):
            await client.create(WIDGETS, widget(f"good-{i}"))
        await eventually(
            lambda: {f"good-{i}" for i in range(30)} <= {r.name for r in reconciler.requests},
            timeout=5.0,
            interval=0.005,
        )
    finally:
        await stopped(cache, controller)
    assert 2 <= sum(1 for r in reconciler.requests if r.name == "bad") < 20


async def test_stop_drains_queued_work_and_leadership_loss_cancels_it():
    client = InMemoryClient()
    for i in range(3):
        await client.create(WIDGETS, widget(f"w{i}"))
    finished: list[str] = []

    class Slow:
        async def reconcile(self, request: Request) -> Result:
            await asyncio.sleep(0.05)
            finished.append(request.name)
            return Result()

    cache, controller = await started(client, lambda b: b.for_(WIDGETS).complete(Slow()))
    await controller.stop(drain_timeout=5)
    assert sorted(finished) == ["w0", "w1", "w2"], "queued keys are drained on a graceful stop"
    assert not controller.running

    finished.clear()
    controller2 = Builder("cancel-" + str(id(cache)), cache).for_(WIDGETS).complete(Slow())
    controller2.start()
    await asyncio.sleep(0.01)
    await controller2.stop(drain_timeout=0)
    assert finished == [], "an immediate stop cancels in-flight reconciles"
    assert sample("controller_runtime_active_workers", controller=controller2.name) == 0
    await cache.stop()


async def test_an_immediate_stop_ends_workers_even_if_the_reconciler_swallows_cancellation():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("w1"))
    await client.create(WIDGETS, widget("w2"))  # still queued when the stop comes
    entered = asyncio.Event()

    class Stubborn:
        async def reconcile(self, request: Request) -> Result:
            entered.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise RuntimeError("cleanup failed") from None
            return Result()

    cache, controller = await started(client, lambda b: b.for_(WIDGETS).complete(Stubborn()))
    await asyncio.wait_for(entered.wait(), 5)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(controller.stop(drain_timeout=0), 10)
    assert loop.time() - began < 5, "the queued key was not started after the cancellation"
    assert not controller.running
    await cache.stop()


async def test_cancelling_a_wait_or_a_stop_leaves_no_worker_behind_but_only_stop_cancels_them():
    client = InMemoryClient()
    await client.create(WIDGETS, widget("w"))
    entered, finished = asyncio.Event(), []

    class Slow:
        async def reconcile(self, request: Request) -> Result:
            entered.set()
            await asyncio.sleep(0.3)
            finished.append(request.name)
            return Result()

    cache, controller = await started(client, lambda b: b.for_(WIDGETS).complete(Slow()))
    await asyncio.wait_for(entered.wait(), 5)
    waiting = asyncio.create_task(controller.wait())
    await asyncio.sleep(0.01)
    waiting.cancel()  # the manager does this with the waits it no longer needs
    await asyncio.sleep(0.4)
    assert finished == ["w"], "a cancelled wait() did not cancel the in-flight reconcile"

    entered.clear()
    await client.patch(WIDGETS, "w", {"spec": {"size": 2}}, "default")
    await asyncio.wait_for(entered.wait(), 5)
    stopping = asyncio.create_task(controller.stop(drain_timeout=30))
    await asyncio.sleep(0.01)
    stopping.cancel()  # cuts the drain short
    await asyncio.gather(stopping, return_exceptions=True)
    await asyncio.sleep(0.4)
    assert finished == ["w"], "the in-flight reconcile was cancelled with the stop"
    await cache.stop()
