"""The pod observer's worst-moment records, against the in-memory API server."""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.runtime.errors import TransportError
from kuberay_py.runtime.resources import PODS
from kuberay_py.testing.memory_client import InMemoryClient
from kuberay_py.testing.observer import PodObserver
from tests.waiting import eventually


def pod(name: str, cluster: str = "rc", group: str = "g", head: bool = False, **extra: Any) -> dict[str, Any]:
    labels = {
        "ray.io/cluster": cluster,
        "ray.io/group": group,
        "ray.io/node-type": "head" if head else "worker",
    }
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels, **extra}, "spec": {}}


async def set_phase(client: InMemoryClient, name: str, phase: str, ready: bool = False) -> None:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    await client.patch_status(PODS, name, {"status": {"phase": phase, "conditions": conditions}}, "ns")


async def test_records_the_most_active_pods_per_cluster_and_group() -> None:
    client = InMemoryClient()
    await client.create(PODS, pod("a-head", "a", "headgroup", head=True))
    await client.create(PODS, pod("a-1", "a"))
    async with PodObserver(client, "ns") as observer:
        assert observer.most_active("a", "g") == 1 and observer.most_heads("a") == 1
        await client.create(PODS, pod("a-2", "a"))
        await client.create(PODS, pod("b-1", "b"))
        await client.create(PODS, pod("a-3", "a"))
        await eventually(lambda: len(observer.pods()) == 5, timeout=5.0, interval=0.005)
        await client.delete(PODS, "a-1", "ns")
        await client.delete(PODS, "a-2", "ns")
        await eventually(lambda: len(observer.pods("a", "g")) == 1, timeout=5.0, interval=0.005)
        assert observer.max_active == {("a", "g"): 3, ("a", "headgroup"): 1, ("b", "g"): 1}
        assert observer.overshoots({("a", "g"): 2, ("b", "g"): 1}) == {("a", "g"): 3}
        observer.assert_no_overshoot("a", "g", 3)
        with pytest.raises(AssertionError, match="a/g: 3 active pods at once, desired 2"):
            observer.assert_no_overshoot("a", "g", 2)
        observer.assert_single_head("a")
        assert observer.names_seen == {"a-head", "a-1", "a-2", "a-3", "b-1"}
        assert observer.deleted == ["a-1", "a-2"]


async def test_finished_and_deleting_pods_are_not_active() -> None:
    client = InMemoryClient()
    async with PodObserver(client, "ns") as observer:
        await client.create(PODS, pod("head-1", group="headgroup", head=True, finalizers=["keep"]))
        await eventually(lambda: observer.most_heads("rc") == 1, timeout=5.0, interval=0.005)
        await client.delete(PODS, "head-1", "ns")  # the finalizer keeps it, deleting
        await eventually(lambda: not observer.active(), timeout=5.0, interval=0.005)
        await client.create(PODS, pod("head-2", group="headgroup", head=True))
        await set_phase(client, "head-2", "Failed")
        await client.create(PODS, pod("head-3", group="headgroup", head=True))
        await eventually(lambda: len(observer.pods()) == 3, timeout=5.0, interval=0.005)
        assert [p["metadata"]["name"] for p in observer.heads("rc")] == ["head-3"]
        assert observer.most_heads("rc") == 1
        await client.create(PODS, pod("head-4", group="headgroup", head=True))
        await eventually(lambda: observer.most_heads("rc") == 2, timeout=5.0, interval=0.005)
        with pytest.raises(AssertionError, match="rc: 2 active head pods at once"):
            observer.assert_single_head("rc")


async def test_a_relist_does_not_count_old_and_new_pods_together() -> None:
    client = InMemoryClient()
    await client.create(PODS, pod("old"))
    async with PodObserver(client, "ns") as observer:
        # While the watch is down, one pod replaces another and the history is compacted away, so the
        # informer lists again: it stores "new" before it learns that "old" is gone.
        client.fail_next("watch", TransportError("down"), times=2)  # the second failure backs off
        client.disconnect_watches()
        await eventually(
            lambda: sum(a.verb == "watch" for a in client.actions) == 3, timeout=5.0, interval=0.005
        )  # 1 + 2 failed
        await client.delete(PODS, "old", "ns")
        await client.create(PODS, pod("new"))
        client.compact()
        await eventually(
            lambda: observer.informer.relists == 2 and client.open_watches == 1, timeout=5.0, interval=0.005
        )
        assert [p["metadata"]["name"] for p in observer.active()] == ["new"]
        assert observer.most_active("rc", "g") == 1
        assert observer.deleted == ["old"]


async def test_fewest_ready_once_tracking_starts() -> None:
    client = InMemoryClient()
    for name in ("w-1", "w-2", "w-3"):
        await client.create(PODS, pod(name))
        await set_phase(client, name, "Running", ready=True)
    async with PodObserver(client, "ns") as observer:
        assert observer.min_ready == {}
        observer.start_tracking_ready()
        assert observer.min_ready == {("rc", "g"): 3}
        await set_phase(client, "w-1", "Running", ready=False)
        await set_phase(client, "w-2", "Running", ready=False)
        await set_phase(client, "w-1", "Running", ready=True)
        await set_phase(client, "w-2", "Running", ready=True)
        await eventually(lambda: len(observer.ready()) == 3, timeout=5.0, interval=0.005)
        assert observer.min_ready == {("rc", "g"): 1}


async def test_label_selector_narrows_what_is_seen() -> None:
    client = InMemoryClient()
    await client.create(PODS, pod("a-1", "a"))
    await client.create(PODS, pod("b-1", "b"))
    await client.create(PODS, {"metadata": {"name": "unrelated", "namespace": "ns"}, "spec": {}})
    async with PodObserver(client, "ns", label_selector="ray.io/cluster=a") as only_a:
        assert [p["metadata"]["name"] for p in only_a.pods()] == ["a-1"]
    async with PodObserver(client, "ns") as ray_pods:
        assert sorted(p["metadata"]["name"] for p in ray_pods.pods()) == ["a-1", "b-1"]
        assert ray_pods._task is not None
    assert ray_pods._task is None
