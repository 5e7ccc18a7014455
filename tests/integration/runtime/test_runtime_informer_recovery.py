"""Informers against the real API server: neither an expired resourceVersion nor a restart loses a change."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kuberay_py.runtime import CONFIG_MAPS, Informer, KubeClient, Resource, TransportError
from kuberay_py.runtime.errors import Gone
from kuberay_py.testing.controlplane import ControlPlane
from tests.integration.runtime.support import compact_etcd, retrying
from tests.waiting import eventually

CORE_EVENTS = Resource("", "v1", "events", "Event")


class SteerableWatches:
    """Delegates to a real client, but lets the test cut the informer's watch and hold it back."""

    def __init__(self, inner: KubeClient) -> None:
        self.inner = inner
        self.open = asyncio.Event()
        self.open.set()
        self.cut = asyncio.Event()
        self.gone_seen = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def watch(self, resource, namespace=None, **kwargs):
        await self.open.wait()
        stream = self.inner.watch(resource, namespace, **kwargs)
        async with contextlib.aclosing(stream):
            while True:
                next_event = asyncio.ensure_future(anext(stream))
                cut = asyncio.ensure_future(self.cut.wait())
                try:
                    await asyncio.wait({next_event, cut}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    cut.cancel()
                    if not next_event.done():  # stop the reader before the stream is closed
                        next_event.cancel()
                        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                            await next_event
                if next_event.cancelled():
                    raise TransportError("connection cut by the test")
                try:
                    event = next_event.result()
                except StopAsyncIteration:
                    return
                except Gone:
                    self.gone_seen += 1
                    raise
                yield event

    def pause(self) -> None:
        self.open.clear()
        self.cut.set()

    def resume(self) -> None:
        self.cut.clear()
        self.open.set()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_add(self, obj):
        self.events.append(("add", obj["metadata"]["name"]))

    def on_update(self, old, new):
        if old["metadata"]["resourceVersion"] != new["metadata"]["resourceVersion"]:
            self.events.append(("update", new["metadata"]["name"]))

    def on_delete(self, obj):
        self.events.append(("delete", obj["metadata"]["name"]))


LABEL = "runtime-test=informer"


def configmap(name: str, namespace: str, value: str = "1") -> dict:
    meta = {"name": name, "namespace": namespace, "labels": {"runtime-test": "informer"}}
    return {"metadata": meta, "data": {"value": value}}


def cached(informer: Informer) -> dict[str, str]:
    return {o["metadata"]["name"]: o["data"]["value"] for o in informer.store.values()}


async def on_server(kube: KubeClient, namespace: str) -> dict[str, str]:
    listed = await retrying(lambda: kube.list(CONFIG_MAPS, namespace, label_selector=LABEL))
    return {o["metadata"]["name"]: o["data"]["value"] for o in listed.items}


def core_event(name: str, namespace: str, message: str = "1") -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {"kind": "ConfigMap", "name": "subject", "namespace": namespace},
        "reason": "Testing",
        "message": message,
    }


def cached_messages(informer: Informer) -> dict[str, str]:
    return {o["metadata"]["name"]: o["message"] for o in informer.store.values()}


async def test_a_watch_forced_onto_an_expired_resource_version_relists_and_loses_no_change(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
):
    # Events are served to watches straight from etcd (no watch cache), so once etcd has compacted past the
    # informer's resourceVersion the API server must answer its watch with 410 Gone.
    for name in ("kept", "changed", "deleted"):
        await kube.create(CORE_EVENTS, core_event(name, namespace))
    steer = SteerableWatches(kube)
    informer = Informer(steer, CORE_EVENTS, namespace=namespace, backoff_initial=0.1, backoff_max=1.0)
    recorder = Recorder()
    informer.add_handler(recorder)
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 30)
        assert cached_messages(informer) == {"kept": "1", "changed": "1", "deleted": "1"}
        recorder.events.clear()

        steer.pause()  # the informer loses its watch and cannot reconnect
        await kube.create(CORE_EVENTS, core_event("created", namespace))
        await kube.patch(CORE_EVENTS, "changed", {"message": "2"}, namespace)
        await kube.delete(CORE_EVENTS, "deleted", namespace)
        await asyncio.to_thread(compact_etcd, control_plane)
        steer.resume()

        await eventually(
            lambda: cached_messages(informer) == {"kept": "1", "changed": "2", "created": "1"},
            timeout=30.0,
            interval=0.1,
        )
        assert steer.gone_seen == 1, "the API server answered the expired resourceVersion with 410"
        assert informer.relists == 2
        assert sorted(recorder.events) == [("add", "created"), ("delete", "deleted"), ("update", "changed")]

        await kube.patch(CORE_EVENTS, "kept", {"message": "3"}, namespace)
        await eventually(lambda: cached_messages(informer).get("kept") == "3", timeout=30.0, interval=0.1)
        listed = await kube.list(CORE_EVENTS, namespace)
        assert cached_messages(informer) == {o["metadata"]["name"]: o["message"] for o in listed.items}
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def test_the_cache_converges_after_the_api_server_restarts_mid_watch(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
):
    for i in range(5):
        await kube.create(CONFIG_MAPS, configmap(f"before-{i}", namespace))
    informer = Informer(
        kube, CONFIG_MAPS, namespace=namespace, label_selector=LABEL, backoff_initial=0.2, backoff_max=2.0
    )
    task = asyncio.create_task(informer.run())
    try:
        await asyncio.wait_for(informer.wait_synced(), 30)
        await kube.patch(CONFIG_MAPS, "before-0", {"data": {"value": "changed"}}, namespace)
        await eventually(lambda: cached(informer)["before-0"] == "changed", timeout=30.0, interval=0.1)

        await asyncio.to_thread(control_plane.restart_apiserver)

        # Changes right after the restart race with the informer's reconnect: none may be lost.
        await retrying(lambda: kube.delete(CONFIG_MAPS, "before-1", namespace))
        await retrying(lambda: kube.patch(CONFIG_MAPS, "before-2", {"data": {"value": "after"}}, namespace))
        for i in range(3):
            await retrying(lambda i=i: kube.create(CONFIG_MAPS, configmap(f"after-{i}", namespace)))

        expected = await on_server(kube, namespace)
        assert "before-1" not in expected and expected["before-2"] == "after"
        await eventually(lambda: cached(informer) == expected, timeout=60, interval=0.1)
        assert not task.done(), "the informer survived the restart"

        await retrying(lambda: kube.patch(CONFIG_MAPS, "after-0", {"data": {"value": "live"}}, namespace))
        await eventually(lambda: cached(informer)["after-0"] == "live", timeout=30, interval=0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
