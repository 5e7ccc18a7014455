"""GCS fault tolerance with real Ray and a real Redis (the sample's Redis Deployment, run by the process
kubelet): the head's Ray dies and comes back, and a detached actor and a running job are still there, the
worker never restarted; the head pod is deleted and replaced, and the actor is still there; without fault
tolerance the same actor is lost. Deleting the cluster really removes its keys from Redis."""

from __future__ import annotations

import base64
import shlex
from typing import Any

from kuberay_py.testing import podaccess
from tests.integration.realray.cluster import RayStack, is_head, ray_container, ready, sample

Obj = dict[str, Any]
CLUSTER = "raycluster-gcs-ft"
DASHBOARD = "http://127.0.0.1:8265"

# Drivers run in the head pod; the actor needs half a CPU, so it lives on the worker (the head has none).
CREATE_ACTOR = """
import ray
ray.init(namespace="ft", logging_level="ERROR", log_to_driver=False)

@ray.remote(num_cpus=0.5)
class Counter:
    def __init__(self):
        self.n = 0

    def add(self):
        self.n += 1
        return self.n

counter = Counter.options(name="counter", lifetime="detached").remote()
print("COUNT=" + str(ray.get(counter.add.remote())))
"""
USE_ACTOR = """
import ray
ray.init(namespace="ft", logging_level="ERROR", log_to_driver=False)
try:
    counter = ray.get_actor("counter")
except ValueError:
    print("COUNT=lost")
else:
    print("COUNT=" + str(ray.get(counter.add.remote(), timeout=120)))
"""
# The job runs on the worker until the test releases it by creating a file in the worker pod.
JOB = (
    "import os, time; [time.sleep(1) for _ in iter(lambda: os.path.exists('/tmp/release'), True)]; "
    "print('job done')"
)


def without_fault_tolerance() -> list[Obj]:
    cluster = next(o for o in sample("ray-cluster.gcs-ft.yaml") if o["kind"] == "RayCluster")
    del cluster["spec"]["gcsFaultToleranceOptions"]
    return [cluster]


def count_of(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("COUNT=")).removeprefix("COUNT=")


async def exec_in(namespace: str, pod: Obj, argv: list[str], container: str | None = None) -> str:
    key = f"{namespace}/{pod['metadata']['name']}"
    name = container or ray_container(pod)["name"]
    result = await podaccess.exec_in(key, name, argv, timeout=180)
    assert result.returncode == 0, f"{shlex.join(argv)} in {key} exited {result.returncode}:\n{result.output}"
    return result.output


def restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount", 0)) for s in statuses)


async def kill_the_heads_ray_and_wait_for_it(stack: RayStack, namespace: str) -> tuple[Obj, Obj]:
    """Kill the head's GCS: `ray start --block` exits, the kubelet restarts the container in the same pod.
    Returns the head before and after."""
    head = await stack.head(namespace, CLUSTER)
    await stack.kill_in(namespace, head, "gcs_server")

    async def restarted() -> Obj | None:
        pods = await stack.pods(namespace, CLUSTER)
        heads = [p for p in pods if is_head(p)]
        back = len(heads) == 1 and restarts(heads[0]) > restarts(head) and all(ready(p) for p in pods)
        return heads[0] if back else None

    after: Obj = await stack.wait(restarted, "the head's Ray to come back", 240, namespace, CLUSTER)
    return head, after


async def redis_keys(stack: RayStack, namespace: str, prefix: str) -> list[str]:
    redis = (await stack.get("pods", "-n", namespace, "-l", "app=redis"))["items"][0]
    secret = await stack.get("secret", "-n", namespace, "redis-password-secret")
    password = base64.b64decode(secret["data"]["password"]).decode()
    argv = ["redis-cli", "-a", password, "--no-auth-warning", "--scan", "--pattern", f"RAY{prefix}@*"]
    return (await exec_in(namespace, redis, argv, container="redis")).split()


async def test_a_head_restart_keeps_actors_jobs_and_workers_and_deletion_cleans_redis(
    stack: RayStack,
) -> None:
    namespace = stack.namespace()
    await stack.apply(namespace, sample("ray-cluster.gcs-ft.yaml"))
    pods = await stack.wait_ready(namespace, CLUSTER, 2)
    worker = next(p for p in pods if not is_head(p))
    cluster = await stack.cluster(namespace, CLUSTER)
    uid = cluster["metadata"]["uid"]

    assert count_of(await stack.in_head(namespace, CLUSTER, ["python", "-c", CREATE_ACTOR])) == "1"
    submit = ["ray", "job", "submit", "--address", DASHBOARD, "--submission-id", "ft-job"]
    submit += ["--entrypoint-num-cpus", "0.5", "--no-wait", "--", "python", "-c", JOB]
    await stack.in_head(namespace, CLUSTER, submit)
    status = ["ray", "job", "status", "--address", DASHBOARD, "ft-job"]

    seen: list[str] = []

    async def job_is(state: str) -> bool:
        # `ray job status` prints "Status for job 'ft-job': RUNNING", then "Job 'ft-job' succeeded".
        seen.append(await stack.in_head(namespace, CLUSTER, status))
        return state.lower() in seen[-1].lower()

    await stack.wait(
        lambda: job_is("Status for job 'ft-job': RUNNING"), "the job to run", 120, namespace, CLUSTER
    )
    assert await redis_keys(stack, namespace, uid), "the head keeps no state in Redis"

    before, after = await kill_the_heads_ray_and_wait_for_it(stack, namespace)
    assert after["metadata"]["uid"] == before["metadata"]["uid"]

    # The same actor, with its state, and the same job, still running on the worker that never restarted.
    assert count_of(await stack.in_head(namespace, CLUSTER, ["python", "-c", USE_ACTOR])) == "2"
    assert await job_is("Status for job 'ft-job': RUNNING")
    now = {p["metadata"]["name"]: p for p in await stack.pods(namespace, CLUSTER)}
    assert now[worker["metadata"]["name"]]["metadata"]["uid"] == worker["metadata"]["uid"]
    assert restarts(now[worker["metadata"]["name"]]) == 0
    alive = {n["ip"] for n in await stack.ray_nodes(namespace, CLUSTER) if n["alive"]}
    assert worker["status"]["podIP"] in alive

    await exec_in(namespace, worker, ["touch", "/tmp/release"])
    try:
        await stack.wait(
            lambda: job_is("Job 'ft-job' succeeded"), "the job to succeed", 120, namespace, CLUSTER
        )
    except AssertionError as error:
        logs = await stack.in_head(
            namespace, CLUSTER, ["ray", "job", "logs", "--address", DASHBOARD, "ft-job"]
        )
        raise AssertionError(f"last status: {seen[-1]}\njob logs: {logs}") from error
    logs = await stack.in_head(namespace, CLUSTER, ["ray", "job", "logs", "--address", DASHBOARD, "ft-job"])
    assert "job done" in logs

    # A new head pod, at a new address: the worker finds it through the head Service's name and keeps its
    # actor, which the new head knows from Redis.
    await stack.kubectl("delete", "pod", after["metadata"]["name"], "-n", namespace, "--wait=false")

    async def replaced() -> bool:
        pods = await stack.pods(namespace, CLUSTER)
        heads = [p for p in pods if is_head(p)]
        new = [p for p in heads if p["metadata"]["uid"] != after["metadata"]["uid"]]
        return len(pods) == 2 and len(new) == 1 and all(ready(p) for p in pods)

    await stack.wait(replaced, "a new head pod", 240, namespace, CLUSTER)
    assert count_of(await stack.in_head(namespace, CLUSTER, ["python", "-c", USE_ACTOR])) == "3"
    now = {p["metadata"]["name"]: p for p in await stack.pods(namespace, CLUSTER)}
    assert now[worker["metadata"]["name"]]["metadata"]["uid"] == worker["metadata"]["uid"]
    assert restarts(now[worker["metadata"]["name"]]) == 0

    # Deleting the cluster runs the cleanup Job, which removes exactly this cluster's keys.
    await stack.kubectl("delete", "raycluster", CLUSTER, "-n", namespace, "--wait=false")

    async def deleted() -> bool:
        listing = await stack.get("rayclusters", "-n", namespace)
        return not listing["items"]

    await stack.wait(deleted, "the RayCluster to be deleted", 240, namespace, CLUSTER)
    events = await stack.get("events", "-n", namespace, "--field-selector", f"involvedObject.name={CLUSTER}")
    reasons = {e["reason"] for e in events["items"]}
    assert "RedisCleanupCompleted" in reasons, reasons
    assert await redis_keys(stack, namespace, uid) == []


async def test_without_fault_tolerance_a_head_restart_loses_the_actor(stack: RayStack) -> None:
    namespace = stack.namespace()
    await stack.apply(namespace, without_fault_tolerance())
    await stack.wait_ready(namespace, CLUSTER, 2)
    assert count_of(await stack.in_head(namespace, CLUSTER, ["python", "-c", CREATE_ACTOR])) == "1"
    await kill_the_heads_ray_and_wait_for_it(stack, namespace)
    assert count_of(await stack.in_head(namespace, CLUSTER, ["python", "-c", USE_ACTOR])) == "lost"
