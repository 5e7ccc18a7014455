"""RayJobs with real Ray under the process kubelet: the sample's program runs to SUCCEEDED through a real
submitter pod and its output is in that pod's log, the cluster goes after the TTL; a failing entrypoint ends
Failed with Ray's own message; activeDeadlineSeconds stops a job that would run for ten minutes; a job that
needs more workers than its replicas gets them from the real autoscaler."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.integration.realray.cluster import Obj, RayStack, sample
from tests.rayjob_outcomes import APP_FAILED, outcome

HEAD_ONLY: Obj = {
    "rayVersion": "2.60.0",
    "headGroupSpec": {
        "rayStartParams": {"num-cpus": "1"},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "ray-head",
                        "image": "rayproject/ray:2.60.0",
                        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                    }
                ]
            }
        },
    },
}


def head_only_job(name: str, entrypoint: str, **spec: Any) -> Obj:
    body = {"entrypoint": entrypoint, "rayClusterSpec": copy.deepcopy(HEAD_ONLY), **spec}
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": name}, "spec": body}


async def job(stack: RayStack, namespace: str, name: str) -> Obj:
    found: Obj = await stack.get("rayjob", "-n", namespace, name)
    return found


async def wait_job(stack: RayStack, namespace: str, name: str, *states: str, timeout: float = 240) -> Obj:
    async def reached() -> Obj | None:
        found = await job(stack, namespace, name)
        return found if (found.get("status") or {}).get("jobDeploymentStatus") in states else None

    cluster = (await job(stack, namespace, name)).get("status", {}).get("rayClusterName", "")
    done: Obj = await stack.wait(reached, f"RayJob {name} in {states}", timeout, namespace, cluster)
    return done


async def test_the_sample_job_runs_to_completion_and_its_cluster_goes(stack: RayStack) -> None:
    namespace = stack.namespace()
    objects = sample("ray-job.sample.yaml")
    rayjob = next(o for o in objects if o["kind"] == "RayJob")
    rayjob["spec"]["ttlSecondsAfterFinished"] = 5
    await stack.apply(namespace, objects)

    done = await wait_job(stack, namespace, "rayjob-sample", "Complete", "Failed", timeout=300)
    status = done["status"]
    assert (status["jobDeploymentStatus"], status["jobStatus"]) == ("Complete", "SUCCEEDED"), status
    assert status["rayJobInfo"]["startTime"] <= status["rayJobInfo"]["endTime"]
    assert status["dashboardURL"].endswith(":8265")

    pods = await stack.get("pods", "-n", namespace, "-l", "batch.kubernetes.io/job-name=rayjob-sample")
    (submitter,) = pods["items"]
    log = stack.logs(namespace, submitter["metadata"]["name"], "ray-job-submitter")
    assert "word count: 60 lines, 220 words" in log, log[-3000:]

    cluster = status["rayClusterName"]

    async def cluster_gone() -> bool:
        listing = await stack.get("rayclusters", "-n", namespace)
        return not any(c["metadata"]["name"] == cluster for c in listing["items"])

    await stack.wait(cluster_gone, "the job's cluster deleted after the TTL", 90, namespace, cluster)
    assert (await job(stack, namespace, "rayjob-sample"))["status"]["jobDeploymentStatus"] == "Complete"


async def test_a_failing_entrypoint_and_a_job_past_its_deadline(stack: RayStack) -> None:
    namespace = stack.namespace()
    failing = head_only_job(
        "fails",
        "python -c \"import sys; print('giving up now'); sys.exit(3)\"",
        submissionMode="HTTPMode",
    )
    endless = head_only_job("endless", 'python -c "import time; time.sleep(600)"', activeDeadlineSeconds=45)
    await stack.apply(namespace, [failing, endless])

    failed = await wait_job(stack, namespace, "fails", "Complete", "Failed")
    status = failed["status"]
    assert outcome(status) == APP_FAILED, status
    assert "exit code 3" in status["message"] and "giving up now" in status["message"], status["message"]

    stopped = await wait_job(stack, namespace, "endless", "Failed", timeout=180)
    assert stopped["status"]["reason"] == "DeadlineExceeded", stopped["status"]
    assert json.dumps(stopped["status"]).count("activeDeadlineSeconds") == 1


async def test_a_job_that_needs_more_workers_gets_them_from_the_autoscaler(stack: RayStack) -> None:
    namespace = stack.namespace()
    cluster = next(o for o in sample("ray-cluster.autoscaler.yaml") if o["kind"] == "RayCluster")
    spec = copy.deepcopy(cluster["spec"])
    spec["autoscalerOptions"]["idleTimeoutSeconds"] = 30
    (group,) = spec["workerGroupSpecs"][:1]
    spec["workerGroupSpecs"] = [{**group, "replicas": 0, "minReplicas": 0, "maxReplicas": 2}]
    group_name = group["groupName"]
    # Two tasks of one CPU each, held until both run: the head has no CPUs, so only two workers serve them.
    program = (
        "import ray, time; ray.init(); "
        "s = ray.remote(num_cpus=1)(lambda: (time.sleep(20), ray.get_runtime_context().get_node_id())[1]); "
        "print('nodes used:', len(set(ray.get([s.remote(), s.remote()]))))"
    )
    rayjob = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "grows"},
        "spec": {
            "entrypoint": f'python -c "{program}"',
            "submissionMode": "HTTPMode",
            "rayClusterSpec": spec,
        },
    }
    await stack.apply(namespace, [rayjob])
    running = await wait_job(stack, namespace, "grows", "Running")
    name = running["status"]["rayClusterName"]

    async def two_workers() -> bool:
        pods = await stack.pods(namespace, name)
        return sum(p["metadata"]["labels"].get("ray.io/group") == group_name for p in pods) == 2

    await stack.wait(two_workers, "two workers added by the autoscaler", 240, namespace, name)
    replicas = (await stack.cluster(namespace, name))["spec"]["workerGroupSpecs"][0]["replicas"]
    assert replicas == 2, "the autoscaler asked for them by patching the RayCluster"
    done = await wait_job(stack, namespace, "grows", "Complete", "Failed", timeout=240)
    assert done["status"]["jobStatus"] == "SUCCEEDED", done["status"]
