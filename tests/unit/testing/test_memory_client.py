import asyncio
import contextlib

import pytest

from kuberay_py.runtime.client import EventType, PatchType, Preconditions, PropagationPolicy
from kuberay_py.runtime.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    ServerError,
)
from kuberay_py.runtime.objects import owner_reference
from kuberay_py.runtime.resources import CONFIG_MAPS, NAMESPACES, PODS, Resource
from kuberay_py.testing.memory_client import FieldSelector, InMemoryClient
from kuberay_py.testing.patches import PatchError, apply_json_patch, apply_merge_patch
from tests.unit.runtime.runtime_unit_support import configmap, sample

WIDGETS = Resource("example.com", "v1", "widgets", "Widget", has_status=True)


def widget(name: str, replicas: int = 1) -> dict:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"replicas": replicas}}


async def collect(events, count: int) -> list:
    out = []
    async with asyncio.timeout(2.0):
        async for event in events:
            out.append(event)
            if len(out) == count:
                break
    return out


async def test_create_stamps_metadata_and_get_returns_a_copy():
    client = InMemoryClient()
    created = await client.create(CONFIG_MAPS, configmap("a", data={"k": "v"}))
    meta = created["metadata"]

    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    assert meta["resourceVersion"] == client.resource_version
    fetched = await client.get(CONFIG_MAPS, "a", "default")
    fetched["data"]["k"] = "mutated"
    assert (await client.get(CONFIG_MAPS, "a", "default"))["data"] == {"k": "v"}


async def test_create_errors_and_generate_name():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a"))
    with pytest.raises(AlreadyExists):
        await client.create(CONFIG_MAPS, configmap("a"))
    with pytest.raises(Invalid):
        await client.create(CONFIG_MAPS, {"metadata": {"namespace": "default"}})
    with pytest.raises(BadRequest):
        await client.create(CONFIG_MAPS, {"metadata": {"name": "x"}})

    generated = await client.create(
        CONFIG_MAPS, {"metadata": {"generateName": "cm-", "namespace": "default"}}
    )
    assert generated["metadata"]["name"].startswith("cm-")
    cluster_scoped = await client.create(NAMESPACES, {"metadata": {"name": "team-a"}})
    assert "namespace" not in cluster_scoped["metadata"]


async def test_get_and_delete_of_a_missing_object_raise_not_found():
    client = InMemoryClient()
    with pytest.raises(NotFound):
        await client.get(CONFIG_MAPS, "missing", "default")
    with pytest.raises(NotFound):
        await client.delete(CONFIG_MAPS, "missing", "default")


async def test_update_with_a_stale_resource_version_conflicts():
    client = InMemoryClient()
    first = await client.create(CONFIG_MAPS, configmap("a", data={"k": "1"}))
    first["data"]["k"] = "2"
    second = await client.update(CONFIG_MAPS, first)
    assert int(second["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])

    first["data"]["k"] = "3"
    with pytest.raises(Conflict):
        await client.update(CONFIG_MAPS, first)


async def test_a_write_that_changes_nothing_keeps_the_resource_version():
    client = InMemoryClient()
    created = await client.create(CONFIG_MAPS, configmap("a", data={"k": "1"}))
    same = await client.update(CONFIG_MAPS, created)
    patched = await client.patch(CONFIG_MAPS, "a", {"data": {"k": "1"}}, "default")

    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert patched["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_generation_bumps_on_spec_changes_only():
    client = InMemoryClient()
    created = await client.create(WIDGETS, widget("w"))
    relabelled = await client.patch(WIDGETS, "w", {"metadata": {"labels": {"a": "b"}}}, "default")
    assert relabelled["metadata"]["generation"] == 1

    rescaled = await client.patch(WIDGETS, "w", {"spec": {"replicas": 3}}, "default")
    assert rescaled["metadata"]["generation"] == 2
    assert created["metadata"]["uid"] == rescaled["metadata"]["uid"]


async def test_status_subresource_separates_status_from_the_rest():
    client = InMemoryClient()
    created = await client.create(WIDGETS, {**widget("w"), "status": {"ready": True}})
    assert "status" not in created, "status is dropped on create"

    with_status = await client.patch_status(WIDGETS, "w", {"status": {"ready": 1}}, "default")
    assert with_status["status"] == {"ready": 1}
    assert with_status["metadata"]["generation"] == 1, "status writes do not bump generation"

    with_status["status"] = {"ready": 2}
    with_status["spec"]["replicas"] = 5
    updated = await client.update(WIDGETS, with_status)
    assert updated["status"] == {"ready": 1}, "main-resource writes ignore status"
    assert updated["spec"]["replicas"] == 5

    updated["status"] = {"ready": 3}
    updated["spec"]["replicas"] = 9
    status_written = await client.update_status(WIDGETS, updated)
    assert status_written["status"] == {"ready": 3}
    assert status_written["spec"]["replicas"] == 5, "status writes ignore everything else"


async def test_patch_types():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a", data={"x": "1", "y": "2"}))

    merged = await client.patch(CONFIG_MAPS, "a", {"data": {"x": None, "z": "3"}}, "default")
    assert merged["data"] == {"y": "2", "z": "3"}

    ops = [
        {"op": "replace", "path": "/data/y", "value": "20"},
        {"op": "add", "path": "/data/w", "value": "4"},
    ]
    json_patched = await client.patch(CONFIG_MAPS, "a", ops, "default", patch_type=PatchType.JSON)
    assert json_patched["data"] == {"y": "20", "z": "3", "w": "4"}

    with pytest.raises(Invalid):
        await client.patch(
            CONFIG_MAPS,
            "a",
            [{"op": "test", "path": "/data/y", "value": "nope"}],
            "default",
            patch_type=PatchType.JSON,
        )
    with pytest.raises(Conflict):
        await client.patch(CONFIG_MAPS, "a", {"metadata": {"resourceVersion": "1"}, "data": {}}, "default")


async def test_delete_preconditions():
    client = InMemoryClient()
    created = await client.create(CONFIG_MAPS, configmap("a"))
    with pytest.raises(Conflict):
        await client.delete(CONFIG_MAPS, "a", "default", preconditions=Preconditions(uid="other"))
    with pytest.raises(Conflict):
        await client.delete(CONFIG_MAPS, "a", "default", preconditions=Preconditions(resource_version="999"))

    meta = created["metadata"]
    await client.delete(
        CONFIG_MAPS, "a", "default", preconditions=Preconditions(meta["uid"], meta["resourceVersion"])
    )
    assert client.objects(CONFIG_MAPS) == []


async def test_finalizers_hold_a_deleted_object_until_removed():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a", metadata={"finalizers": ["example.com/cleanup"]}))
    held = await client.delete(CONFIG_MAPS, "a", "default")
    assert held is not None and held["metadata"]["deletionTimestamp"]
    assert len(client.objects(CONFIG_MAPS)) == 1

    await client.patch(CONFIG_MAPS, "a", {"metadata": {"finalizers": None}}, "default")
    assert client.objects(CONFIG_MAPS) == []


async def test_cascading_delete_follows_owner_references_unless_orphaned():
    client = InMemoryClient(cascade_deletes=True)
    owner = await client.create(WIDGETS, widget("w"))
    child = configmap("child", metadata={"ownerReferences": [owner_reference(owner)]})
    await client.create(CONFIG_MAPS, child)
    await client.delete(WIDGETS, "w", "default")
    assert client.objects(CONFIG_MAPS) == []

    owner = await client.create(WIDGETS, widget("w2"))
    await client.create(
        CONFIG_MAPS, configmap("kept", metadata={"ownerReferences": [owner_reference(owner)]})
    )
    await client.delete(WIDGETS, "w2", "default", propagation_policy=PropagationPolicy.ORPHAN)
    assert [o["metadata"]["name"] for o in client.objects(CONFIG_MAPS)] == ["kept"]


async def test_list_filters_by_namespace_and_selectors_and_pages():
    client = InMemoryClient()
    for i in range(5):
        await client.create(
            CONFIG_MAPS, configmap(f"cm-{i}", metadata={"labels": {"i": str(i), "even": str(i % 2 == 0)}})
        )
    await client.create(CONFIG_MAPS, configmap("other", "kube-system"))

    assert len((await client.list(CONFIG_MAPS)).items) == 6
    assert len((await client.list(CONFIG_MAPS, "default")).items) == 5
    evens = await client.list(CONFIG_MAPS, label_selector="even=True")
    assert [o["metadata"]["name"] for o in evens.items] == ["cm-0", "cm-2", "cm-4"]
    by_name = await client.list(CONFIG_MAPS, field_selector="metadata.name=cm-3")
    assert [o["metadata"]["name"] for o in by_name.items] == ["cm-3"]

    page = await client.list(CONFIG_MAPS, "default", limit=2)
    names = [o["metadata"]["name"] for o in page.items]
    while page.continue_token:
        page = await client.list(CONFIG_MAPS, "default", limit=2, continue_token=page.continue_token)
        names += [o["metadata"]["name"] for o in page.items]
    assert names == [f"cm-{i}" for i in range(5)]


async def test_an_expired_continue_token_is_gone():
    client = InMemoryClient()
    for i in range(3):
        await client.create(CONFIG_MAPS, configmap(f"cm-{i}"))
    page = await client.list(CONFIG_MAPS, limit=1)
    await client.create(CONFIG_MAPS, configmap("later"))
    client.compact()
    with pytest.raises(Gone):
        await client.list(CONFIG_MAPS, limit=1, continue_token=page.continue_token)


async def test_watch_replays_history_after_a_resource_version_then_streams():
    client = InMemoryClient()
    first = await client.create(CONFIG_MAPS, configmap("a"))
    await client.patch(CONFIG_MAPS, "a", {"data": {"k": "v"}}, "default")
    await client.create(PODS, {"metadata": {"name": "p", "namespace": "default"}})

    events = client.watch(CONFIG_MAPS, resource_version=first["metadata"]["resourceVersion"])
    async with contextlib.aclosing(events):
        replayed = await collect(events, 1)
        assert [(e.type, e.object["metadata"]["name"]) for e in replayed] == [(EventType.MODIFIED, "a")]
        await client.delete(CONFIG_MAPS, "a", "default")
        live = await collect(events, 1)
        assert live[0].type is EventType.DELETED
        assert int(live[0].resource_version) == int(client.resource_version)
    assert client.open_watches == 0


async def test_watch_without_resource_version_starts_with_the_current_state():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a"))
    events = client.watch(CONFIG_MAPS, "default")
    async with contextlib.aclosing(events):
        assert [e.type for e in await collect(events, 1)] == [EventType.ADDED]


async def test_watch_from_a_compacted_resource_version_is_gone():
    client = InMemoryClient(history_limit=2)
    first = await client.create(CONFIG_MAPS, configmap("a"))
    for i in range(3):
        await client.patch(CONFIG_MAPS, "a", {"data": {"i": str(i)}}, "default")
    with pytest.raises(Gone):
        async for _ in client.watch(CONFIG_MAPS, resource_version=first["metadata"]["resourceVersion"]):
            pass
    current = client.resource_version
    client.compact()
    events = client.watch(CONFIG_MAPS, resource_version=current)
    async with contextlib.aclosing(events):
        await client.patch(CONFIG_MAPS, "a", {"data": {"i": "x"}}, "default")
        assert (await collect(events, 1))[0].type is EventType.MODIFIED


async def test_watch_selector_transitions_become_added_and_deleted():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a", metadata={"labels": {"app": "x"}}))
    events = client.watch(CONFIG_MAPS, label_selector="app=y", resource_version=client.resource_version)
    async with contextlib.aclosing(events):
        await client.patch(CONFIG_MAPS, "a", {"metadata": {"labels": {"app": "y"}}}, "default")
        await client.patch(CONFIG_MAPS, "a", {"data": {"k": "v"}}, "default")
        await client.patch(CONFIG_MAPS, "a", {"metadata": {"labels": {"app": "z"}}}, "default")
        seen = [e.type for e in await collect(events, 3)]
    assert seen == [EventType.ADDED, EventType.MODIFIED, EventType.DELETED]


async def test_watch_timeout_ends_with_a_bookmark_and_bookmarks_can_be_sent():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a"))
    rv = client.resource_version
    events = client.watch(CONFIG_MAPS, resource_version=rv, timeout_seconds=0.05)
    seen = [e async for e in events]
    assert [(e.type, e.resource_version) for e in seen] == [(EventType.BOOKMARK, rv)]

    pending = asyncio.create_task(collect(client.watch(CONFIG_MAPS, resource_version=rv), 1))
    await asyncio.sleep(0.01)
    await client.create(PODS, {"metadata": {"name": "p", "namespace": "default"}})  # another resource
    client.send_bookmarks()
    bookmark = (await pending)[0]
    assert bookmark.type is EventType.BOOKMARK
    assert bookmark.resource_version == client.resource_version


async def test_disconnect_ends_watches_cleanly_or_with_an_error():
    client = InMemoryClient()
    events = client.watch(CONFIG_MAPS)
    task = asyncio.create_task(collect(events, 1))
    await asyncio.sleep(0.01)
    client.disconnect_watches(ServerError("restarting"))
    with pytest.raises(ServerError):
        await task

    clean = asyncio.create_task(collect(client.watch(CONFIG_MAPS), 1))
    await asyncio.sleep(0.01)
    client.disconnect_watches()
    assert await clean == []


async def test_injected_faults_actions_log_and_request_metrics():
    client = InMemoryClient()
    before = sample("rest_client_requests_total", verb="create", code="500")
    client.fail_next("create", ServerError("boom"), resource=CONFIG_MAPS)
    with pytest.raises(ServerError):
        await client.create(CONFIG_MAPS, configmap("a"))
    await client.create(CONFIG_MAPS, configmap("a"))

    assert [(a.verb, a.name) for a in client.actions] == [("create", "a"), ("create", "a")]
    assert sample("rest_client_requests_total", verb="create", code="500") == before + 1


def test_field_selector():
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Running"}, "spec": {"x": True}}
    assert FieldSelector.parse("metadata.name=p,status.phase!=Failed").matches(pod)
    assert not FieldSelector.parse("status.phase==Pending").matches(pod)
    assert FieldSelector.parse("spec.x=true").matches(pod)
    assert FieldSelector.parse("spec.missing=").matches(pod)
    assert str(FieldSelector.parse("a==b")) == "a=b"
    with pytest.raises(ValueError, match="invalid"):
        FieldSelector.parse("nonsense")


def test_merge_patch():
    original = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}
    patched = apply_merge_patch(original, {"b": {"c": None, "e": 4}, "l": [3], "n": {"x": None}})
    assert patched == {"a": 1, "b": {"d": 3, "e": 4}, "l": [3], "n": {}}
    assert original == {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}, "inputs are not modified"


def test_json_patch_operations():
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    result = apply_json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e~1f"},
            {"op": "test", "path": "/e~1f", "value": "y"},
        ],
    )
    assert result == {"a": {"b": [0, 2, 3]}, "c": "y", "e/f": "y"}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}
    for bad in (
        [{"op": "remove", "path": "/missing"}],
        [{"op": "test", "path": "/c", "value": "z"}],
        [{"op": "frobnicate", "path": "/c"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [{"op": "add", "path": "/a/b/9", "value": 1}],
    ):
        with pytest.raises(PatchError):
            apply_json_patch(doc, bad)
