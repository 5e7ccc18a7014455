"""RayJobs on the real control plane with the simulated kubelet and a stand-in for Ray's job server on the
head pods' loopback addresses: the objects made and deleted, the status, the Events, one submission per
job, and a slow dashboard that holds up no other job."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from kuberay_py.testing.binaries import ensure_kuberay
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.jobserver import JobServer
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.controllers.objects import create, env_of, get_json, kubectl, manifest
from tests.rayjob_outcomes import APP_FAILED, outcome
from tests.waiting import eventually


@pytest.fixture(scope="module")
def job_operator(
    control_plane: ControlPlane, crd: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator reaching dashboards at the head pods' IPs (loopback ones under the simulated kubelet)."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(control_plane.kubeconfig, log, extra_args=["--ray-dashboard-address=pod-ip"])
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"operator exited with {code}:\n{process.log_tail()}"


@pytest.fixture
async def server(control_plane: ControlPlane, job_operator: OperatorProcess) -> AsyncIterator[JobServer]:
    async with JobServer(control_plane.kubeconfig) as running:
        yield running


def rayjob(name: str, entrypoint: str = "echo hello; exit 0", **spec: Any) -> dict[str, Any]:
    cluster = manifest(name, {"groupName": "small", "replicas": 1})["spec"]
    body: dict[str, Any] = {"entrypoint": entrypoint, "rayClusterSpec": {"rayVersion": "2.60.0", **cluster}}
    body.update(spec)
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name}, "spec": body}


async def job_of(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = await get_json(plane, "rayjob", name, "-n", namespace)
    return found


async def wait_deployment(
    plane: ControlPlane, namespace: str, name: str, *states: str, timeout: float = 90
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        job = await job_of(plane, namespace, name)
        return job if (job.get("status") or {}).get("jobDeploymentStatus") in states else None

    found: dict[str, Any] = await eventually(reached, timeout=timeout, what=f"RayJob {name} in {states}")
    return found


async def job_events(plane: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"involvedObject.kind=RayJob,involvedObject.name={name}"
    events: list[dict[str, Any]] = (
        await get_json(plane, "events", "-n", namespace, "--field-selector", selector)
    )["items"]
    return events


async def reasons(plane: ControlPlane, namespace: str, name: str) -> list[str]:
    return [e["reason"] for e in await job_events(plane, namespace, name)]


async def reported(plane: ControlPlane, namespace: str, name: str, reason: str) -> bool:
    """Whether the RayJob has an Event with this reason."""
    return reason in await reasons(plane, namespace, name)


async def names(plane: ControlPlane, kind: str, namespace: str) -> list[str]:
    return [o["metadata"]["name"] for o in (await get_json(plane, kind, "-n", namespace))["items"]]


async def test_a_submitted_job_completes_and_its_cluster_goes_after_the_ttl(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    job = rayjob(
        "count",
        "echo counting; sleep 1; exit 0",
        shutdownAfterJobFinishes=True,
        ttlSecondsAfterFinished=3,
        runtimeEnvYAML="env_vars:\n  MODE: test\n",
    )
    await create(control_plane, namespace, job)
    running = await wait_deployment(control_plane, namespace, "count", "Running")
    cluster_name = running["status"]["rayClusterName"]
    submission_id = running["status"]["jobId"]
    cluster = await get_json(control_plane, "raycluster", cluster_name, "-n", namespace)
    assert cluster["metadata"]["ownerReferences"][0]["uid"] == running["metadata"]["uid"]
    submitter = await get_json(control_plane, "job.batch", "count", "-n", namespace)
    env = env_of(submitter["spec"]["template"]["spec"]["containers"][0])
    assert env["RAY_JOB_SUBMISSION_ID"] == submission_id
    assert env["RAY_DASHBOARD_ADDRESS"] == running["status"]["dashboardURL"]

    done = await wait_deployment(control_plane, namespace, "count", "Complete", "Failed")
    status = done["status"]
    assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Complete", "SUCCEEDED"), status
    assert (status["succeeded"], status["failed"]) == (1, 0)
    assert status["endTime"] and status["rayJobInfo"]["endTime"]
    assert server.submissions(submission_id) == 1 and server.refused(submission_id) == 0
    record = server.jobs()[0]
    assert "counting" in record.logs and record.runtime_env.get("env_vars") == {"MODE": "test"}

    table = (await kubectl(control_plane, "get", "rayjob", "count", "-n", namespace)).stdout
    assert table.split("\n")[0].split()[:4] == ["NAME", "JOB", "STATUS", "DEPLOYMENT"]
    assert "SUCCEEDED" in table and "Complete" in table and cluster_name in table

    async def cluster_gone() -> bool:
        return cluster_name not in await names(control_plane, "rayclusters", namespace)

    await eventually(cluster_gone, timeout=30, what="the job's cluster deleted after the TTL")
    seen = await reasons(control_plane, namespace, "count")
    for reason in (
        "CreatedRayCluster",
        "CreatedRayJobSubmitter",
        "DeletedRayCluster",
        "JobDeploymentStatusChanged",
    ):
        assert reason in seen, seen


async def test_http_mode_reports_ray_s_failure_and_stops_polling(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    await create(
        control_plane, namespace, rayjob("fails", "echo about to fail; exit 3", submissionMode="HTTPMode")
    )
    done = await wait_deployment(control_plane, namespace, "fails", "Complete", "Failed")
    status = done["status"]
    assert outcome(status) == APP_FAILED
    assert status["message"].startswith("Job entrypoint command failed with exit code 3")
    assert (
        "job.batch/fails"
        not in (await kubectl(control_plane, "get", "jobs", "-n", namespace, "-o", "name")).stdout
    )
    assert server.submissions(status["jobId"]) == 1
    ip = status["dashboardURL"].split(":")[0]
    before = server.requests(ip)
    await asyncio.sleep(7)
    assert server.requests(ip) == before, "a finished job's dashboard is not asked again"
    assert status["rayClusterName"] in await names(control_plane, "rayclusters", namespace), (
        "kept: no shutdown"
    )


async def test_a_failed_job_is_retried_on_a_new_cluster(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    await create(
        control_plane, namespace, rayjob("retry", "exit 1", submissionMode="HTTPMode", backoffLimit=1)
    )
    first = await wait_deployment(control_plane, namespace, "retry", "Running")
    first_cluster = first["status"]["rayClusterName"]

    async def failed_twice() -> dict[str, Any] | None:
        job = await job_of(control_plane, namespace, "retry")
        status = job.get("status") or {}
        return job if status.get("failed") == 2 and status.get("jobDeploymentStatus") == "Failed" else None

    # Two clusters up and one torn down in between: on a loaded machine that is minutes.
    done = await eventually(failed_twice, timeout=300, what="the job failed twice")
    assert done["status"]["rayClusterName"] != first_cluster
    clusters = await names(control_plane, "rayclusters", namespace)
    assert first_cluster not in clusters and clusters == [done["status"]["rayClusterName"]]
    # Counted from the Events: the first head, and the stand-in's record of its job, may be gone by now.
    assert (await reasons(control_plane, namespace, "retry")).count("SubmittedRayJob") == 2


async def test_the_deadline_ends_a_job_that_hangs(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    await create(control_plane, namespace, rayjob("slow", "hang", activeDeadlineSeconds=20, backoffLimit=2))
    # The deadline counts from the job's start, cluster start-up included: a slow machine may meet it before
    # Running, and the outcome must be the same either way.
    await wait_deployment(control_plane, namespace, "slow", "Running", "Failed")
    done = await wait_deployment(control_plane, namespace, "slow", "Failed", timeout=60)
    status = done["status"]
    assert status["reason"] == "DeadlineExceeded" and status["failed"] == 1, status
    started = datetime.fromisoformat(status["startTime"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(status["endTime"].replace("Z", "+00:00"))
    assert timedelta(seconds=20) <= ended - started < timedelta(seconds=40), status


async def suspend(plane: ControlPlane, namespace: str, name: str, value: bool) -> None:
    patch = json.dumps({"spec": {"suspend": value}})
    await kubectl(plane, "patch", "rayjob", name, "-n", namespace, "--type=merge", "-p", patch)


async def test_suspend_releases_everything_and_resume_starts_over(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    await create(control_plane, namespace, rayjob("pause", "hang", shutdownAfterJobFinishes=True))
    running = await wait_deployment(control_plane, namespace, "pause", "Running")
    await suspend(control_plane, namespace, "pause", True)
    suspended = await wait_deployment(control_plane, namespace, "pause", "Suspended")
    assert "rayClusterName" not in suspended["status"]
    assert await names(control_plane, "rayclusters", namespace) == []
    assert await names(control_plane, "jobs.batch", namespace) == []

    await suspend(control_plane, namespace, "pause", False)
    resumed = await wait_deployment(control_plane, namespace, "pause", "Running")
    assert resumed["status"]["rayClusterName"] != running["status"]["rayClusterName"]
    notes = [e.get("message", "") for e in await job_events(control_plane, namespace, "pause")]
    assert "Suspending" in " ".join(notes)


async def test_a_job_on_an_existing_cluster_leaves_it_alone(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    await create(control_plane, namespace, manifest("shared", {"groupName": "small", "replicas": 1}))
    job = rayjob("guest", "exit 0", submissionMode="HTTPMode", clusterSelector={"ray.io/cluster": "shared"})
    del job["spec"]["rayClusterSpec"]
    await create(control_plane, namespace, job)
    done = await wait_deployment(control_plane, namespace, "guest", "Complete", "Failed")
    assert done["status"]["jobDeploymentStatus"] == "Complete"
    assert done["status"]["rayClusterName"] == "shared"
    await kubectl(control_plane, "delete", "rayjob", "guest", "-n", namespace)
    assert await names(control_plane, "rayclusters", namespace) == ["shared"]


async def test_a_slow_dashboard_holds_up_no_other_job(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    await create(control_plane, namespace, rayjob("stuck", "hang", submissionMode="HTTPMode"))
    stuck = await wait_deployment(control_plane, namespace, "stuck", "Running")

    await eventually(server.jobs, what="the stuck job submitted")
    server.set_delay(stuck["status"]["dashboardURL"].split(":")[0], 600)
    await create(control_plane, namespace, rayjob("quick", "exit 0", submissionMode="HTTPMode"))
    done = await wait_deployment(control_plane, namespace, "quick", "Complete", "Failed", timeout=60)
    assert done["status"]["jobDeploymentStatus"] == "Complete"

    await eventually(
        lambda: reported(control_plane, namespace, "stuck", "RayDashboardUnreachable"),
        timeout=30,
        what="the slow dashboard reported",
    )
    stuck_now = await job_of(control_plane, namespace, "stuck")
    assert stuck_now["status"]["jobDeploymentStatus"] == "Running"


async def test_deleting_a_running_job_stops_it_in_ray(
    control_plane: ControlPlane, namespace: str, server: JobServer
) -> None:
    await create(control_plane, namespace, rayjob("doomed", "hang", submissionMode="HTTPMode"))
    running = await wait_deployment(control_plane, namespace, "doomed", "Running")

    head_ip, job_id = running["status"]["dashboardURL"].split(":")[0], running["status"]["jobId"]

    def started() -> bool:
        record = server.job(head_ip, job_id)
        return record is not None and record.status == "RUNNING"

    await eventually(started, what="the Ray job running")
    # Kept here: the head, and Ray's record with it, go with the cluster.
    record = server.job(head_ip, job_id)
    assert record is not None
    await kubectl(control_plane, "delete", "rayjob", "doomed", "-n", namespace, "--timeout=60s")
    assert record.stop_requested, record

    await eventually(
        lambda: reported(control_plane, namespace, "doomed", "StoppedRayJob"),
        timeout=30,
        what="the stop reported",
    )


async def test_admission_refuses_what_kuberay_would_fail_later(
    control_plane: ControlPlane, namespace: str
) -> None:
    job = rayjob("bad", suspend=True)
    out = await kubectl(
        control_plane, "create", "-n", namespace, "-f", "-", input=json.dumps(job), check=False
    )
    assert out.returncode != 0 and "suspend needs shutdownAfterJobFinishes: true" in out.stderr, out.stderr
    job = rayjob("nocluster")
    del job["spec"]["rayClusterSpec"]
    out = await kubectl(
        control_plane, "create", "-n", namespace, "-f", "-", input=json.dumps(job), check=False
    )
    assert "one of rayClusterSpec and clusterSelector must be set" in out.stderr, out.stderr


async def test_kuberay_s_rayjob_samples_are_accepted(control_plane: ControlPlane, namespace: str) -> None:
    accepted = 0
    samples = (await asyncio.to_thread(ensure_kuberay)).samples_dir
    for path in sorted(samples.glob("ray-job.*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "RayJob":
                continue
            doc["metadata"].pop("generateName", None)
            doc["metadata"]["name"] = doc["metadata"].get("name") or "generated"
            out = await kubectl(
                control_plane,
                "create",
                "--dry-run=server",
                "-n",
                namespace,
                "-f",
                "-",
                input=json.dumps(doc),
                check=False,
            )
            assert out.returncode == 0, f"{path.name}: {out.stderr}"
            accepted += 1
    assert accepted >= 17
