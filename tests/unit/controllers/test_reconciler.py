"""The reconciler on the in-memory API backend: fast checks of the write path and of the stale-cache guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from kuberay_py.controllers.raycluster import (
    RAYCLUSTERS,
    RayClusterReconciler,
    ReconcilerOptions,
)
from kuberay_py.runtime import (
    EVENTS,
    PODS,
    SERVICE_ACCOUNTS,
    SERVICES,
    Request,
)
from kuberay_py.runtime.errors import ServerError
from kuberay_py.testing.memory_client import InMemoryClient
from tests.unit.controllers.harness import World, reconciling, settle
from tests.unit.controllers.podfactory import cluster

NS = "default"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with reconciling(InMemoryClient()) as world:
        yield world


@pytest.fixture
async def yielding(world: World) -> RayClusterReconciler:
    """A reconciler that always sees other clusters waiting and may yield at once."""
    return RayClusterReconciler(
        world.client,
        world.cache,
        world.reconciler.recorder,
        ReconcilerOptions(yield_after_seconds=0.0),
        others_waiting=lambda: True,
    )


async def create_cluster(client: InMemoryClient, *groups: dict[str, Any], **flags: Any) -> dict[str, Any]:
    manifest = cluster(*groups, **flags).to_manifest()
    manifest["metadata"] = {"name": "demo", "namespace": NS}
    created = await client.create(RAYCLUSTERS, manifest)
    await settle()
    return created


async def reconcile_after_settling(reconciler: RayClusterReconciler) -> None:
    """Let the cache see the last writes, reconcile the demo cluster, and send its Events."""
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()


def worker_pods(client: InMemoryClient) -> list[dict[str, Any]]:
    return [p for p in client.objects(PODS) if p["metadata"]["labels"]["ray.io/node-type"] == "worker"]


async def test_first_reconcile_creates_service_head_and_workers(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 3})
    await reconciler.reconcile(Request(NS, "demo"))
    assert [s["metadata"]["name"] for s in client.objects(SERVICES)] == ["demo-head-svc"]
    heads = [p for p in client.objects(PODS) if p["metadata"]["labels"]["ray.io/node-type"] == "head"]
    assert len(heads) == 1 and len(worker_pods(client)) == 3
    owner = heads[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "RayCluster" and owner["controller"] is True


async def test_stale_cache_never_causes_duplicate_creates(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 5})
    # Reconcile again at once, before the pod informer has delivered the first pass's creates.
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.reconcile(Request(NS, "demo"))
    assert len(worker_pods(client)) == 5
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    assert len(worker_pods(client)) == 5


async def test_status_is_written_once_and_not_again_when_nothing_changed(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 1})
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()

    def status_writes() -> int:
        # The reconciler patches a RayCluster only through its status subresource.
        return sum(1 for a in client.actions if a.verb == "patch" and a.resource == RAYCLUSTERS)

    writes = status_writes()
    assert writes >= 1
    for _ in range(3):
        await reconciler.reconcile(Request(NS, "demo"))
        await settle()
    assert status_writes() == writes
    status = (await client.get(RAYCLUSTERS, "demo", NS))["status"]
    assert status["desiredWorkerReplicas"] == 1 and "state" not in status  # pods exist but never ran


async def test_invalid_spec_creates_nothing_and_says_why(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    rc = cluster({"groupName": "small", "replicas": 1}).to_manifest()
    rc["metadata"] = {"name": "demo", "namespace": NS}
    containers = rc["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"]
    containers.append(dict(containers[0]))
    await client.create(RAYCLUSTERS, rc)
    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    assert client.objects(PODS) == [] and client.objects(SERVICES) == []
    status = (await client.get(RAYCLUSTERS, "demo", NS))["status"]
    valid = next(c for c in status["conditions"] if c["type"] == "SpecValid")
    assert (
        valid["status"] == "False" and "container names in a pod template must be unique" in valid["message"]
    )


async def test_a_missing_cluster_is_a_no_op(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    result = await reconciler.reconcile(Request(NS, "nothing-here"))
    assert result.requeue_after is None and client.objects(PODS) == []


async def test_a_pass_yields_its_worker_when_others_wait_and_loses_nothing(
    world: World, yielding: RayClusterReconciler
) -> None:
    client = world.client
    await create_cluster(client, {"groupName": "small", "replicas": 6})
    results, pods = [], []
    for _ in range(10):
        results.append(await yielding.reconcile(Request(NS, "demo")))
        await settle()
        pods.append(len(client.objects(PODS)))
        if results[-1].requeue_after is None:
            break
    # The head alone first; then each pass sends what its window allows (the window carries over from pass
    # to pass, one, two, four...) and asks to come back at the end of the queue, until the last.
    assert pods == [1, 3, 7]
    assert [r.requeue_after for r in results] == [0.05, 0.05, None]
    assert len(worker_pods(client)) == 6


async def test_a_yielding_pass_never_leaves_a_multi_host_replica_half_made(
    world: World, yielding: RayClusterReconciler
) -> None:
    client = world.client
    await create_cluster(client, {"groupName": "tpu", "replicas": 4, "numOfHosts": 2})
    counts = []
    for _ in range(10):
        result = await yielding.reconcile(Request(NS, "demo"))
        await settle()
        counts.append(len(worker_pods(client)))
        if result.requeue_after is None:
            break
    # Every pass ends on a replica boundary: whole replicas of 2 pods only, and nothing deleted for being
    # incomplete.
    assert len(counts) > 2 and all(count % 2 == 0 for count in counts) and counts[-1] == 8
    assert not [a for a in client.actions if a.verb == "delete"]


async def test_a_pass_with_nobody_waiting_creates_everything_at_once(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 30})
    result = await reconciler.reconcile(Request(NS, "demo"))
    assert result.requeue_after is None and len(worker_pods(client)) == 30


async def test_a_spec_the_builders_refuse_gets_spec_valid_false_and_an_event_naming_the_field(
    world: World,
) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 1})
    rc = client.objects(RAYCLUSTERS)[0]
    rc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"] = {
        "limits": {"memory": "8GB"}
    }
    await client.update(RAYCLUSTERS, rc)
    await reconcile_after_settling(reconciler)
    assert client.objects(PODS) == []
    status = client.objects(RAYCLUSTERS)[0]["status"]
    valid = next(c for c in status["conditions"] if c["type"] == "SpecValid")
    field = "spec.headGroupSpec.template.spec.containers[0].resources.limits.memory"
    assert valid["status"] == "False" and field in valid["message"]
    events = [e for e in client.objects(EVENTS) if e.get("reason") == "InvalidRayClusterSpec"]
    assert events and field in events[0]["note"]


async def test_a_replica_wider_than_the_per_pass_budget_is_still_created(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "wide", "replicas": 1, "numOfHosts": 600})
    result = await reconciler.reconcile(Request(NS, "demo"))
    assert len(worker_pods(client)) == 600 and result.requeue_after is None


async def test_a_failed_status_write_is_reported_as_an_event_and_retried(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 1})

    async def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ServerError("etcdserver: request timed out")

    client.patch_status = refuse  # type: ignore[method-assign]
    result = await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()
    assert result.requeue, "the pass comes back to write the status"
    assert len(worker_pods(client)) == 1, "the pods were still made"
    events = [e for e in client.objects(EVENTS) if e.get("reason") == "FailedUpdateStatus"]
    assert events and "etcdserver: request timed out" in events[0]["note"]


# -- Events, by KubeRay's reasons ---------------------------------------------------------------------------


def events(client: InMemoryClient, reason: str) -> list[dict[str, Any]]:
    return [e for e in client.objects(EVENTS) if e.get("reason") == reason]


async def test_one_event_per_pod_and_object_created_with_kuberays_reasons(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 3}, autoscaling=True)
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()
    (head,) = [p for p in client.objects(PODS) if p["metadata"]["labels"]["ray.io/node-type"] == "head"]
    assert [e["note"] for e in events(client, "CreatedHeadPod")] == [
        f"Created head Pod {NS}/{head['metadata']['name']}"
    ]
    notes = sorted(e["note"] for e in events(client, "CreatedWorkerPod"))
    assert notes == sorted(
        f"Created worker Pod {NS}/{p['metadata']['name']} of group small" for p in worker_pods(client)
    )
    assert [e["note"] for e in events(client, "CreatedService")] == [f"Created service {NS}/demo-head-svc"]
    assert [e["note"] for e in events(client, "CreatedServiceAccount")] == [
        f"Created service account {NS}/demo"
    ]
    assert [e["note"] for e in events(client, "CreatedRole")] == [f"Created role {NS}/demo"]
    assert [e["note"] for e in events(client, "CreatedRoleBinding")] == [f"Created role binding {NS}/demo"]
    assert not events(client, "CreatedPods")


async def test_a_big_scale_up_writes_a_handful_of_events(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 300})
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()
    assert len(worker_pods(client)) == 300
    created = events(client, "CreatedWorkerPod")
    assert len(created) == 10
    assert sum((e.get("series") or {}).get("count", 1) for e in created) == 300
    assert reconciler.recorder.count(client.objects(RAYCLUSTERS)[0], "CreatedWorkerPod") == 300


async def test_deleted_pods_get_kuberays_reasons(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 2})
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()
    rc = client.objects(RAYCLUSTERS)[0]
    rc["spec"]["workerGroupSpecs"][0]["replicas"] = 1
    await client.update(RAYCLUSTERS, rc)
    await reconcile_after_settling(reconciler)
    (deleted,) = events(client, "DeletedWorkerPod")
    assert deleted["note"].startswith(f"Deleted worker Pod {NS}/demo-small-worker-")
    assert deleted["note"].endswith("for group small: scaling down to the desired replicas")

    rc = client.objects(RAYCLUSTERS)[0]
    rc["spec"]["suspend"] = True
    await client.update(RAYCLUSTERS, rc)
    await reconcile_after_settling(reconciler)
    (suspended,) = events(client, "DeletedPod")
    assert suspended["note"] == f"Deleted 2 Pods for RayCluster {NS}/demo due to suspension"
    assert not events(client, "DeletedHeadPod") and not events(client, "DeletedPods")


async def test_a_failed_head_pod_is_deleted_with_its_status_in_the_event(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client)
    await reconciler.reconcile(Request(NS, "demo"))
    await settle()
    (head,) = client.objects(PODS)
    head["status"] = {"phase": "Failed"}
    await client.update_status(PODS, head)
    await reconcile_after_settling(reconciler)
    (deleted,) = events(client, "DeletedHeadPod")
    assert deleted["note"].startswith(f"Deleted head Pod {NS}/{head['metadata']['name']}; Pod status: Failed")


async def test_failed_pod_writes_get_kuberays_event_and_condition_reasons(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "small", "replicas": 1})
    client.fail_next("create", ServerError("quota"), resource=PODS, times=1000)
    reconciler.writer.options = type(reconciler.writer.options)(retry_seconds=0.0)
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()
    (event,) = events(client, "FailedToCreateHeadPod")
    assert event["type"] == "Warning" and event["note"].startswith(
        f"Failed to create head Pod {NS}/demo-head-"
    )
    status = client.objects(RAYCLUSTERS)[0]["status"]
    failure = next(c for c in status["conditions"] if c["type"] == "ReplicaFailure")
    assert failure["reason"] == "FailedCreateHeadPod" and "quota" in failure["message"]


async def test_a_failed_service_write_is_an_event_and_the_reason_not_a_replica_failure(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client)
    client.fail_next("create", ServerError("admission webhook said no"), resource=SERVICES)
    result = await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()
    assert result.requeue
    (event,) = events(client, "FailedToCreateService")
    assert event["note"] == (
        f"Failed creating service {NS}/demo-head-svc, {ServerError('admission webhook said no')}"
    )
    status = client.objects(RAYCLUSTERS)[0]["status"]
    assert "ReplicaFailure" not in {c["type"] for c in status["conditions"]}
    assert status["reason"] == event["note"]


async def test_a_missing_service_account_of_the_users_blocks_the_head_with_kuberays_event(
    world: World,
) -> None:
    client, reconciler = world.client, world.reconciler
    manifest = cluster(autoscaling=True).to_manifest()
    manifest["metadata"] = {"name": "demo", "namespace": NS}
    manifest["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "mine"
    await client.create(RAYCLUSTERS, manifest)
    await reconcile_after_settling(reconciler)
    assert client.objects(PODS) == [] and client.objects(SERVICE_ACCOUNTS) == []
    (event,) = events(client, "AutoscalerServiceAccountNotFound")
    assert "ServiceAccount mine" in event["note"]

    await client.create(SERVICE_ACCOUNTS, {"metadata": {"name": "mine", "namespace": NS}})
    await reconciler.reconcile(Request(NS, "demo"))
    assert len(client.objects(PODS)) == 1


# -- the headless worker Service ----------------------------------------------------------------------------


async def test_a_multi_host_group_gets_kuberays_headless_worker_service(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    created = await create_cluster(client, {"groupName": "tpu", "replicas": 1, "numOfHosts": 2})
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()
    services = {s["metadata"]["name"]: s for s in client.objects(SERVICES)}
    assert set(services) == {"demo-head-svc", "demo-headless"}
    headless = services["demo-headless"]
    assert headless["metadata"]["labels"]["ray.io/headless-worker-svc"] == "demo"
    assert headless["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    assert headless["spec"]["clusterIP"] == "None"
    notes = sorted(e["note"] for e in events(client, "CreatedService"))
    assert notes == [f"Created service {NS}/demo-head-svc", f"Created service {NS}/demo-headless"]

    await settle()
    await reconciler.reconcile(Request(NS, "demo"))
    assert len([a for a in client.actions if a.verb == "create" and a.resource == SERVICES]) == 2


async def test_a_suspended_multi_host_cluster_gets_it_too(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "tpu", "replicas": 1, "numOfHosts": 2}, suspend=True)
    await reconciler.reconcile(Request(NS, "demo"))
    assert "demo-headless" in {s["metadata"]["name"] for s in client.objects(SERVICES)}
    assert worker_pods(client) == []


async def test_kuberays_headless_worker_service_is_adopted_not_duplicated(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    created = await create_cluster(client, {"groupName": "tpu", "replicas": 1, "numOfHosts": 2})
    owner = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "name": "demo",
        "uid": created["metadata"]["uid"],
        "controller": True,
    }
    kuberays = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "demo-headless",
            "namespace": NS,
            "labels": {"ray.io/headless-worker-svc": "demo"},
            "ownerReferences": [owner],
        },
        "spec": {"clusterIP": "None", "selector": {"ray.io/cluster": "demo", "ray.io/node-type": "worker"}},
    }
    await client.create(SERVICES, kuberays)
    await reconciler.reconcile(Request(NS, "demo"))
    await reconciler.recorder.flush()
    (headless,) = [s for s in client.objects(SERVICES) if s["metadata"]["name"] == "demo-headless"]
    assert headless["metadata"]["labels"] == {"ray.io/headless-worker-svc": "demo", "ray.io/cluster": "demo"}
    assert [e["note"] for e in events(client, "CreatedService")] == [f"Created service {NS}/demo-head-svc"]

    # Now in the cache: no further attempt to create it.
    await settle()
    before = len(client.actions)
    await reconciler.reconcile(Request(NS, "demo"))
    assert not [a for a in client.actions[before:] if a.resource == SERVICES]


async def test_a_headless_service_of_someone_elses_is_left_alone(world: World) -> None:
    client, reconciler = world.client, world.reconciler
    await create_cluster(client, {"groupName": "tpu", "replicas": 1, "numOfHosts": 2})
    theirs = {"metadata": {"name": "demo-headless", "namespace": NS, "labels": {"team": "a"}}, "spec": {}}
    await client.create(SERVICES, theirs)
    await reconciler.reconcile(Request(NS, "demo"))
    (headless,) = [s for s in client.objects(SERVICES) if s["metadata"]["name"] == "demo-headless"]
    assert headless["metadata"]["labels"] == {"team": "a"}
    assert len(worker_pods(client)) == 2
