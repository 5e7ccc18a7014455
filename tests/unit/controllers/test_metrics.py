"""KubeRay's RayCluster metrics: exact names, help, labels and values, and no series left behind."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kuberay_py.cli import build_parser
from kuberay_py.controllers.raycluster import RAYCLUSTERS
from kuberay_py.controllers.raycluster.metrics import RayClusterCollector, report_rayclusters
from kuberay_py.operator import OperatorConfig, build_manager
from kuberay_py.runtime import (
    PODS,
    Cache,
    Manager,
    ManagerOptions,
    Request,
)
from kuberay_py.runtime.metrics import REGISTRY
from kuberay_py.testing.memory_client import InMemoryClient
from tests.managers import running
from tests.unit.controllers.harness import World, reconciling, settle
from tests.unit.controllers.podfactory import cluster

NS = "default"
NAMES = (
    "kuberay_cluster_info",
    "kuberay_cluster_condition_provisioned",
    "kuberay_cluster_provisioned_duration_seconds",
)
Series = dict[str, dict[tuple[tuple[str, str], ...], float]]


def scrape(registry: CollectorRegistry) -> Series:
    """The three families' samples, by sorted label pairs."""
    found: Series = {name: {} for name in NAMES}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name in found:
                found[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return found


def labels(**pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(pairs.items()))


class JsonClient(InMemoryClient):
    """Stores what a real API server would: the JSON of each patch, so enum values arrive as strings."""

    async def patch(self, resource: Any, name: str, patch: Any, *args: Any, **kwargs: Any) -> Any:
        return await super().patch(resource, name, json.loads(json.dumps(patch)), *args, **kwargs)


def collecting(cache: Cache) -> CollectorRegistry:
    """A registry of its own with the RayCluster collector reading `cache`."""
    collector = RayClusterCollector()
    collector.add(cache)
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with reconciling(JsonClient()) as world:
        yield world


@pytest.fixture
def registry(world: World) -> CollectorRegistry:
    return collecting(world.cache)


async def create(
    client: InMemoryClient,
    name: str,
    *,
    origin: str | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    manifest = cluster({"groupName": "small", "replicas": 1}).to_manifest()
    manifest["metadata"] = {"name": name, "namespace": NS}
    if origin is not None:
        manifest["metadata"]["labels"] = {"ray.io/originated-from-crd": origin}
    created = await client.create(RAYCLUSTERS, manifest)
    if conditions is not None:
        await client.patch_status(RAYCLUSTERS, name, {"status": {"conditions": conditions}}, NS)
    await settle()
    return created


def after(timestamp: str, seconds: int) -> str:
    moment = datetime.fromisoformat(timestamp) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def provisioned(status: str, when: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    reason = "AllPodRunningAndReadyFirstTime" if status == "True" else "RayClusterPodsProvisioning"
    return {"type": "RayClusterProvisioned", "status": status, "reason": reason, "lastTransitionTime": when}


async def test_exposition_has_kuberays_names_help_types_and_labels(
    world: World, registry: CollectorRegistry
) -> None:
    client = world.client
    # No clusters, no families: KubeRay's scrape has none of them either.
    assert "kuberay_cluster" not in generate_latest(registry).decode()

    rc = await create(client, "plain")
    uid = rc["metadata"]["uid"]
    text = generate_latest(registry).decode()
    assert "# HELP kuberay_cluster_info Metadata information about RayCluster custom resources\n" in text
    assert (
        "# HELP kuberay_cluster_condition_provisioned Indicates whether the RayCluster is provisioned\n"
        in text
    )
    for name in NAMES[:2]:
        assert f"# TYPE {name} gauge\n" in text, name
    # Label pairs come sorted by name, as KubeRay's Go client writes them too.
    assert (
        f'kuberay_cluster_info{{name="plain",namespace="default",owner_kind="None",uid="{uid}"}} 1.0' in text
    )
    assert (
        f'kuberay_cluster_condition_provisioned{{condition="false",name="plain",namespace="default",'
        f'uid="{uid}"}} 1.0'
    ) in text
    assert "kuberay_cluster_provisioned_duration_seconds" not in text

    when = after(rc["metadata"]["creationTimestamp"], 3)
    await client.patch_status(
        RAYCLUSTERS, "plain", {"status": {"conditions": [provisioned("True", when)]}}, NS
    )
    await settle()
    text = generate_latest(registry).decode()
    assert (
        "# HELP kuberay_cluster_provisioned_duration_seconds The time, in seconds, when a RayCluster's "
        "`RayClusterProvisioned` status transitions from false (or unset) to true\n"
        "# TYPE kuberay_cluster_provisioned_duration_seconds gauge\n"
        f'kuberay_cluster_provisioned_duration_seconds{{name="plain",namespace="default",uid="{uid}"}} 3.0\n'
    ) in text
    assert (
        f'kuberay_cluster_condition_provisioned{{condition="true",name="plain",namespace="default",'
        f'uid="{uid}"}} 1.0'
    ) in text


async def test_each_state_gets_its_series(world: World, registry: CollectorRegistry) -> None:
    client = world.client
    fresh = await create(client, "fresh")
    pending = await create(client, "pending", conditions=[provisioned("False")])
    job = await create(client, "from-job", origin="RayJob")
    ready = await create(client, "ready", origin="RayService")
    # The condition turns True a known time after creation.
    when = after(ready["metadata"]["creationTimestamp"], 42)
    await client.patch_status(
        RAYCLUSTERS, "ready", {"status": {"conditions": [provisioned("True", when)]}}, NS
    )
    await settle()

    def ids(rc: dict[str, Any]) -> dict[str, str]:
        return {"name": rc["metadata"]["name"], "namespace": NS, "uid": rc["metadata"]["uid"]}

    series = scrape(registry)
    assert series["kuberay_cluster_info"] == {
        labels(**ids(fresh), owner_kind="None"): 1.0,
        labels(**ids(pending), owner_kind="None"): 1.0,
        labels(**ids(job), owner_kind="RayJob"): 1.0,
        labels(**ids(ready), owner_kind="RayService"): 1.0,
    }
    assert series["kuberay_cluster_condition_provisioned"] == {
        labels(**ids(fresh), condition="false"): 1.0,
        labels(**ids(pending), condition="false"): 1.0,
        labels(**ids(job), condition="false"): 1.0,
        labels(**ids(ready), condition="true"): 1.0,
    }
    assert series["kuberay_cluster_provisioned_duration_seconds"] == {labels(**ids(ready)): 42.0}


async def test_the_duration_is_set_once_and_a_later_condition_change_moves_it_as_kuberays_would(
    world: World, registry: CollectorRegistry
) -> None:
    client = world.client
    rc = await create(client, "demo")
    created = rc["metadata"]["creationTimestamp"]
    first = provisioned("True", after(created, 10))
    await client.patch_status(RAYCLUSTERS, "demo", {"status": {"conditions": [first]}}, NS)
    await settle()
    ids = labels(name="demo", namespace=NS, uid=rc["metadata"]["uid"])
    assert scrape(registry)["kuberay_cluster_provisioned_duration_seconds"] == {ids: 10.0}
    # Later status writes keep the condition's lastTransitionTime: the value stays.
    other = {"type": "HeadPodReady", "status": "False", "lastTransitionTime": after(created, 99)}
    await client.patch_status(RAYCLUSTERS, "demo", {"status": {"conditions": [first, other]}}, NS)
    await settle()
    assert scrape(registry)["kuberay_cluster_provisioned_duration_seconds"] == {ids: 10.0}
    # False again, then True again: KubeRay observes the new transition, so the value moves with it.
    await client.patch_status(
        RAYCLUSTERS, "demo", {"status": {"conditions": [provisioned("False", after(created, 20))]}}, NS
    )
    await settle()
    assert scrape(registry)["kuberay_cluster_provisioned_duration_seconds"] == {}
    again = provisioned("True", after(created, 30))
    await client.patch_status(RAYCLUSTERS, "demo", {"status": {"conditions": [again]}}, NS)
    await settle()
    assert scrape(registry)["kuberay_cluster_provisioned_duration_seconds"] == {ids: 30.0}


async def test_a_deleted_clusters_series_disappear(world: World, registry: CollectorRegistry) -> None:
    client = world.client
    gone = await create(client, "gone")
    kept = await create(client, "kept")
    await client.patch_status(
        RAYCLUSTERS,
        "gone",
        {"status": {"conditions": [provisioned("True", after(gone["metadata"]["creationTimestamp"], 5))]}},
        NS,
    )
    await settle()
    assert all(len(scrape(registry)[name]) == count for name, count in zip(NAMES, (2, 2, 1), strict=True))

    await client.delete(RAYCLUSTERS, "gone", NS)
    await settle()
    series = scrape(registry)
    remaining = {pairs for name in NAMES for pairs in series[name]}
    assert remaining and all(dict(pairs)["name"] == "kept" for pairs in remaining)
    assert all(dict(pairs)["uid"] == kept["metadata"]["uid"] for pairs in remaining)
    assert series["kuberay_cluster_provisioned_duration_seconds"] == {}


async def test_a_recreated_cluster_is_reported_under_its_new_uid_only(
    world: World, registry: CollectorRegistry
) -> None:
    client = world.client
    old = await create(client, "demo")
    await client.delete(RAYCLUSTERS, "demo", NS)
    new = await create(client, "demo")
    uids = {dict(pairs)["uid"] for pairs in scrape(registry)["kuberay_cluster_info"]}
    assert uids == {new["metadata"]["uid"]} != {old["metadata"]["uid"]}


async def test_an_unreadable_timestamp_drops_only_the_duration(
    world: World, registry: CollectorRegistry
) -> None:
    client = world.client
    await create(client, "odd", conditions=[provisioned("True", "not a time")])
    series = scrape(registry)
    assert len(series["kuberay_cluster_info"]) == 1
    assert [dict(p)["condition"] for p in series["kuberay_cluster_condition_provisioned"]] == ["true"]
    assert series["kuberay_cluster_provisioned_duration_seconds"] == {}


async def test_nothing_is_reported_before_the_informer_has_synced() -> None:
    client = InMemoryClient()
    await client.create(RAYCLUSTERS, {**cluster().to_manifest(), "metadata": {"name": "a", "namespace": NS}})
    cache = Cache(client)
    cache.informer(RAYCLUSTERS)  # registered, never started
    assert scrape(collecting(cache)) == {name: {} for name in NAMES}


async def test_the_reconciler_provisioning_a_cluster_sets_the_duration_from_its_status(
    world: World, registry: CollectorRegistry
) -> None:
    client, cache, reconciler = world.client, world.cache, world.reconciler
    rc = await create(client, "demo")
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()
    ids = {"name": "demo", "namespace": NS, "uid": rc["metadata"]["uid"]}
    assert scrape(registry)["kuberay_cluster_condition_provisioned"] == {
        labels(**ids, condition="false"): 1.0
    }

    for pod in client.objects(PODS):
        ready = {
            "phase": "Running",
            "podIP": "127.16.0.9",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        await client.patch_status(PODS, pod["metadata"]["name"], {"status": ready}, NS)
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()

    status = (cache.get(RAYCLUSTERS, "demo", NS) or {})["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "RayClusterProvisioned")
    assert condition["status"] == "True"
    expected = (
        datetime.fromisoformat(condition["lastTransitionTime"])
        - datetime.fromisoformat(rc["metadata"]["creationTimestamp"])
    ).total_seconds()
    series = scrape(registry)
    assert series["kuberay_cluster_condition_provisioned"] == {labels(**ids, condition="true"): 1.0}
    assert series["kuberay_cluster_provisioned_duration_seconds"] == {labels(**ids): expected}


async def test_a_running_manager_serves_them_on_the_process_registry_until_it_stops() -> None:
    client = JsonClient()
    manager = Manager(
        client,
        ManagerOptions(metrics_bind_address="0", health_probe_bind_address="0", handle_signals=False),
    )
    report_rayclusters(manager)
    uid = (await create(client, "m"))["metadata"]["uid"]
    async with running(manager):
        await asyncio.wait_for(manager.wait_ready(), 10)
        info = await reported(uid)
        assert labels(name="m", namespace=NS, uid=uid, owner_kind="None") in info
    assert [p for name in NAMES for p in scrape(REGISTRY)[name] if dict(p).get("uid") == uid] == []


@pytest.mark.parametrize("enabled", [True, False])
async def test_the_operator_reports_them_unless_turned_off(enabled: bool) -> None:
    client = JsonClient()
    config = OperatorConfig(metrics_addr="0", health_addr="0", enable_metrics=enabled)
    manager = build_manager(client, config)
    manager.options.handle_signals = False  # the test's loop keeps its own
    uid = (await create(client, "op"))["metadata"]["uid"]
    async with running(manager):
        await asyncio.wait_for(manager.wait_ready(), 10)
        assert bool(await reported(uid, wait=enabled)) is enabled


async def reported(uid: str, *, wait: bool = True) -> dict[tuple[tuple[str, str], ...], float]:
    """The process registry's kuberay_cluster_info series of that cluster, once they appear."""
    for _ in range(200 if wait else 10):
        info = {p: v for p, v in scrape(REGISTRY)["kuberay_cluster_info"].items() if dict(p)["uid"] == uid}
        if info:
            return info
        await asyncio.sleep(0.01)
    return {}


def test_the_option_is_on_by_default_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERAY_PY_ENABLE_METRICS", raising=False)
    assert build_parser().parse_args(["operator"]).enable_metrics is True
    assert build_parser().parse_args(["operator", "--no-enable-metrics"]).enable_metrics is False
    monkeypatch.setenv("KUBERAY_PY_ENABLE_METRICS", "false")
    assert build_parser().parse_args(["operator"]).enable_metrics is False
    assert build_parser().parse_args(["operator", "--enable-metrics"]).enable_metrics is True
