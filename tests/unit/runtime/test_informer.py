import asyncio
import contextlib

import pytest

from kuberay_py.runtime.cache import Cache, InformerOptions, NotCached, ResourceSelector
from kuberay_py.runtime.errors import Gone, TransportError
from kuberay_py.runtime.informer import Informer, default_transform, share_strings
from kuberay_py.runtime.objects import clone, owner_reference
from kuberay_py.runtime.resources import CONFIG_MAPS, PODS, SECRETS
from kuberay_py.runtime.selectors import LabelSelector
from kuberay_py.runtime.store import Store
from kuberay_py.testing.memory_client import InMemoryClient
from tests.unit.runtime.runtime_unit_support import configmap
from tests.waiting import eventually

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.updates: list[tuple[dict, dict]] = []

    def on_add(self, obj):
        self.events.append(("add", obj["metadata"]["name"]))

    def on_update(self, old, new):
        self.events.append(("update", new["metadata"]["name"]))
        self.updates.append((old, new))

    def on_delete(self, obj):
        self.events.append(("delete", obj["metadata"]["name"]))


def recorded(client: InMemoryClient, **kwargs) -> tuple[Informer, Recorder]:
    """An informer of config maps (fast backoff, and ``kwargs``) and a handler recording its events."""
    informer = Informer(client, CONFIG_MAPS, **FAST, **kwargs)
    recorder = Recorder()
    informer.add_handler(recorder)
    return informer, recorder


@contextlib.asynccontextmanager
async def running(informer: Informer):
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 5)
        yield informer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def names(informer: Informer) -> set[str]:
    return {o["metadata"]["name"] for o in informer.store.values()}


async def server_names(client: InMemoryClient) -> set[str]:
    return {o["metadata"]["name"] for o in (await client.list(CONFIG_MAPS)).items}


async def test_initial_list_fills_the_store_in_pages_and_reports_adds():
    client = InMemoryClient()
    for i in range(5):
        await client.create(CONFIG_MAPS, configmap(f"cm-{i}"))
    informer, recorder = recorded(client, page_size=2)

    assert not informer.has_synced
    async with running(informer):
        assert informer.has_synced
        assert names(informer) == {f"cm-{i}" for i in range(5)}
        assert sorted(recorder.events) == [("add", f"cm-{i}") for i in range(5)]
        assert informer.resource_version == client.resource_version
        assert sum(1 for a in client.actions if a.verb == "list") == 3


async def test_watch_delivers_adds_updates_and_deletes_with_old_and_new_objects():
    client = InMemoryClient()
    informer, recorder = recorded(client)
    async with running(informer):
        await client.create(CONFIG_MAPS, configmap("a", data={"v": "1"}))
        await client.patch(CONFIG_MAPS, "a", {"data": {"v": "2"}}, "default")
        await client.delete(CONFIG_MAPS, "a", "default")
        await eventually(lambda: len(recorder.events) == 3, timeout=5.0, interval=0.005)

    assert recorder.events == [("add", "a"), ("update", "a"), ("delete", "a")]
    old, new = recorder.updates[0]
    assert (old["data"], new["data"]) == ({"v": "1"}, {"v": "2"})
    assert len(informer.store) == 0


async def test_default_transform_drops_managed_fields_and_last_applied_configuration():
    client = InMemoryClient()
    annotations = {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "keep": "me"}
    await client.create(
        CONFIG_MAPS,
        configmap("a", metadata={"managedFields": [{"manager": "kubectl"}], "annotations": annotations}),
    )
    informer = Informer(client, CONFIG_MAPS, **FAST)
    async with running(informer):
        cached = informer.store.values()[0]
    assert "managedFields" not in cached["metadata"]
    assert cached["metadata"]["annotations"] == {"keep": "me"}
    assert cached["kind"] == "ConfigMap" and cached["apiVersion"] == "v1"


async def test_custom_transform_runs_before_storing():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a", data={"big": "x" * 1000}))

    def drop_data(obj):
        obj.pop("data", None)
        return obj

    informer = Informer(client, CONFIG_MAPS, transform=drop_data, **FAST)
    async with running(informer):
        assert "data" not in informer.store.values()[0]


async def test_gone_forces_a_relist_that_loses_no_change_and_reports_missed_deletes():
    client = InMemoryClient()
    for name in ("kept", "changed", "deleted"):
        await client.create(CONFIG_MAPS, configmap(name, data={"v": "1"}))
    informer, recorder = recorded(client)

    async with running(informer):
        recorder.events.clear()
        # Keep the informer from watching while the world changes and history is compacted away.
        client.fail_next("watch", TransportError("connection refused"), times=1_000_000)
        client.disconnect_watches()
        await eventually(lambda: client.open_watches == 0, timeout=5.0, interval=0.005)
        await client.create(CONFIG_MAPS, configmap("created"))
        await client.patch(CONFIG_MAPS, "changed", {"data": {"v": "2"}}, "default")
        await client.delete(CONFIG_MAPS, "deleted", "default")
        client.compact()
        client.clear_faults()

        await eventually(
            lambda: names(informer) == {"kept", "changed", "created"}, timeout=5.0, interval=0.005
        )
        assert informer.relists == 2, "the stale resourceVersion was answered with 410 and a fresh list"
        assert sorted(recorder.events) == [("add", "created"), ("delete", "deleted"), ("update", "changed")]
        assert informer.store.get(("default", "changed"))["data"] == {"v": "2"}

        await client.create(CONFIG_MAPS, configmap("after"))  # and the new watch works
        await eventually(lambda: "after" in names(informer), timeout=5.0, interval=0.005)


async def test_gone_in_the_middle_of_a_stream_relists():
    client = InMemoryClient()
    informer = Informer(client, CONFIG_MAPS, **FAST)
    async with running(informer):
        await client.create(CONFIG_MAPS, configmap("a"))
        await eventually(lambda: names(informer) == {"a"}, timeout=5.0, interval=0.005)
        client.disconnect_watches(Gone("too old resource version"))
        await eventually(lambda: informer.relists == 2, timeout=5.0, interval=0.005)
        await client.create(CONFIG_MAPS, configmap("b"))
        await eventually(lambda: names(informer) == {"a", "b"}, timeout=5.0, interval=0.005)


async def test_transport_errors_reconnect_from_the_last_resource_version_without_relisting():
    client = InMemoryClient()
    informer, recorder = recorded(client)
    async with running(informer):
        await client.create(CONFIG_MAPS, configmap("a"))
        await eventually(lambda: names(informer) == {"a"}, timeout=5.0, interval=0.005)
        client.fail_next("watch", TransportError("connection refused"), times=3)
        client.disconnect_watches(TransportError("connection reset"))
        await client.create(CONFIG_MAPS, configmap("b"))
        await eventually(lambda: names(informer) == {"a", "b"}, timeout=5.0, interval=0.005)

    assert informer.relists == 1
    assert recorder.events == [("add", "a"), ("add", "b")]


async def test_watch_timeouts_and_bookmarks_keep_the_resource_version_fresh():
    client = InMemoryClient()
    informer = Informer(client, CONFIG_MAPS, watch_timeout=(0.02, 0.04), **FAST)
    async with running(informer):
        await client.create(PODS, {"metadata": {"name": "p", "namespace": "default"}})  # moves the global RV
        await eventually(
            lambda: informer.resource_version == client.resource_version, timeout=5.0, interval=0.005
        )
        await eventually(
            lambda: sum(1 for a in client.actions if a.verb == "watch") >= 4, timeout=5.0, interval=0.005
        )
        await client.create(CONFIG_MAPS, configmap("a"))
        await eventually(lambda: names(informer) == {"a"}, timeout=5.0, interval=0.005)
    assert informer.relists == 1


async def test_a_late_handler_first_gets_adds_for_what_is_cached():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a"))
    informer = Informer(client, CONFIG_MAPS, **FAST)
    async with running(informer):
        late = Recorder()
        informer.add_handler(late)
        assert late.events == [("add", "a")]
        informer.remove_handler(late)
        await client.create(CONFIG_MAPS, configmap("b"))
        await eventually(lambda: "b" in names(informer), timeout=5.0, interval=0.005)
        assert late.events == [("add", "a")]


async def test_a_failing_handler_does_not_stop_the_informer():
    client = InMemoryClient()
    informer = Informer(client, CONFIG_MAPS, **FAST)

    class Broken(Recorder):
        def on_add(self, obj):
            raise RuntimeError("bug in handler")

    recorder = Recorder()
    informer.add_handler(Broken())
    informer.add_handler(recorder)
    async with running(informer):
        await client.create(CONFIG_MAPS, configmap("a"))
        await eventually(lambda: recorder.events == [("add", "a")], timeout=5.0, interval=0.005)


async def test_label_and_field_selectors_limit_what_is_cached():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("mine", metadata={"labels": {"owner": "me"}}))
    await client.create(CONFIG_MAPS, configmap("theirs", metadata={"labels": {"owner": "them"}}))
    await client.create(CONFIG_MAPS, configmap("elsewhere", "other", metadata={"labels": {"owner": "me"}}))
    informer = Informer(
        client, CONFIG_MAPS, label_selector="owner=me", field_selector="metadata.namespace=default", **FAST
    )
    async with running(informer):
        assert names(informer) == {"mine"}
        await client.patch(CONFIG_MAPS, "theirs", {"metadata": {"labels": {"owner": "me"}}}, "default")
        await eventually(lambda: names(informer) == {"mine", "theirs"}, timeout=5.0, interval=0.005)
        await client.patch(CONFIG_MAPS, "mine", {"metadata": {"labels": {"owner": "nobody"}}}, "default")
        await eventually(lambda: names(informer) == {"theirs"}, timeout=5.0, interval=0.005)


async def test_cache_indexes_by_namespace_owner_and_label():
    client = InMemoryClient()
    owner = await client.create(SECRETS, {"metadata": {"name": "owner", "namespace": "default"}})
    ref = owner_reference(owner)
    await client.create(
        CONFIG_MAPS, configmap("a", metadata={"labels": {"app": "x", "tier": "1"}, "ownerReferences": [ref]})
    )
    await client.create(CONFIG_MAPS, configmap("b", metadata={"labels": {"app": "x", "tier": "2"}}))
    await client.create(CONFIG_MAPS, configmap("c", "other", metadata={"labels": {"app": "y"}}))
    cache = Cache(client, options=InformerOptions(backoff_initial=0.01))
    cache.informer(CONFIG_MAPS)
    cache.start()
    try:
        await asyncio.wait_for(cache.wait_synced(), 5)
        assert cache.synced

        def listed(*args, **kwargs):
            return sorted(o["metadata"]["name"] for o in cache.list(CONFIG_MAPS, *args, **kwargs))

        assert listed() == ["a", "b", "c"]
        assert listed("default") == ["a", "b"]
        assert listed(labels="app=x") == ["a", "b"]
        assert listed(labels={"app": "x", "tier": "2"}) == ["b"]
        assert listed(labels="app in (x,y),tier!=1") == ["b", "c"]
        assert listed("other", labels="app=x") == []
        assert listed(owner_uid=owner["metadata"]["uid"]) == ["a"]
        assert cache.get(CONFIG_MAPS, "a", "default")["metadata"]["name"] == "a"
        assert cache.get(CONFIG_MAPS, "a", "other") is None

        await client.patch(
            CONFIG_MAPS, "a", {"metadata": {"labels": {"app": "z"}, "ownerReferences": None}}, "default"
        )
        await eventually(lambda: listed(labels="app=z") == ["a"], timeout=5.0, interval=0.005)
        assert listed(labels="app=x") == ["b"]
        assert listed(owner_uid=owner["metadata"]["uid"]) == []

        with pytest.raises(NotCached):
            cache.list(PODS)
        cache.informer(PODS)  # registered late: starts at once
        await asyncio.wait_for(cache.wait_synced(), 5)
        assert cache.list(PODS) == []
    finally:
        await cache.stop()


async def test_cache_selectors_apply_per_resource():
    client = InMemoryClient()
    await client.create(
        CONFIG_MAPS, configmap("a", data={"role": "db"}, metadata={"labels": {"managed": "yes"}})
    )
    await client.create(CONFIG_MAPS, configmap("b", metadata={"labels": {"managed": "no"}}))
    cache = Cache(client, selectors={CONFIG_MAPS: ResourceSelector(label_selector="managed=yes")})
    cache.informer(CONFIG_MAPS)
    cache.start()
    try:
        await asyncio.wait_for(cache.wait_synced(), 5)
        assert [o["metadata"]["name"] for o in cache.list(CONFIG_MAPS)] == ["a"]
    finally:
        await cache.stop()


async def test_cancelling_the_informer_works_even_when_a_library_converts_the_cancellation():
    client = InMemoryClient()

    class ConvertingClient:
        """Like a stream that raises RuntimeError when it is closed while busy."""

        def __getattr__(self, name):
            return getattr(client, name)

        async def watch(self, *args, **kwargs):
            try:
                async for event in client.watch(*args, **kwargs):
                    yield event
            except asyncio.CancelledError as exc:
                raise RuntimeError("aclose(): asynchronous generator is already running") from exc

    informer = Informer(ConvertingClient(), CONFIG_MAPS, **FAST)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.wait_synced(), 5)
    await eventually(lambda: client.open_watches == 1, timeout=5.0, interval=0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)


async def test_share_strings_interns_keys_and_short_values_and_keeps_content():
    def fresh(text: str) -> str:  # a new string object at run time, as a JSON decoder makes
        return "".join(list(text))

    first = {
        "metadata": {"name": fresh("ab")},
        "status": {fresh("phase"): fresh("Running"), "message": fresh("x" * 100)},
    }
    second = {
        "metadata": {"name": fresh("ab")},
        "status": {fresh("phase"): fresh("Running"), "message": fresh("x" * 100)},
    }
    assert first["status"]["phase"] is not second["status"]["phase"]
    before = clone(first)
    one, two = share_strings(first), share_strings(second)
    assert one == before
    assert one["status"]["phase"] is two["status"]["phase"]
    assert next(iter(one["status"])) is next(iter(two["status"]))
    assert one["status"]["message"] is not two["status"]["message"], "long strings are left alone"


async def test_per_resource_transforms_replace_the_default():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a", data={"k": "v"}))
    await client.create(SECRETS, {"metadata": {"name": "s", "namespace": "default"}, "data": {"k": "dg=="}})

    def without_data(obj):
        obj.pop("data", None)
        return default_transform(obj)

    cache = Cache(client, transforms={SECRETS: without_data}, options=InformerOptions(backoff_initial=0.01))
    cache.informer(CONFIG_MAPS)
    cache.informer(SECRETS)
    cache.start()
    try:
        await asyncio.wait_for(cache.wait_synced(), 5)
        assert cache.get(CONFIG_MAPS, "a", "default")["data"] == {"k": "v"}
        assert "data" not in cache.get(SECRETS, "s", "default")
    finally:
        await cache.stop()


async def test_indexes_stay_exact_as_buckets_grow_and_shrink():
    store = Store()
    a = configmap("a", metadata={"labels": {"app": "x", "id": "1"}})
    b = configmap("b", metadata={"labels": {"app": "x", "id": "2"}})
    store.upsert(a)
    assert [o["metadata"]["name"] for o in store.by_index("label", "app=x")] == ["a"]
    store.upsert(b)
    assert sorted(o["metadata"]["name"] for o in store.by_index("label", "app=x")) == ["a", "b"]
    store.upsert(a)  # unchanged labels: no duplicates
    assert len(store.by_index("label", "app=x")) == 2
    store.delete(("default", "a"))
    assert [o["metadata"]["name"] for o in store.by_index("label", "app=x")] == ["b"]
    assert [o["metadata"]["name"] for o in store.select(labels=LabelSelector.parse("app=x,id=2"))] == ["b"]
    store.delete(("default", "b"))
    assert store.by_index("label", "app=x") == []
    assert store.index_values("label") == []
    assert store.index_values("namespace") == []


async def test_cancelling_while_an_event_arrives_still_stops_the_informer():
    client = InMemoryClient()
    informer = Informer(client, CONFIG_MAPS, **FAST)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(informer.wait_synced(), 5)
    await eventually(lambda: client.open_watches == 1, timeout=5.0, interval=0.005)
    await asyncio.sleep(0.01)
    client.send_bookmarks()  # an event becomes ready in the very step the cancellation is delivered
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
