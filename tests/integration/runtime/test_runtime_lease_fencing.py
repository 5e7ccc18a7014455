"""Leader election against the real API server: renewals on their own pool, and a SIGTERM handover with no
write from the old leader after the new one's first."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kuberay_py.runtime import (
    CONFIG_MAPS,
    LEASES,
    InformerOptions,
    KubeClient,
    Manager,
    ManagerOptions,
    Request,
    Result,
    connect,
)
from kuberay_py.runtime.objects import parse_time
from kuberay_py.testing.controlplane import ControlPlane
from tests.managers import running
from tests.waiting import eventually

# Short enough for a quick test, long enough for a loaded machine: the lease is whole seconds on the server.
LEASE = {"lease_duration": 4.0, "renew_deadline": 3.0, "retry_period": 0.5}


def options(lease_name: str, namespace: str, identity: str, **kwargs: Any) -> ManagerOptions:
    return ManagerOptions(
        namespace=namespace,
        leader_election=True,
        leader_election_id=lease_name,
        leader_election_namespace=namespace,
        identity=identity,
        metrics_bind_address="0",
        health_probe_bind_address="0",
        handle_signals=False,
        informer_options=InformerOptions(backoff_initial=0.05, backoff_max=0.5),
        **LEASE,  # type: ignore[arg-type]
        **kwargs,
    )


async def test_lease_renewals_do_not_queue_behind_a_saturated_connection_pool(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
):
    pool = 4
    client = await connect(control_plane.kubeconfig, max_connections=pool)
    manager = Manager(client, options("pool", namespace, "pool-leader"))
    blockers: list[asyncio.Task[None]] = []

    async def hold_a_connection() -> None:
        async for _ in client.watch(CONFIG_MAPS, namespace, timeout_seconds=120):
            pass

    try:
        async with running(manager) as run:
            await eventually(lambda: manager.is_leader, timeout=20, interval=0.1)
            blockers = [asyncio.create_task(hold_a_connection()) for _ in range(pool)]
            await asyncio.sleep(1)
            try:
                async with asyncio.timeout(1):
                    await client.get(LEASES, "pool", namespace)
                raise AssertionError("the main pool should be saturated")
            except TimeoutError:
                pass  # every connection of the main pool is taken by a watch
            renewed = (await kube.get(LEASES, "pool", namespace))["spec"]["renewTime"]
            await asyncio.sleep(2 * LEASE["renew_deadline"])
            assert not run.done(), "still running: the lease was never lost"
            assert manager.is_leader and manager.write_fence.allowed()
            lease = (await kube.get(LEASES, "pool", namespace))["spec"]
            assert lease["holderIdentity"] == "pool-leader"
            assert parse_time(lease["renewTime"]) > parse_time(renewed), "renewed while the pool was full"
            assert manager.elector is not None and manager.elector.client is not client, "a pool of its own"
            for blocker in blockers:
                blocker.cancel()
    finally:
        for blocker in blockers:
            blocker.cancel()
        await asyncio.gather(*blockers, return_exceptions=True)
        await client.close()


class Writer:
    """Reconciles the ``work`` ConfigMap by writing ``out`` as long as the fence allows; then, as if a slow
    request were still in flight, stays busy for ``linger`` seconds before returning."""

    def __init__(self, name: str, linger: float) -> None:
        self.name = name
        self.linger = linger
        self.manager: Manager | None = None
        self.writes: list[int] = []  # resourceVersions of this instance's writes
        self.busy = asyncio.Event()

    async def reconcile(self, request: Request) -> Result:
        assert self.manager is not None
        if request.name != "work":
            return Result()
        client, fence = self.manager.client, self.manager.write_fence
        self.busy.set()
        while fence.allowed():
            body = {"data": {"by": self.name, "n": str(len(self.writes))}}
            written = await client.patch(CONFIG_MAPS, "out", body, request.namespace)
            self.writes.append(int(written["metadata"]["resourceVersion"]))
            await asyncio.sleep(0.1)
        await asyncio.sleep(self.linger)
        return Result()


async def writer_manager(plane: ControlPlane, namespace: str, name: str, linger: float) -> Manager:
    client = await connect(plane.kubeconfig)
    manager = Manager(client, options("handover", namespace, name, graceful_shutdown_timeout=15))
    writer = Writer(name, linger)
    writer.manager = manager
    manager.controller(f"writer-{name}").for_(CONFIG_MAPS).complete(writer)
    return manager


async def lease_history(kube: KubeClient, namespace: str, since: str, into: list[tuple[str, int]]) -> None:
    """Appends (holder, resourceVersion) for every change of the lease."""
    while True:
        async for event in kube.watch(LEASES, namespace, resource_version=since, timeout_seconds=60):
            version = event.resource_version
            spec = event.object.get("spec")
            if spec is not None and event.object["metadata"].get("name") == "handover":
                into.append((spec.get("holderIdentity") or "", int(version)))
            since = version or since


async def test_sigterm_while_busy_keeps_the_lease_until_released_and_no_write_overlaps(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
):
    linger = 1.5 * LEASE["lease_duration"]  # the drain outlasts the lease: it must be renewed meanwhile
    await kube.create(CONFIG_MAPS, {"metadata": {"name": "out", "namespace": namespace}, "data": {}})
    await kube.create(CONFIG_MAPS, {"metadata": {"name": "work", "namespace": namespace}})
    old = await writer_manager(control_plane, namespace, "old", linger)
    new = await writer_manager(control_plane, namespace, "new", 0)
    old_writer, new_writer = (m.controllers[0].reconciler for m in (old, new))
    assert isinstance(old_writer, Writer) and isinstance(new_writer, Writer)
    assert old.elector is not None
    at_release: list[bool] = []
    release = old.elector.release

    async def recording_release() -> None:
        at_release.append(old.write_fence.allowed())
        await release()

    old.elector.release = recording_release  # type: ignore[method-assign]
    history: list[tuple[str, int]] = []
    watcher: asyncio.Task[None] | None = None
    try:
        async with running(old) as old_run:
            # The standby starts only once the first one leads: started together, either might win.
            await asyncio.wait_for(old_writer.busy.wait(), 30)
            async with running(new):
                await asyncio.wait_for(new.wait_ready(), 30)
                await eventually(lambda: len(old_writer.writes) >= 3, timeout=10, interval=0.1)
                since = (await kube.list(LEASES, namespace, limit=1)).resource_version
                watcher = asyncio.create_task(lease_history(kube, namespace, since, history))

                old.stop()  # what SIGTERM does
                stopped = time.monotonic()
                await asyncio.wait_for(old_run, 30)
                drained = time.monotonic() - stopped
                await eventually(lambda: new_writer.writes, timeout=15, interval=0.1)
                await asyncio.sleep(0.5)
                observed = list(history)  # before the new leader's own release, on leaving this block
    finally:
        if watcher is not None:
            watcher.cancel()
        for manager in (old, new):
            await manager.client.close()

    holders = [holder for i, (holder, _) in enumerate(observed) if i == 0 or observed[i - 1][0] != holder]
    assert holders == ["old", "", "new"], f"the standby led only after the release: {observed}"
    renewed_while_draining = [version for holder, version in observed if holder == "old"]
    assert len(renewed_while_draining) >= linger / LEASE["retry_period"] / 2, "renewed during the drain"
    released_at = next(version for holder, version in observed if holder == "")
    assert at_release == [False], "the old leader's fence was closed before it released the lease"
    assert max(old_writer.writes) < released_at < min(new_writer.writes), "no write from both at once"
    assert drained >= linger - 0.5, "the drain waited for the in-flight reconcile"
