"""The write fence, the shutdown order under leader election, and a new leader catching its cache up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberay_py.runtime.cache import InformerOptions
from kuberay_py.runtime.client import WatchEvent
from kuberay_py.runtime.errors import ServerError
from kuberay_py.runtime.manager import LeaderElectionLost, Manager, ManagerOptions
from kuberay_py.runtime.reconcile import Request, Result
from kuberay_py.runtime.resources import CONFIG_MAPS, LEASES
from kuberay_py.testing.memory_client import InMemoryClient
from tests.managers import running
from tests.unit.runtime.runtime_unit_support import configmap
from tests.waiting import eventually

LEASE = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


def options(lease_name: str | None = None, **kwargs: Any) -> ManagerOptions:
    defaults: dict[str, Any] = {
        "metrics_bind_address": "0",
        "health_probe_bind_address": "0",
        "handle_signals": False,
        "informer_options": InformerOptions(backoff_initial=0.01, backoff_max=0.05),
        "graceful_shutdown_timeout": 5.0,
    }
    if lease_name:
        defaults |= {
            "leader_election": True,
            "leader_election_id": lease_name,
            "leader_election_namespace": "default",
            **LEASE,
        }
    return ManagerOptions(**{**defaults, **kwargs})


class Busy:
    """A reconcile that stays in flight for ``duration`` seconds, then writes if the fence allows it."""

    def __init__(self, client: InMemoryClient, duration: float) -> None:
        self.client = client
        self.duration = duration
        self.manager: Manager | None = None
        self.started = asyncio.Event()
        self.started_at = 0.0
        self.finished = False
        self.fence_at_end: bool | None = None
        self.wrote = False

    async def reconcile(self, request: Request) -> Result:
        assert self.manager is not None
        self.started_at = time.monotonic()
        self.started.set()
        await asyncio.sleep(self.duration)
        self.fence_at_end = self.manager.write_fence.allowed()
        if self.fence_at_end:
            await self.client.patch(CONFIG_MAPS, request.name, {"data": {"done": "yes"}}, request.namespace)
            self.wrote = True
        self.finished = True
        return Result()


def manager_with(client: InMemoryClient, reconciler: Any, opts: ManagerOptions, **kwargs: Any) -> Manager:
    manager = Manager(client, opts, **kwargs)
    manager.controller(f"c-{id(manager)}").for_(CONFIG_MAPS).complete(reconciler)
    reconciler.manager = manager
    return manager


async def lease_spec(client: InMemoryClient, name: str) -> dict[str, Any]:
    return dict((await client.get(LEASES, name, "default"))["spec"])


async def leader_then_standby(
    stack: contextlib.AsyncExitStack, leader: Manager, standby: Manager
) -> asyncio.Task[None]:
    """Runs `leader` until it leads, and only then `standby` (either could win otherwise) until it is ready;
    returns the leader's run."""
    leader_run = await stack.enter_async_context(running(leader, stop_timeout=10))
    await eventually(lambda: leader.is_leader, timeout=5.0, interval=0.005)
    await stack.enter_async_context(running(standby, stop_timeout=10))
    await asyncio.wait_for(standby.wait_ready(), 5)
    return leader_run


async def test_without_leader_election_the_fence_is_open_until_stop():
    client = InMemoryClient(bookmark_interval=0.05)
    manager = manager_with(client, Busy(client, 0), options())
    async with running(manager, stop_timeout=10):
        await asyncio.wait_for(manager.wait_ready(), 5)
        await eventually(lambda: manager.is_leader, timeout=5.0, interval=0.005)
        assert manager.write_fence.allowed()
        manager.stop()
        assert not manager.write_fence.allowed(), "stop() closes the fence at once, before run() notices"


async def test_the_fence_is_open_only_for_a_leader_whose_last_renewal_is_recent():
    client = InMemoryClient(bookmark_interval=0.05)
    leader = manager_with(client, Busy(client, 0), options("fence"))
    standby = manager_with(client, Busy(client, 0), options("fence"))
    assert not leader.write_fence.allowed(), "closed before the lease is acquired"
    async with contextlib.AsyncExitStack() as stack:
        leader_run = await leader_then_standby(stack, leader, standby)
        assert leader.write_fence.allowed() and not standby.write_fence.allowed()

        assert leader.elector is not None
        # Renewals that stall are not yet a lost lease, but the fence already refuses once renew_deadline has
        # passed since the last one began.
        client.fail_next("update", ServerError("etcd slow"), resource=LEASES, times=1_000_000)
        await eventually(lambda: not leader.write_fence.allowed(), timeout=2, interval=0.001)
        closed_after = time.monotonic() - leader.elector.last_renewal
        assert LEASE["renew_deadline"] <= closed_after < LEASE["renew_deadline"] + 0.1
        assert closed_after < LEASE["lease_duration"], "closed before any standby may take the lease"
        with pytest.raises(LeaderElectionLost):
            await asyncio.wait_for(leader_run, 5)
        client.clear_faults()


async def test_shutdown_keeps_renewing_while_draining_and_releases_only_afterwards():
    client = InMemoryClient(bookmark_interval=0.05)
    await client.create(CONFIG_MAPS, configmap("work"))
    drain_for = 2 * LEASE["lease_duration"]  # longer than the lease: it survives only if renewed
    busy = Busy(client, drain_for)
    old = manager_with(client, busy, options("drain"))
    new_reconciler = Busy(client, 0)
    new = manager_with(client, new_reconciler, options("drain"))
    assert old.elector is not None
    timeline: list[tuple[str, Any]] = []
    release = old.elector.release

    async def recording_release() -> None:
        timeline.append(("release", {"finished": busy.finished, "fence": old.write_fence.allowed()}))
        await release()

    old.elector.release = recording_release  # type: ignore[method-assign]

    async def watch_lease(since: str) -> None:
        holder = old.identity
        timeline.append(("holder", holder))
        async for event in client.watch(LEASES, "default", resource_version=since):
            spec = event.object.get("spec") or {}
            if not spec:
                continue  # a bookmark
            if spec["holderIdentity"] != holder:
                holder = spec["holderIdentity"]
                timeline.append(("holder", holder))
            timeline.append(("renew", spec["renewTime"]))

    async with contextlib.AsyncExitStack() as stack:
        old_run = await stack.enter_async_context(running(old, stop_timeout=10))
        await asyncio.wait_for(busy.started.wait(), 10)  # leading, before the standby starts
        await stack.enter_async_context(running(new, stop_timeout=10))
        await asyncio.wait_for(new.wait_ready(), 5)
        watcher = asyncio.create_task(watch_lease(client.resource_version))
        await asyncio.sleep(0)
        old.stop()
        assert not old.write_fence.allowed()
        renew_before = (await lease_spec(client, "drain"))["renewTime"]
        await asyncio.wait_for(old_run, 10)
        # From the reconcile's start, not from stop(): the drain ends when that reconcile does.
        drained = time.monotonic() - busy.started_at
        await eventually(lambda: new.is_leader, timeout=LEASE["lease_duration"], interval=0.005)
        watcher.cancel()

    holders = [value for kind, value in timeline if kind == "holder"]
    assert holders == [old.identity, "", new.identity], "the standby took over only after the release"
    renewals = {value for kind, value in timeline[: timeline.index(("holder", ""))] if kind == "renew"}
    assert max(renewals) > renew_before, "the lease was renewed during the drain"
    ((_, at_release),) = [entry for entry in timeline if entry[0] == "release"]
    assert at_release == {"finished": True, "fence": False}, "released only after the drain, fence closed"
    assert busy.fence_at_end is False and not busy.wrote, "the in-flight reconcile's write was refused"
    assert drain_for <= drained < drain_for + 1


async def test_a_lease_lost_while_draining_cuts_the_drain_short_and_is_not_released():
    client = InMemoryClient(bookmark_interval=0.05)
    await client.create(CONFIG_MAPS, configmap("work"))
    busy = Busy(client, 30)
    manager = manager_with(client, busy, options("lost-drain", graceful_shutdown_timeout=30))
    async with running(manager, stop_timeout=10) as run:
        await asyncio.wait_for(busy.started.wait(), 10)
        manager.stop()
        client.fail_next("update", ServerError("etcd down"), resource=LEASES, times=1_000_000)
        started = time.monotonic()
        await asyncio.wait_for(run, 5)
        client.clear_faults()
    assert time.monotonic() - started < LEASE["lease_duration"], "cut short before the lease could expire"
    assert not busy.finished, "the in-flight reconcile was cancelled"
    assert (await lease_spec(client, "lost-drain"))["holderIdentity"] == manager.identity, "not released"


class LaggingWatches:
    """The shared in-memory API server, seen through watches that deliver nothing until ``gate`` opens."""

    def __init__(self, inner: InMemoryClient) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def watch(self, *args: Any, **kwargs: Any) -> AsyncIterator[WatchEvent]:
        async with contextlib.aclosing(self.inner.watch(*args, **kwargs)) as events:
            async for event in events:
                await self.gate.wait()
                yield event


class FirstSight:
    """Records the ``v`` a reconcile first sees in the cache."""

    def __init__(self) -> None:
        self.manager: Manager | None = None
        self.seen: list[str] = []

    async def reconcile(self, request: Request) -> Result:
        assert self.manager is not None
        obj = self.manager.cache.get(CONFIG_MAPS, request.name, request.namespace)
        self.seen.append((obj or {}).get("data", {}).get("v", "?"))
        return Result()


async def test_a_new_leader_reconciles_only_once_its_cache_has_caught_up_with_the_takeover():
    client = InMemoryClient(bookmark_interval=0.05)
    await client.create(CONFIG_MAPS, configmap("a", data={"v": "1"}))
    old = manager_with(client, FirstSight(), options("catch-up"))
    lagging = LaggingWatches(client)
    sight = FirstSight()
    new = Manager(lagging, options("catch-up"), lease_client=client)  # type: ignore[arg-type]
    new.controller("catch-up").for_(CONFIG_MAPS).complete(sight)
    sight.manager = new

    async with contextlib.AsyncExitStack() as stack:
        old_run = await leader_then_standby(stack, old, new)  # the new one listed v=1; its watch now lags
        await client.patch(CONFIG_MAPS, "a", {"data": {"v": "2"}}, "default")  # the old leader's last write
        old.stop()
        await asyncio.wait_for(old_run, 5)
        await eventually(lambda: new.is_leader, timeout=LEASE["lease_duration"], interval=0.005)
        await asyncio.sleep(0.3)
        assert sight.seen == [], "no reconcile while the cache predates the takeover"
        lagging.gate.set()
        await eventually(lambda: sight.seen, timeout=5.0, interval=0.005)
    assert sight.seen[0] == "2"
