"""The RayJob state machine on the in-memory API backend, a fake job server and a clock the test moves:
every transition, retries on new clusters, the deadline, suspend and resume, the deletion policies after
their TTL, and what a stale cache or a dead dashboard may not cause."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kuberay_py.controllers.raycluster import RAYCLUSTERS
from kuberay_py.controllers.rayjob import (
    RAYJOBS,
    DashboardError,
    EventReason,
    JobInfo,
    RayJobOptions,
    RayJobReconciler,
)
from kuberay_py.runtime import EVENTS, JOBS, Cache, EventRecorder, Request
from kuberay_py.testing.memory_client import InMemoryClient

NS = "default"


@dataclass
class FakeJobsApi:
    """Ray's job server for every cluster: jobs by submission ID, and what was asked of it."""

    jobs: dict[str, JobInfo] = field(default_factory=dict)
    submitted: list[dict[str, Any]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    down: bool = False

    async def job_info(self, base_url: str, submission_id: str) -> JobInfo | None:
        self.asked.append(base_url)
        if self.down:
            raise DashboardError(f"GET {base_url}/api/jobs/{submission_id}: connection refused")
        return self.jobs.get(submission_id)

    async def submit(self, base_url: str, request: dict[str, Any]) -> None:
        if self.down:
            raise DashboardError("connection refused")
        self.submitted.append(request)
        self.jobs.setdefault(request["submission_id"], JobInfo("PENDING"))

    async def stop(self, base_url: str, submission_id: str) -> None:
        if self.down:
            raise DashboardError("connection refused")
        self.stopped.append(submission_id)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class World:
    client: InMemoryClient
    cache: Cache
    api: FakeJobsApi
    clock: Clock
    reconciler: RayJobReconciler
    recorder: EventRecorder

    async def settle(self) -> None:
        await self.cache.wait_synced()
        for _ in range(30):
            await asyncio.sleep(0)

    async def run(self, name: str = "job", passes: int = 1) -> None:
        for _ in range(passes):
            await self.settle()
            await self.reconciler.reconcile(Request(name=name, namespace=NS))
            await self.settle()

    def job(self, name: str = "job") -> dict[str, Any]:
        found = self.cache.get(RAYJOBS, name, NS)
        assert found is not None
        return found

    def status(self, name: str = "job") -> dict[str, Any]:
        return dict(self.job(name).get("status") or {})

    def clusters(self) -> list[dict[str, Any]]:
        return self.client.objects(RAYCLUSTERS)

    def deleted(self, resource: Any = RAYCLUSTERS) -> bool:
        """Whether the (only) object of the kind is gone or being deleted."""
        objects = self.client.objects(resource)
        return all(obj["metadata"].get("deletionTimestamp") for obj in objects)

    def submitters(self) -> list[dict[str, Any]]:
        return self.client.objects(JOBS)

    async def cluster_ready(self, ip: str = "127.16.0.9") -> dict[str, Any]:
        (cluster,) = [c for c in self.clusters() if not c["metadata"].get("deletionTimestamp")]
        status = {"state": "ready", "head": {"podIP": ip, "serviceName": "x"}}
        await self.client.patch_status(RAYCLUSTERS, cluster["metadata"]["name"], {"status": status}, NS)
        await self.settle()
        return cluster

    async def submitter_done(self, kind: str = "Complete") -> None:
        (submitter,) = self.submitters()
        condition = {
            "type": kind,
            "status": "True",
            "lastTransitionTime": self.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": "BackoffLimitExceeded" if kind == "Failed" else "",
            "message": "Job has reached the specified backoff limit" if kind == "Failed" else "",
        }
        await self.client.patch_status(
            JOBS, submitter["metadata"]["name"], {"status": {"conditions": [condition]}}, NS
        )
        await self.settle()

    async def gc(self) -> None:
        """The garbage collector and the RayCluster controller's part: deleted objects go."""
        for resource in (RAYCLUSTERS, JOBS):
            for obj in self.client.objects(resource):
                if obj["metadata"].get("deletionTimestamp"):
                    await self.client.patch(
                        resource, obj["metadata"]["name"], {"metadata": {"finalizers": []}}, NS
                    )
        await self.settle()

    async def reasons(self) -> list[str]:
        await self.recorder.flush()
        return [e.get("reason", "") for e in self.client.objects(EVENTS)]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    client = InMemoryClient()
    cache = Cache(client)
    for resource in (RAYJOBS, RAYCLUSTERS, JOBS):
        cache.informer(resource)
    cache.start()
    await cache.wait_synced()
    recorder = EventRecorder(client, reporting_controller="test", reporting_instance="test")
    recorder.start()
    api, clock = FakeJobsApi(), Clock()
    options = RayJobOptions(dashboard_address="pod-ip", poll_seconds=3.0)
    reconciler = RayJobReconciler(client, cache, recorder, api, options, clock=clock)
    yield World(client, cache, api, clock, reconciler, recorder)
    await recorder.stop()
    await cache.stop()


CLUSTER_SPEC: dict[str, Any] = {
    "rayVersion": "2.60.0",
    "headGroupSpec": {
        "rayStartParams": {},
        "template": {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}},
    },
    "workerGroupSpecs": [
        {
            "groupName": "small",
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]}},
        }
    ],
}


async def create_job(
    world: World, name: str = "job", finalizers: list[str] | None = None, **spec: Any
) -> dict[str, Any]:
    body = {"entrypoint": "python my_script.py", "rayClusterSpec": CLUSTER_SPEC, **spec}
    meta: dict[str, Any] = {"name": name, "namespace": NS, "finalizers": finalizers or []}
    manifest = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": meta}
    created = await world.client.create(RAYJOBS, {**manifest, "spec": body})
    await world.settle()
    return created


async def to_running(world: World, **spec: Any) -> dict[str, Any]:
    """Create a job and take it to Running; the job server knows the job as RUNNING."""
    await create_job(world, **spec)
    await world.run(passes=2)
    await world.cluster_ready()
    await world.run()
    status = world.status()
    if spec.get("submissionMode") != "HTTPMode":
        world.api.jobs[status["jobId"]] = JobInfo("RUNNING", start_time_ms=1_767_225_600_000)
    await world.run()
    return world.status()


async def test_a_job_runs_on_a_cluster_of_its_own_and_completes(world: World) -> None:
    await create_job(world, shutdownAfterJobFinishes=True, ttlSecondsAfterFinished=30)
    await world.run()
    status = world.status()
    assert status["jobDeploymentStatus"] == "Initializing"
    assert status["jobId"].startswith("job-") and status["rayClusterName"].startswith("job-")
    assert "ray.io/rayjob-finalizer" in world.job()["metadata"]["finalizers"]
    assert world.clusters() == [], "the cluster is named in the status before it is created"

    await world.run()
    (cluster,) = world.clusters()
    assert cluster["metadata"]["name"] == status["rayClusterName"]
    assert cluster["metadata"]["ownerReferences"][0]["uid"] == world.job()["metadata"]["uid"]
    assert cluster["metadata"]["labels"]["ray.io/originated-from-crd"] == "RayJob"
    await world.run(passes=3)
    assert len(world.clusters()) == 1 and world.submitters() == [], "not ready: nothing more"

    await world.cluster_ready("127.16.0.9")
    await world.run()
    status = world.status()
    assert status["jobDeploymentStatus"] == "Running"
    assert status["dashboardURL"] == "127.16.0.9:8265"
    (submitter,) = world.submitters()
    env = {e["name"]: e.get("value") for e in submitter["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RAY_JOB_SUBMISSION_ID"] == status["jobId"]
    assert env["RAY_DASHBOARD_ADDRESS"] == "127.16.0.9:8265"
    assert submitter["spec"]["backoffLimit"] == 2

    world.api.jobs[status["jobId"]] = JobInfo("RUNNING", start_time_ms=1_767_225_600_000)
    await world.run()
    assert world.status()["jobStatus"] == "RUNNING"
    version = world.job()["metadata"]["resourceVersion"]
    await world.run(passes=3)
    assert world.job()["metadata"]["resourceVersion"] == version, "no write while nothing changes"

    world.api.jobs[status["jobId"]] = JobInfo("SUCCEEDED", "done", 1_767_225_600_000, 1_767_225_660_000)
    await world.run()
    assert world.status()["jobDeploymentStatus"] == "Running", "the submitter is still showing the logs"
    await world.submitter_done()
    await world.run()
    status = world.status()
    assert (status["jobDeploymentStatus"], status["jobStatus"], status["succeeded"]) == (
        "Complete",
        "SUCCEEDED",
        1,
    )
    assert status["rayJobInfo"]["endTime"] == "2026-01-01T00:01:00Z" and "endTime" in status

    world.clock.advance(29)
    await world.run()
    assert not world.clusters()[0]["metadata"].get("deletionTimestamp"), "not before the TTL"
    world.clock.advance(2)
    await world.run()
    assert world.deleted(), "deleted once the TTL passed"
    assert EventReason.DELETED_RAY_CLUSTER in (await world.reasons())
    assert EventReason.CREATED_RAY_CLUSTER in (await world.reasons())
    assert EventReason.DEPLOYMENT_STATUS_CHANGED in (await world.reasons())


async def test_http_mode_submits_once_and_a_failure_is_ray_s_message(world: World) -> None:
    await to_running(world, submissionMode="HTTPMode", runtimeEnvYAML="env_vars:\n  A: b\n")
    await world.run(passes=3)
    assert world.submitters() == []
    (request,) = world.api.submitted
    assert request["entrypoint"] == "python my_script.py"
    assert request["runtime_env"] == {"env_vars": {"A": "b"}}
    job_id = world.status()["jobId"]
    world.api.jobs[job_id] = JobInfo("FAILED", "Job entrypoint command failed with exit code 1", 1, 2)
    await world.run()
    status = world.status()
    assert (status["jobDeploymentStatus"], status["reason"], status["failed"]) == ("Failed", "AppFailed", 1)
    assert status["message"] == "Job entrypoint command failed with exit code 1"
    assert len(world.api.submitted) == 1


async def test_a_failed_job_is_retried_on_a_new_cluster_up_to_the_backoff_limit(world: World) -> None:
    first = await to_running(world, submissionMode="HTTPMode", backoffLimit=1)
    world.api.jobs[first["jobId"]] = JobInfo("FAILED", "boom")
    await world.run()
    assert world.status()["jobDeploymentStatus"] == "Retrying"
    assert world.status()["failed"] == 1
    await world.run()
    assert world.deleted()
    await world.gc()
    await world.run()
    assert world.status()["jobDeploymentStatus"] == ""
    await world.run(passes=2)
    second = world.status()
    assert second["rayClusterName"] != first["rayClusterName"] and second["jobId"] != first["jobId"]
    await world.cluster_ready()
    await world.run(passes=2)
    world.api.jobs[world.status()["jobId"]] = JobInfo("FAILED", "boom again")
    await world.run()
    status = world.status()
    assert (status["jobDeploymentStatus"], status["failed"]) == ("Failed", 2), "the limit is reached"
    assert len(world.api.submitted) == 2


async def test_the_deadline_fails_the_job_without_a_retry(world: World) -> None:
    await to_running(world, activeDeadlineSeconds=60, backoffLimit=3)
    world.clock.advance(59)
    await world.run()
    assert world.status()["jobDeploymentStatus"] == "Running"
    world.clock.advance(1)
    await world.run()
    status = world.status()
    assert (status["jobDeploymentStatus"], status["reason"]) == ("Failed", "DeadlineExceeded")
    assert "activeDeadlineSeconds" in status["message"]


async def test_suspend_deletes_the_cluster_and_resume_starts_over(world: World) -> None:
    running = await to_running(world, shutdownAfterJobFinishes=True)
    await world.client.patch(RAYJOBS, "job", {"spec": {"suspend": True}}, NS)
    await world.run(passes=2)
    assert world.status()["jobDeploymentStatus"] == "Suspending"
    assert world.deleted(RAYCLUSTERS) and world.deleted(JOBS)
    await world.gc()
    await world.run()
    status = world.status()
    assert status["jobDeploymentStatus"] == "Suspended" and "rayClusterName" not in status
    await world.run(passes=2)
    assert world.clusters() == [] and world.submitters() == []

    await world.client.patch(RAYJOBS, "job", {"spec": {"suspend": False}}, NS)
    await world.run(passes=3)
    status = world.status()
    assert status["jobDeploymentStatus"] == "Initializing"
    assert status["rayClusterName"] != running["rayClusterName"]
    assert len(world.clusters()) == 1


async def test_an_existing_cluster_is_used_and_never_deleted(world: World) -> None:
    await create_job(
        world, rayClusterSpec=None, clusterSelector={"ray.io/cluster": "shared"}, submissionMode="HTTPMode"
    )
    await world.run(passes=2)
    assert world.status()["rayClusterName"] == "shared"
    assert EventReason.RAY_CLUSTER_NOT_FOUND in (await world.reasons())
    assert world.clusters() == []
    cluster = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "shared", "namespace": NS},
    }
    await world.client.create(RAYCLUSTERS, {**cluster, "spec": CLUSTER_SPEC})
    await world.cluster_ready()
    await world.run(passes=2)
    world.api.jobs[world.status()["jobId"]] = JobInfo("SUCCEEDED", "ok", 1, 2)
    await world.run(passes=3)
    assert world.status()["jobDeploymentStatus"] == "Complete"
    assert not world.clusters()[0]["metadata"].get("deletionTimestamp")


async def test_a_job_the_api_server_took_but_ray_cannot_run_fails_validation(world: World) -> None:
    await create_job(world, runtimeEnvYAML="[not, a, mapping]")
    await world.run(passes=2)
    status = world.status()
    assert (status["jobDeploymentStatus"], status["reason"]) == ("ValidationFailed", "ValidationFailed")
    assert "spec.runtimeEnvYAML" in status["message"]
    assert world.clusters() == []
    assert (await world.reasons()).count(EventReason.INVALID_SPEC) == 1, "reported once, not every pass"


async def test_a_dead_dashboard_is_reported_and_changes_nothing(world: World) -> None:
    await to_running(world)
    world.api.down = True
    version = world.job()["metadata"]["resourceVersion"]
    delays = []
    for _ in range(6):
        await world.settle()
        result = await world.reconciler.reconcile(Request(name="job", namespace=NS))
        delays.append(result.requeue_after)
    assert world.job()["metadata"]["resourceVersion"] == version
    assert delays == [3.0, 6.0, 12.0, 24.0, 48.0, 60.0], "asked less and less often"
    assert (await world.reasons()).count(EventReason.DASHBOARD_UNREACHABLE) == 1, "reported once"
    world.api.down = False
    await world.run()
    assert world.status()["jobStatus"] == "RUNNING"


async def test_a_failed_submitter_fails_the_job(world: World) -> None:
    await create_job(world)
    await world.run(passes=2)
    await world.cluster_ready()
    await world.run()
    await world.submitter_done("Failed")
    await world.run()
    status = world.status()
    assert (status["jobDeploymentStatus"], status["reason"]) == ("Failed", "SubmissionFailed")
    assert "BackoffLimitExceeded" in status["message"]


async def test_deletion_rules_run_in_order_after_their_ttls(world: World) -> None:
    rules = [
        {"policy": "DeleteWorkers", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 10}},
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 20}},
    ]
    running = await to_running(world, submissionMode="HTTPMode", deletionStrategy={"deletionRules": rules})
    world.api.jobs[running["jobId"]] = JobInfo("SUCCEEDED", "ok", 1, 2)
    await world.run()
    assert world.status()["jobDeploymentStatus"] == "Complete"
    world.clock.advance(10)
    await world.run()
    (cluster,) = world.clusters()
    assert [g.get("suspend") for g in cluster["spec"]["workerGroupSpecs"]] == [True]
    assert not cluster["metadata"].get("deletionTimestamp")
    world.clock.advance(10)
    await world.run()
    assert world.deleted()


async def test_deleting_a_running_job_stops_its_ray_job_first(world: World) -> None:
    running = await to_running(world)
    await world.client.delete(RAYJOBS, "job", NS)
    await world.run()
    assert world.api.stopped == [running["jobId"]]
    assert world.client.objects(RAYJOBS) == [], "the finalizer is gone, and the RayJob with it"


async def test_a_stale_read_cannot_name_a_second_cluster(world: World) -> None:
    # With the finalizer there already, the first pass's only write is the status that names the cluster.
    await create_job(world, finalizers=["ray.io/rayjob-finalizer"])
    stale = world.job()
    await world.run()
    named = world.status()["rayClusterName"]
    # A pass computed from the object as it was before the first write: refused by its resourceVersion.
    world.cache.get = lambda *a, **k: stale  # type: ignore[method-assign]
    world.reconciler._written.clear()
    await world.reconciler.reconcile(Request(name="job", namespace=NS))
    del world.cache.get
    await world.settle()
    assert world.status()["rayClusterName"] == named


async def test_an_unreachable_dashboard_is_asked_to_stop_again_then_let_go(world: World) -> None:
    await to_running(world)
    world.api.down = True
    world.clock.now = datetime.now(UTC)
    await world.client.delete(RAYJOBS, "job", NS)
    await world.run()
    assert world.client.objects(RAYJOBS), "the finalizer holds while the dashboard may come back"
    assert EventReason.FAILED_TO_STOP_RAY_JOB in await world.reasons()
    world.clock.advance(31)
    await world.run()
    assert world.client.objects(RAYJOBS) == [], "a dashboard that stays down holds the deletion no longer"
