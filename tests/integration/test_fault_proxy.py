"""The fault proxy against the real control plane: every fault action, seen through our own KubeClient, and
checked against the API server directly (and by the independent pod observer)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kuberay_py.runtime import (
    CONFIG_MAPS,
    NAMESPACES,
    PODS,
    SERVICE_ACCOUNTS,
    KubeClient,
    NotFound,
    ServerError,
    TooManyRequests,
    TransportError,
    connect,
)
from kuberay_py.runtime.client import EventType, WatchEvent
from kuberay_py.runtime.errors import ServerTimeout
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.faultproxy import FaultProxy
from kuberay_py.testing.faultrules import RequestClass, delay, drop_response, error, hold, reset
from kuberay_py.testing.observer import PodObserver
from tests.waiting import eventually

C = RequestClass


@pytest.fixture
async def direct(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = await connect(control_plane.kubeconfig)
    yield client
    await client.close()


@pytest.fixture
async def namespace(direct: KubeClient) -> AsyncIterator[str]:
    name = f"fp-{uuid.uuid4().hex[:8]}"
    await direct.create(NAMESPACES, {"metadata": {"name": name}})

    async def service_account() -> bool:  # pods are refused until it exists
        with contextlib.suppress(NotFound):
            return bool(await direct.get(SERVICE_ACCOUNTS, "default", name))
        return False

    await eventually(service_account, what="the default ServiceAccount")
    yield name
    with contextlib.suppress(NotFound):
        await direct.delete(NAMESPACES, name)


@pytest.fixture
async def proxy(control_plane: ControlPlane) -> AsyncIterator[FaultProxy]:
    async with FaultProxy.for_control_plane(control_plane, seed=11) as fault_proxy:
        yield fault_proxy


@pytest.fixture
async def client(proxy: FaultProxy) -> AsyncIterator[KubeClient]:
    kube = await connect(proxy.write_kubeconfig(), request_timeout=10.0)
    yield kube
    await kube.close()


def ray_pod(name: str, cluster: str = "rc", group: str = "g") -> dict[str, object]:
    labels = {"ray.io/cluster": cluster, "ray.io/group": group, "ray.io/node-type": "worker"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "ray", "image": "rayproject/ray"}]},
    }


async def pod_names(kube: KubeClient, namespace: str) -> set[str]:
    return {p["metadata"]["name"] for p in (await kube.list(PODS, namespace)).items}


class Collector:
    """A watch through the proxy, in a task, recording each event with the moment it arrived."""

    def __init__(self, client: KubeClient, resource_version: str, namespace: str) -> None:
        self.events: list[tuple[float, WatchEvent]] = []
        self.error: BaseException | None = None
        self._task = asyncio.create_task(self._run(client, resource_version, namespace))

    async def _run(self, client: KubeClient, resource_version: str, namespace: str) -> None:
        events = client.watch(PODS, namespace, resource_version=resource_version, allow_bookmarks=False)
        try:
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    self.events.append((time.monotonic(), event))
        except TransportError as exc:
            self.error = exc

    def added(self) -> list[str]:
        return [e.object["metadata"]["name"] for _, e in self.events if e.type is EventType.ADDED]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_plain_forwarding_of_get_list_watch_and_writes(
    proxy: FaultProxy, client: KubeClient, direct: KubeClient, namespace: str
) -> None:
    cm = {"metadata": {"name": "plain"}, "data": {"k": "v"}}
    await client.create(CONFIG_MAPS, cm, namespace)
    assert (await client.get(CONFIG_MAPS, "plain", namespace))["data"] == {"k": "v"}
    listed = await client.list(CONFIG_MAPS, namespace)
    assert "plain" in {o["metadata"]["name"] for o in listed.items}
    watched = Collector(client, listed.resource_version, namespace)
    try:
        await eventually(lambda: proxy.open_watches("pods") == 1, what="the watch")
        await client.create(PODS, ray_pod("p1"), namespace)
        await eventually(lambda: watched.added() == ["p1"], timeout=10, what="ADDED p1")
        await client.patch(PODS, "p1", {"metadata": {"labels": {"extra": "1"}}}, namespace)
        await client.delete(PODS, "p1", namespace, grace_period_seconds=0)
    finally:
        await watched.close()
    assert await pod_names(direct, namespace) == set()
    assert proxy.requests[C.POD_CREATE] == 1 and proxy.requests[C.POD_DELETE] == 1
    assert proxy.requests[C.POD_WRITE] == 1 and proxy.requests[C.WATCH] == 1
    assert proxy.requests[C.OTHER] >= 3
    assert proxy.faults == {}
    await eventually(lambda: proxy.open_watches() == 0, what="the closed watch to end upstream")


async def test_drop_response_lets_the_pod_be_created_but_the_client_sees_a_reset(
    proxy: FaultProxy, client: KubeClient, direct: KubeClient, namespace: str
) -> None:
    async with PodObserver(direct, namespace) as observer:
        proxy.set_rules(drop_response(C.POD_CREATE))
        with pytest.raises(TransportError):
            await client.create(PODS, ray_pod("dropped"), namespace)
        assert await pod_names(direct, namespace) == {"dropped"}
        await eventually(lambda: "dropped" in observer.names_seen, what="the observer's view")
        assert observer.most_active("rc", "g") == 1
        # Other requests pass; clearing the rules makes creates work again.
        assert (await client.get(PODS, "dropped", namespace))["metadata"]["name"] == "dropped"
        proxy.clear_rules()
        await client.create(PODS, ray_pod("answered"), namespace)
    assert proxy.faults == {("drop-response", C.POD_CREATE): 1}
    assert await pod_names(direct, namespace) == {"dropped", "answered"}


async def test_delay_forwards_late(proxy: FaultProxy, client: KubeClient, namespace: str) -> None:
    proxy.set_rules(delay(1.0, C.OTHER, resource="namespaces"))
    started = time.monotonic()
    assert (await client.get(NAMESPACES, namespace))["metadata"]["name"] == namespace
    assert time.monotonic() - started >= 1.0
    proxy.clear_rules()
    started = time.monotonic()
    await client.get(NAMESPACES, namespace)
    assert time.monotonic() - started < 1.0
    assert proxy.faults == {("delay", C.OTHER): 1}


async def test_reset_never_reaches_the_api_server(
    proxy: FaultProxy, client: KubeClient, direct: KubeClient, namespace: str
) -> None:
    proxy.set_rules(reset(C.POD_CREATE, C.POD_DELETE))
    with pytest.raises(TransportError):
        await client.create(PODS, ray_pod("never"), namespace)
    await direct.create(PODS, ray_pod("kept"), namespace)
    with pytest.raises(TransportError):
        await client.delete(PODS, "kept", namespace)
    assert await pod_names(direct, namespace) == {"kept"}
    # aiohttp resends an idempotent request (DELETE) once after a reset, so the proxy sees it twice.
    assert proxy.requests[C.POD_DELETE] == 2
    assert proxy.faults == {("reset", C.POD_CREATE): 1, ("reset", C.POD_DELETE): 2}


@pytest.mark.parametrize(
    ("status", "exc_type"), [(429, TooManyRequests), (500, ServerError), (504, ServerTimeout)]
)
async def test_error_answers_with_a_status_body(
    proxy: FaultProxy,
    client: KubeClient,
    direct: KubeClient,
    namespace: str,
    status: int,
    exc_type: type[Exception],
) -> None:
    proxy.set_rules(error(status, C.POD_CREATE, retry_after=3))
    with pytest.raises(exc_type) as raised:
        await client.create(PODS, ray_pod("refused"), namespace)
    assert raised.value.status == status  # type: ignore[attr-defined]
    assert "injected" in raised.value.message  # type: ignore[attr-defined]
    assert await pod_names(direct, namespace) == set()
    if status == 429:
        assert raised.value.details == {"retryAfterSeconds": 3}  # type: ignore[attr-defined]
        assert await _retry_after_header(proxy, namespace) == "3"
    assert proxy.faults == {(f"error-{status}", C.POD_CREATE): 1 + (status == 429)}


async def _retry_after_header(proxy: FaultProxy, namespace: str) -> str | None:
    tls = ssl.create_default_context(cafile=str(proxy.ca.cert))
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{proxy.url}/api/v1/namespaces/{namespace}/pods", json={}, ssl=tls) as response,
    ):
        assert response.status == 429
        return response.headers.get("Retry-After")


async def test_a_held_pod_watch_delivers_nothing_then_everything_in_order(
    proxy: FaultProxy, client: KubeClient, direct: KubeClient, namespace: str
) -> None:
    start = (await direct.list(PODS, namespace)).resource_version
    watched = Collector(client, start, namespace)
    try:
        await eventually(lambda: proxy.open_watches("pods") == 1, what="the watch")
        await direct.create(PODS, ray_pod("before"), namespace)
        await eventually(lambda: watched.added() == ["before"], timeout=10, what="ADDED before")
        held_at = time.monotonic()
        proxy.hold_watches("pods", 2.0)
        await direct.create(PODS, ray_pod("during-1"), namespace)
        await direct.create(PODS, ray_pod("during-2"), namespace)
        # Configmap watches are not held; the pods watch stays open but silent.
        await direct.create(CONFIG_MAPS, {"metadata": {"name": "cm"}}, namespace)
        await asyncio.sleep(1.5)
        assert watched.added() == ["before"] and watched.error is None
        assert proxy.open_watches("pods") == 1
        await eventually(
            lambda: watched.added() == ["before", "during-1", "during-2"], timeout=10, what="the rest"
        )
        first_after = next(t for t, e in watched.events if e.object["metadata"]["name"] == "during-1")
        assert first_after - held_at >= 2.0
        assert proxy.requests[C.WATCH] == 1  # the same stream resumed; nothing reconnected
        assert proxy.faults == {("hold", C.WATCH): 1}

        # A hold rule stalls watches opened while it is set; clear_rules releases them at once.
        proxy.set_rules(hold(30.0, "pods"))
        rewatched = Collector(client, start, namespace)
        try:
            await eventually(lambda: proxy.open_watches("pods") == 2, what="the second watch")
            await asyncio.sleep(0.5)
            assert rewatched.events == []
            proxy.clear_rules()
            await eventually(lambda: len(rewatched.added()) == 3, timeout=10, what="the replay")
        finally:
            await rewatched.close()
    finally:
        await watched.close()


async def test_stop_closes_every_connection_and_task(control_plane: ControlPlane, namespace: str) -> None:
    before = asyncio.all_tasks()
    proxy = FaultProxy.for_control_plane(control_plane)
    await proxy.start()
    workdir = proxy.write_kubeconfig().parent
    kube = await connect(proxy.write_kubeconfig(), request_timeout=10.0)
    try:
        start = (await kube.list(PODS, namespace)).resource_version
        watched = Collector(kube, start, namespace)
        await eventually(lambda: proxy.open_watches("pods") == 1, what="the watch")
        proxy.set_rules(delay(30.0, C.OTHER))
        slow = asyncio.create_task(kube.get(NAMESPACES, namespace))
        await eventually(lambda: proxy.faults[("delay", C.OTHER)] == 1, what="the delayed get")
        await asyncio.wait_for(proxy.stop(), 5)
        with pytest.raises(TransportError):
            await asyncio.wait_for(slow, 5)
        await asyncio.wait_for(watched._task, 5)
        assert isinstance(watched.error, TransportError)
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        assert not workdir.exists()
        await proxy.stop()  # twice is fine
    finally:
        await kube.close()
    assert asyncio.all_tasks() - before == set()
