"""One set of client behaviours, checked against the real API server and the in-memory backend alike, so
reconciler unit tests on the in-memory backend can be trusted."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from kuberay_py.runtime import (
    CONFIG_MAPS,
    NAMESPACES,
    AlreadyExists,
    Client,
    Conflict,
    KubeClient,
    NotFound,
    PatchType,
    Preconditions,
    Resource,
)
from kuberay_py.runtime.client import EventType
from kuberay_py.runtime.objects import owner_reference
from kuberay_py.testing.memory_client import InMemoryClient
from tests.waiting import eventually

CUSTOM_RESOURCE_DEFINITIONS = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False
)

GROUP = "contract.runtime.kuberay-py.io"
WIDGETS = Resource(GROUP, "v1", "widgets", "Widget", has_status=True)
WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


async def install_widget_crd(kube: KubeClient) -> None:
    with contextlib.suppress(AlreadyExists):
        await kube.create(CUSTOM_RESOURCE_DEFINITIONS, WIDGET_CRD)

    async def established() -> bool:
        crd = await kube.get(CUSTOM_RESOURCE_DEFINITIONS, f"widgets.{GROUP}")
        conditions = (crd.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    await eventually(established, timeout=60, interval=0.1)


@pytest.fixture(params=["in-memory", "api-server"])
async def backend(request, kube: KubeClient, namespace: str) -> AsyncIterator[tuple[Client, str]]:
    if request.param == "api-server":
        await install_widget_crd(kube)
        yield kube, namespace
    else:
        yield InMemoryClient(cascade_deletes=True), "default"


def widget(name: str, namespace: str, **spec) -> dict:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name, "namespace": namespace},
            "spec": spec or {"size": 1}}  # fmt: skip


async def test_create_get_update_conflict_and_no_op_writes(backend):
    client, ns = backend
    created = await client.create(WIDGETS, widget("a", ns))
    assert created["metadata"]["generation"] == 1 and created["metadata"]["uid"]
    with pytest.raises(AlreadyExists):
        await client.create(WIDGETS, widget("a", ns))
    with pytest.raises(NotFound):
        await client.get(WIDGETS, "missing", ns)

    unchanged = await client.update(WIDGETS, created)
    assert unchanged["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    created["spec"]["size"] = 2
    updated = await client.update(WIDGETS, created)
    assert updated["metadata"]["generation"] == 2
    created["spec"]["size"] = 3
    with pytest.raises(Conflict):
        await client.update(WIDGETS, created)  # stale resourceVersion


async def test_generation_and_the_status_subresource(backend):
    client, ns = backend
    await client.create(WIDGETS, {**widget("s", ns), "status": {"phase": "ignored"}})
    fetched = await client.get(WIDGETS, "s", ns)
    assert "status" not in fetched or not fetched["status"].get("phase")

    labelled = await client.patch(WIDGETS, "s", {"metadata": {"labels": {"l": "1"}}}, ns)
    assert labelled["metadata"]["generation"] == 1
    with_status = await client.patch_status(WIDGETS, "s", {"status": {"phase": "Ready"}}, ns)
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["metadata"]["generation"] == 1

    with_status["status"] = {"phase": "Overwritten"}
    with_status["spec"] = {"size": 5}
    main = await client.update(WIDGETS, with_status)
    assert (main["status"], main["spec"], main["metadata"]["generation"]) == (
        {"phase": "Ready"},
        {"size": 5},
        2,
    )

    status = await client.patch_status(WIDGETS, "s", {"status": {"phase": "Done"}, "spec": {"size": 9}}, ns)
    assert (status["status"], status["spec"]) == ({"phase": "Done"}, {"size": 5})


async def test_patch_flavours(backend):
    client, ns = backend
    await client.create(
        CONFIG_MAPS, {"metadata": {"name": "p", "namespace": ns}, "data": {"a": "1", "b": "2"}}
    )
    merged = await client.patch(CONFIG_MAPS, "p", {"data": {"a": None, "c": "3"}}, ns)
    assert merged["data"] == {"b": "2", "c": "3"}
    json_patched = await client.patch(
        CONFIG_MAPS, "p", [{"op": "replace", "path": "/data/b", "value": "20"}], ns, patch_type=PatchType.JSON
    )
    assert json_patched["data"] == {"b": "20", "c": "3"}
    stale = {"metadata": {"resourceVersion": merged["metadata"]["resourceVersion"]}, "data": {"d": "4"}}
    with pytest.raises(Conflict):
        await client.patch(CONFIG_MAPS, "p", stale, ns)


async def test_delete_preconditions_finalizers_and_owner_cascade(backend):
    client, ns = backend
    created = await client.create(WIDGETS, widget("d", ns))
    with pytest.raises(Conflict):
        await client.delete(WIDGETS, "d", ns, preconditions=Preconditions(uid=str(uuid.uuid4())))

    parent = await client.create(CONFIG_MAPS, {"metadata": {"name": "parent", "namespace": ns}})
    child = {"metadata": {"name": "child", "namespace": ns, "ownerReferences": [owner_reference(parent)]}}
    await client.create(CONFIG_MAPS, child)
    await client.patch(WIDGETS, "d", {"metadata": {"finalizers": ["contract.test/hold"]}}, ns)
    held = await client.delete(WIDGETS, "d", ns, preconditions=Preconditions(uid=created["metadata"]["uid"]))
    assert held is not None and held["metadata"].get("deletionTimestamp")
    assert (await client.get(WIDGETS, "d", ns))["metadata"]["deletionTimestamp"]

    await client.patch(WIDGETS, "d", {"metadata": {"finalizers": None}}, ns)

    async def gone(resource: Resource, name: str) -> bool:
        try:
            await client.get(resource, name, ns)
        except NotFound:
            return True
        return False

    await eventually(lambda: gone(WIDGETS, "d"), timeout=30.0, interval=0.1)

    await client.delete(CONFIG_MAPS, "parent", ns)
    await eventually(
        lambda: gone(CONFIG_MAPS, "child"), timeout=60, interval=0.1
    )  # dependents follow their owner


async def test_list_selectors_and_paging(backend):
    client, ns = backend
    for i in range(5):
        labels = {"parity": "even" if i % 2 == 0 else "odd"}
        await client.create(WIDGETS, {**widget(f"w{i}", ns), "metadata": {"name": f"w{i}", "namespace": ns,
                                                                           "labels": labels}})  # fmt: skip
    evens = await client.list(WIDGETS, ns, label_selector="parity=even")
    assert sorted(o["metadata"]["name"] for o in evens.items) == ["w0", "w2", "w4"]
    named = await client.list(WIDGETS, ns, field_selector="metadata.name=w3")
    assert [o["metadata"]["name"] for o in named.items] == ["w3"]

    page = await client.list(WIDGETS, ns, limit=2)
    names = [o["metadata"]["name"] for o in page.items]
    while page.continue_token:
        page = await client.list(WIDGETS, ns, limit=2, continue_token=page.continue_token)
        names += [o["metadata"]["name"] for o in page.items]
    assert sorted(names) == [f"w{i}" for i in range(5)]


async def test_watch_from_a_resource_version_sees_every_change_in_order(backend):
    client, ns = backend
    start = (await client.list(WIDGETS, ns)).resource_version
    events = client.watch(WIDGETS, ns, resource_version=start, timeout_seconds=30)
    seen: list[tuple[EventType, str]] = []

    async def consume() -> None:
        async with contextlib.aclosing(events):
            async for event in events:
                if event.type is not EventType.BOOKMARK:
                    seen.append((event.type, event.object["metadata"]["name"]))
                if len(seen) == 3:
                    return

    consumer = asyncio.create_task(consume())
    await client.create(WIDGETS, widget("watched", ns))
    await client.patch(WIDGETS, "watched", {"spec": {"size": 2}}, ns)
    await client.delete(WIDGETS, "watched", ns)
    await asyncio.wait_for(consumer, 30)
    assert seen == [
        (EventType.ADDED, "watched"),
        (EventType.MODIFIED, "watched"),
        (EventType.DELETED, "watched"),
    ]


async def test_cluster_scoped_objects(backend):
    client, _ = backend
    name = f"rt-contract-{uuid.uuid4().hex[:6]}"
    created = await client.create(NAMESPACES, {"metadata": {"name": name}})
    try:
        assert "namespace" not in created["metadata"]
        assert (await client.get(NAMESPACES, name))["metadata"]["name"] == name
    finally:
        await client.delete(NAMESPACES, name)
