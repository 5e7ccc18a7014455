"""The API-server backend against a small local HTTP stand-in: request shapes, streaming and error mapping."""

import asyncio
import contextlib
import json

import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from kuberay_py.runtime.client import EventType, PatchType, Preconditions, PropagationPolicy
from kuberay_py.runtime.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    TransportError,
    error_from_status,
)
from kuberay_py.runtime.kube_client import KubeClient
from kuberay_py.runtime.resources import CONFIG_MAPS, LEASES, NAMESPACES, PODS, Resource
from tests.unit.runtime.runtime_unit_support import sample


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.replies: list[tuple[int, object]] = []
        self.stream: list[bytes] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "content_type": request.headers.get("Content-Type"),
                "authorization": request.headers.get("Authorization"),
                "body": json.loads(body) if body else None,
            }
        )
        if request.query.get("watch") == "true" and not self.replies:
            response = web.StreamResponse()
            await response.prepare(request)
            for chunk in self.stream:
                await response.write(chunk)
                await asyncio.sleep(0.001)
            return response
        status, payload = self.replies.pop(0) if self.replies else (200, {})
        return web.json_response(payload, status=status)


@pytest.fixture
async def server():
    fake = FakeServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = runner.addresses[0][1]
    yield fake
    await runner.cleanup()


@pytest.fixture
async def client(server):
    configuration = Configuration(host=f"http://127.0.0.1:{server.port}")
    configuration.api_key = {"BearerToken": "secret-token"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    kube = KubeClient(configuration, request_timeout=5)
    yield kube
    await kube.close()


def test_resource_paths():
    widgets = Resource("example.com", "v1", "widgets", "Widget")
    assert PODS.path() == "/api/v1/pods"
    assert PODS.path("ns") == "/api/v1/namespaces/ns/pods"
    assert PODS.path("ns", "p", "status") == "/api/v1/namespaces/ns/pods/p/status"
    assert NAMESPACES.path("ignored", "ns") == "/api/v1/namespaces/ns"
    assert widgets.path("ns", "w") == "/apis/example.com/v1/namespaces/ns/widgets/w"
    assert (widgets.api_version, widgets.group_kind, str(widgets)) == (
        "example.com/v1",
        "Widget.example.com",
        "widgets.example.com",
    )


def test_error_mapping():
    assert isinstance(error_from_status(404, {"reason": "NotFound", "message": "x"}), NotFound)
    assert isinstance(error_from_status(409, {"reason": "AlreadyExists"}), AlreadyExists)
    assert isinstance(error_from_status(409, {"reason": "Conflict"}), Conflict)
    assert isinstance(error_from_status(200, {"code": 410, "reason": "Expired"}), Gone)
    assert isinstance(error_from_status(503, None), ServerError)
    invalid = error_from_status(422, {"reason": "Invalid", "message": "spec.x: Required value"})
    assert isinstance(invalid, Invalid) and invalid.message == "spec.x: Required value"
    assert "422" in str(invalid)


async def test_reads_send_the_right_requests_with_auth(server, client):
    server.replies = [
        (200, {"kind": "ConfigMap", "metadata": {"name": "a"}}),
        (
            200,
            {
                "items": [{"metadata": {"name": "a"}}],
                "metadata": {"resourceVersion": "42", "continue": "tok"},
            },
        ),
    ]
    assert (await client.get(CONFIG_MAPS, "a", "ns"))["metadata"]["name"] == "a"
    page = await client.list(
        CONFIG_MAPS, "ns", label_selector="app=x", field_selector="metadata.name=a", limit=5
    )
    assert (page.resource_version, page.continue_token, len(page.items)) == ("42", "tok", 1)

    get, listing = server.requests
    assert (get["method"], get["path"]) == ("GET", "/api/v1/namespaces/ns/configmaps/a")
    assert get["authorization"] == "Bearer secret-token"
    assert listing["query"] == {"labelSelector": "app=x", "fieldSelector": "metadata.name=a", "limit": "5"}


async def test_writes_use_the_right_verbs_paths_and_content_types(server, client):
    cm = {"metadata": {"name": "a", "namespace": "ns"}, "data": {"k": "v"}}
    before = sample("rest_client_requests_total", verb="patch", code="200")
    server.replies = [(201, cm), (200, cm), (200, cm), (200, cm), (200, {"kind": "Status"})]
    await client.create(CONFIG_MAPS, cm)
    await client.update(CONFIG_MAPS, cm)
    await client.patch(CONFIG_MAPS, "a", [{"op": "remove", "path": "/data"}], "ns", patch_type=PatchType.JSON)
    await client.patch_status(LEASES, "a", {"status": {}}, "ns", field_manager="me")
    deleted = await client.delete(
        CONFIG_MAPS, "a", "ns", preconditions=Preconditions(uid="u1", resource_version="7"),
        propagation_policy=PropagationPolicy.FOREGROUND, grace_period_seconds=0,
    )  # fmt: skip
    assert deleted is None, "a Status answer means the object is gone"

    create, update, json_patch, status, delete = server.requests
    assert (create["method"], create["path"], create["query"]) == (
        "POST", "/api/v1/namespaces/ns/configmaps", {"fieldManager": "kuberay-py"}
    )  # fmt: skip
    assert (update["method"], update["path"]) == ("PUT", "/api/v1/namespaces/ns/configmaps/a")
    assert status["path"] == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/a/status"
    assert json_patch["content_type"] == "application/json-patch+json"
    assert json_patch["body"] == [{"op": "remove", "path": "/data"}]
    assert status["content_type"] == "application/merge-patch+json"
    assert status["query"] == {"fieldManager": "me"}
    assert delete["body"] == {
        "kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "u1", "resourceVersion": "7"},
        "propagationPolicy": "Foreground", "gracePeriodSeconds": 0,
    }  # fmt: skip
    assert sample("rest_client_requests_total", verb="patch", code="200") == before + 2


async def test_errors_carry_the_servers_message(server, client):
    server.replies = [
        (404, {"kind": "Status", "reason": "NotFound", "message": 'configmaps "a" not found', "code": 404}),
        (403, {"kind": "Status", "reason": "Forbidden", "message": "no", "code": 403}),
        (500, "not json at all"),
    ]
    with pytest.raises(NotFound, match='configmaps "a" not found'):
        await client.get(CONFIG_MAPS, "a", "ns")
    with pytest.raises(Forbidden):
        await client.get(CONFIG_MAPS, "a", "ns")
    with pytest.raises(ServerError):
        await client.get(CONFIG_MAPS, "a", "ns")


async def test_watch_streams_json_lines_across_arbitrary_chunks(server, client):
    events = [
        {"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "2"}}},
        {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "3"}}},
        {
            "type": "DELETED",
            "object": {"metadata": {"name": "a", "resourceVersion": "4"}, "data": {"x": "y" * 5000}},
        },
    ]
    payload = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    server.stream = [payload[i : i + 7] for i in range(0, len(payload), 7)]
    received = [
        e
        async for e in client.watch(
            CONFIG_MAPS, "ns", resource_version="1", label_selector="a=b", timeout_seconds=9.6
        )
    ]
    assert [(e.type, e.resource_version) for e in received] == [
        (EventType.ADDED, "2"), (EventType.BOOKMARK, "3"), (EventType.DELETED, "4")
    ]  # fmt: skip
    query = server.requests[0]["query"]
    assert query == {
        "labelSelector": "a=b", "watch": "true", "resourceVersion": "1", "allowWatchBookmarks": "true",
        "timeoutSeconds": "10",
    }  # fmt: skip


async def test_watch_error_events_and_statuses_raise(server, client):
    expired = {
        "type": "ERROR",
        "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
    }
    server.stream = [json.dumps(expired).encode() + b"\n"]
    with pytest.raises(Gone, match="too old"):
        async for _ in client.watch(CONFIG_MAPS, resource_version="1"):
            pass
    server.replies = [(410, {"kind": "Status", "code": 410, "reason": "Gone", "message": "gone"})]
    with pytest.raises(Gone):
        async for _ in client.watch(CONFIG_MAPS, resource_version="1"):
            pass


async def test_an_unreachable_server_is_a_transport_error():
    configuration = Configuration(host="http://127.0.0.1:9")  # discard port: nothing listens
    kube = KubeClient(configuration, request_timeout=2)
    before = sample("rest_client_requests_total", verb="get", code="<error>")
    try:
        with pytest.raises(TransportError):
            await kube.get(CONFIG_MAPS, "a", "ns")
        with pytest.raises(TransportError):
            events = kube.watch(CONFIG_MAPS)
            async with contextlib.aclosing(events):
                async for _ in events:
                    pass
    finally:
        await kube.close()
    assert sample("rest_client_requests_total", verb="get", code="<error>") == before + 1


async def test_a_client_with_its_own_pool_is_not_held_up_by_a_full_one():
    release = asyncio.Event()
    auth: dict[str, str | None] = {}

    async def handle(request: web.Request) -> web.Response:
        auth[request.path.rsplit("/", 1)[1]] = request.headers.get("Authorization")
        if request.path.endswith("/slow"):
            await release.wait()
        return web.json_response({"metadata": {"name": request.path.rsplit("/", 1)[1]}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    configuration = Configuration(host=f"http://127.0.0.1:{runner.addresses[0][1]}")
    configuration.api_key = {"BearerToken": "secret-token"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    shared = KubeClient(configuration, max_connections=1, request_timeout=10)
    own = shared.with_own_pool(1)
    try:
        assert configuration.connection_pool_maxsize != 1, "the caller's configuration is left alone"
        slow = asyncio.create_task(shared.get(LEASES, "slow", "ns"))
        await asyncio.sleep(0.05)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await shared.get(LEASES, "queued", "ns")  # waits for the only connection
        async with asyncio.timeout(2):
            assert (await own.get(LEASES, "lease", "ns"))["metadata"]["name"] == "lease"
        assert auth["lease"] == "Bearer secret-token", "same credentials"
        release.set()
        await slow
    finally:
        release.set()
        await own.close()
        await shared.close()
        await runner.cleanup()
