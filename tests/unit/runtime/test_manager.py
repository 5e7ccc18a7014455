import asyncio
import contextlib

import pytest

from kuberay_py.runtime.cache import InformerOptions
from kuberay_py.runtime.errors import ServerError
from kuberay_py.runtime.http_server import HttpServer, Response, metrics_route, parse_bind_address
from kuberay_py.runtime.leader import LeaderElector
from kuberay_py.runtime.manager import LeaderElectionLost, Manager, ManagerOptions
from kuberay_py.runtime.reconcile import Request, Result
from kuberay_py.runtime.resources import CONFIG_MAPS, LEASES
from kuberay_py.testing.memory_client import InMemoryClient
from tests.unit.runtime.runtime_unit_support import configmap, sample
from tests.waiting import eventually

LEASE = {"lease_duration": 1.0, "renew_deadline": 0.6, "retry_period": 0.1}


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


class Counting:
    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[Request] = []
        self.finished: list[Request] = []
        self.delay = delay

    async def reconcile(self, request: Request) -> Result:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        self.finished.append(request)
        return Result()


def options(**kwargs) -> ManagerOptions:
    defaults = {
        "metrics_bind_address": "127.0.0.1:0",
        "health_probe_bind_address": "127.0.0.1:0",
        "handle_signals": False,
        "informer_options": InformerOptions(backoff_initial=0.01, backoff_max=0.05),
        "graceful_shutdown_timeout": 2.0,
    }
    return ManagerOptions(**{**defaults, **kwargs})


def manager_with(client: InMemoryClient, name: str, reconciler, **kwargs) -> Manager:
    manager = Manager(client, options(**kwargs))
    manager.controller(name).for_(CONFIG_MAPS).complete(reconciler)
    return manager


async def test_manager_serves_probes_and_metrics_and_runs_controllers_until_stopped():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a"))
    reconciler = Counting()
    manager = manager_with(client, "probe-test", reconciler)
    run = asyncio.create_task(manager.run())
    try:
        await asyncio.wait_for(manager.wait_ready(), 5)
        await eventually(
            lambda: reconciler.finished == [Request("default", "a")], timeout=5.0, interval=0.005
        )
        metrics_port, health_port = manager.port_of("/metrics"), manager.port_of("/healthz")
        assert metrics_port and health_port and metrics_port != health_port
        assert await http_get(health_port, "/healthz") == (200, "ok")
        assert await http_get(health_port, "/readyz") == (200, "ok")
        status, body = await http_get(metrics_port, "/metrics")
        assert (
            status == 200
            and 'controller_runtime_reconcile_total{controller="probe-test",result="success"}' in body
        )
        assert (await http_get(health_port, "/metrics"))[0] == 404, "metrics are on their own port"
        assert manager.is_leader
    finally:
        manager.stop()
        await asyncio.wait_for(run, 5)
    assert not manager.cache.synced or not manager.servers


async def test_readyz_fails_until_the_caches_have_synced():
    client = InMemoryClient()
    client.fail_next("list", ServerError("not yet"), times=1_000_000)
    manager = manager_with(client, "not-ready", Counting(), health_probe_bind_address="127.0.0.1:0")
    run = asyncio.create_task(manager.run())
    try:
        await eventually(
            lambda: manager.port_of("/readyz"), timeout=5.0, interval=0.005
        )  # the servers start one after the other
        port = manager.port_of("/readyz")
        status, body = await http_get(port, "/readyz")
        assert status == 500 and "[-]informers-synced failed" in body
        assert (await http_get(port, "/healthz"))[0] == 200
        client.clear_faults()
        await asyncio.wait_for(manager.wait_ready(), 5)
        assert (await http_get(port, "/readyz"))[0] == 200
    finally:
        manager.stop()
        await asyncio.wait_for(run, 5)


async def test_with_leader_election_only_the_leader_reconciles_and_a_clean_stop_hands_over_at_once():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a"))
    first_reconciler, second_reconciler = Counting(), Counting()
    lease_opts = {
        "leader_election": True,
        "leader_election_id": "handover",
        "leader_election_namespace": "default",
    }
    lease_opts |= LEASE
    first = manager_with(client, "le-first", first_reconciler, **lease_opts)
    second = manager_with(client, "le-second", second_reconciler, **lease_opts)

    first_run = asyncio.create_task(first.run())
    await eventually(lambda: first.is_leader, timeout=5.0, interval=0.005)
    second_run = asyncio.create_task(second.run())
    try:
        await asyncio.wait_for(second.wait_ready(), 5)
        await eventually(lambda: first_reconciler.finished, timeout=5.0, interval=0.005)
        await asyncio.sleep(0.3)  # several retry periods: the standby must keep out
        assert not second.is_leader and second_reconciler.requests == []
        assert sample("leader_election_master_status", name="handover") == 1

        first.stop()
        await asyncio.wait_for(first_run, 5)
        lease = await client.get(LEASES, "handover", "default")
        assert lease["spec"]["holderIdentity"] in ("", second.identity), "released on a clean stop"

        loop = asyncio.get_running_loop()
        released_at = loop.time()
        await eventually(lambda: second.is_leader, timeout=3, interval=0.005)
        assert loop.time() - released_at < LEASE["lease_duration"], (
            "a released lease is taken without waiting"
        )
        await eventually(
            lambda: second_reconciler.finished == [Request("default", "a")], timeout=5.0, interval=0.005
        )
        lease = await client.get(LEASES, "handover", "default")
        assert lease["spec"]["holderIdentity"] == second.identity
        assert lease["spec"]["leaseTransitions"] >= 1
    finally:
        second.stop()
        await asyncio.wait_for(second_run, 5)
        if not first_run.done():
            first.stop()
            await first_run


async def test_losing_the_lease_cancels_in_flight_reconciles_and_raises():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("slow"))
    reconciler = Counting(delay=30)
    manager = manager_with(
        client, "le-lost", reconciler, leader_election=True, leader_election_id="lost",
        leader_election_namespace="default", **LEASE,
    )  # fmt: skip
    run = asyncio.create_task(manager.run())
    await eventually(lambda: reconciler.requests, timeout=5.0, interval=0.005)

    client.fail_next("update", ServerError("etcd down"), resource=LEASES, times=1_000_000)
    loop = asyncio.get_running_loop()
    failing_since = loop.time()
    with pytest.raises(LeaderElectionLost):
        await asyncio.wait_for(run, 5)
    client.clear_faults()
    assert loop.time() - failing_since < LEASE["lease_duration"], "stops before anyone else may take over"
    assert reconciler.finished == [], "the in-flight reconcile was cancelled, not finished"
    assert sample("leader_election_master_status", name="lost") == 0
    lease = await client.get(LEASES, "lost", "default")
    assert lease["spec"]["holderIdentity"] == manager.identity, "a lost lease is not 'released'"


async def test_a_leader_that_sees_another_holder_steps_down():
    client = InMemoryClient()
    elector = LeaderElector(client, name="stolen", namespace="default", identity="me", **LEASE)
    await asyncio.wait_for(elector.acquire(), 5)
    hold = asyncio.create_task(elector.hold())
    lease = await client.get(LEASES, "stolen", "default")
    lease["spec"]["holderIdentity"] = "someone-else"
    await client.update(LEASES, lease)
    await asyncio.wait_for(hold, 2)
    assert not elector.is_leader


async def test_an_unreleased_lease_is_taken_over_after_its_duration():
    client = InMemoryClient()
    dead = LeaderElector(client, name="expiry", namespace="default", identity="dead", **LEASE)
    await dead.acquire()  # then never renews: like a killed process
    standby = LeaderElector(client, name="expiry", namespace="default", identity="standby", **LEASE)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(standby.acquire(), 5)
    waited = loop.time() - started
    assert LEASE["lease_duration"] <= waited < LEASE["lease_duration"] + 3 * LEASE["retry_period"]


async def test_leader_election_timings_are_validated():
    with pytest.raises(ValueError, match="lease_duration"):
        LeaderElector(InMemoryClient(), name="x", namespace="y", lease_duration=10, renew_deadline=10)


async def test_http_server_routes_methods_and_bind_addresses():
    async def slow_route() -> Response:
        return Response(204)

    server = HttpServer("127.0.0.1", 0, {"/metrics": metrics_route, "/x": slow_route})
    await server.start()
    try:
        status, body = await http_get(server.port, "/metrics")
        assert status == 200 and "# TYPE workqueue_depth gauge" in body
        assert (await http_get(server.port, "/x?verbose=1"))[0] == 204
        assert await http_get(server.port, "/metrics", method="HEAD") == (200, "")
        assert (await http_get(server.port, "/nope"))[0] == 404
        assert (await http_get(server.port, "/x", method="POST"))[0] == 405
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"garbage\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 400")
        writer.close()
    finally:
        await server.stop()
    assert parse_bind_address(":8080") == ("0.0.0.0", 8080)
    assert parse_bind_address("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_bind_address("[::1]:9090") == ("::1", 9090)
    assert parse_bind_address("0") is None


async def test_runnables_run_for_the_managers_life():
    client = InMemoryClient()
    ticks = {"always": 0, "leader": 0}

    def ticker(name: str):
        async def run() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                while True:
                    ticks[name] += 1
                    await asyncio.sleep(0.01)

        return run

    manager = manager_with(client, "runnables", Counting())
    manager.add_runnable(ticker("always"), needs_leader=False)
    manager.add_runnable(ticker("leader"))
    run = asyncio.create_task(manager.run())
    await eventually(lambda: ticks["always"] > 2 and ticks["leader"] > 2, timeout=5.0, interval=0.005)
    manager.stop()
    await asyncio.wait_for(run, 5)
    frozen = dict(ticks)
    await asyncio.sleep(0.03)
    assert ticks == frozen
