"""Real Ray under the operator: the process kubelet runs every pod the operator creates as real processes.

Each test keeps at most six Ray nodes alive, and deletes its clusters (waiting for the pods to go) after it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kuberay_py.testing.podaccess import PortForward
from tests.integration.realray.cluster import RayStack, is_head, ray_container, ready, sample, start_flags

Obj = dict[str, Any]
RAY = str(Path(sys.executable).parent / "ray")
CLUSTER = "raycluster-heterogeneous"


def heterogeneous(**changes: Any) -> list[Obj]:
    """The sample, with the medium group advertising a GPU and a custom resource, so every kind of resource
    the builders derive is checked."""
    objects = sample("ray-cluster.heterogeneous.yaml")
    cluster = next(o for o in objects if o["kind"] == "RayCluster")
    medium = cluster["spec"]["workerGroupSpecs"][1]
    medium["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "1"
    medium["resources"] = {"accelerator_slot": "2"}
    for key, value in changes.items():
        cluster["spec"][key] = value
    return objects


def expected_resources(pod: Obj) -> dict[str, float]:
    flags = start_flags(pod)
    expected = {"CPU": float(flags["num-cpus"]), "memory": float(flags["memory"])}
    if "num-gpus" in flags:
        expected["GPU"] = float(flags["num-gpus"])
    expected.update({k: float(v) for k, v in json.loads(flags.get("resources", "{}")).items()})
    return expected


async def test_heterogeneous_sample_runs_real_ray_and_takes_jobs(stack: RayStack) -> None:
    namespace = stack.namespace()
    await stack.apply(namespace, heterogeneous())
    pods = await stack.wait_ready(namespace, CLUSTER, 5)

    # Ray sees the head and every worker, each with exactly the resources its `ray start` was given.
    nodes = [n for n in await stack.ray_nodes(namespace, CLUSTER) if n["alive"]]
    assert len(nodes) == 5, nodes
    by_ip = {n["ip"]: n["resources"] for n in nodes}
    for pod in pods:
        advertised = by_ip[pod["status"]["podIP"]]
        for name, amount in expected_resources(pod).items():
            assert advertised.get(name) == amount, (pod["metadata"]["name"], name, advertised)
    assert sum(1 for n in nodes if n["resources"].get("GPU")) == 1

    # The status the operator reports is what the pods are.
    cluster = await stack.cluster(namespace, CLUSTER)
    assert cluster["status"]["readyWorkerReplicas"] == 4
    assert cluster["status"]["state"] == "ready"

    # A job submitted from the host, through the dashboard port, runs on the cluster and its logs come back.
    head = await stack.head(namespace, CLUSTER)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    async with PortForward(f"{namespace}/{head['metadata']['name']}", 8265) as dashboard:
        address = f"http://127.0.0.1:{dashboard.local_port}"
        submitted = await asyncio.to_thread(
            subprocess.run,
            [RAY, "job", "submit", "--address", address, "--submission-id", "spread", "--",
             "python", "/opt/spread.py"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "5 nodes ran tasks" in submitted.stdout, submitted.stdout
        assert "succeeded" in submitted.stdout
        logs = await asyncio.to_thread(
            subprocess.run, [RAY, "job", "logs", "--address", address, "spread"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert logs.returncode == 0 and "5 nodes ran tasks" in logs.stdout, logs.stdout + logs.stderr


def never_restarted(objects: list[Obj]) -> list[Obj]:
    """Every pod `restartPolicy: Never`, so a dead Ray process means a replaced pod; workers give up on a
    lost head after 15 s instead of Ray's 60."""
    objects = copy.deepcopy(objects)
    cluster = next(o for o in objects if o["kind"] == "RayCluster")
    cluster["spec"]["headGroupSpec"]["template"]["spec"]["restartPolicy"] = "Never"
    small, medium = cluster["spec"]["workerGroupSpecs"]
    small["replicas"], medium["replicas"], medium["minReplicas"] = 2, 0, 0
    for group in (small, medium):
        spec = group["template"]["spec"]
        spec["restartPolicy"] = "Never"
        spec["containers"][0].setdefault("env", []).append(
            {"name": "RAY_gcs_rpc_server_reconnect_timeout_s", "value": "15"}
        )
    return objects


async def test_a_dead_ray_process_replaces_its_pod_and_the_cluster_heals(stack: RayStack) -> None:
    namespace = stack.namespace()
    await stack.apply(namespace, never_restarted(heterogeneous()))
    pods = await stack.wait_ready(namespace, CLUSTER, 3)
    workers = [p for p in pods if not is_head(p)]
    victim, bystander = workers[0], workers[1]

    # A worker's raylet is killed: `ray start --block` exits, and exactly that pod is replaced.
    await stack.kill_in(namespace, victim, "raylet")

    async def replaced_worker() -> bool:
        now = await stack.pods(namespace, CLUSTER)
        names = {p["metadata"]["name"] for p in now}
        return victim["metadata"]["name"] not in names and len(now) == 3 and all(ready(p) for p in now)

    await stack.wait(replaced_worker, "the killed worker replaced", 120, namespace, CLUSTER)
    now = {p["metadata"]["name"]: p for p in await stack.pods(namespace, CLUSTER)}
    assert now[bystander["metadata"]["name"]]["metadata"]["uid"] == bystander["metadata"]["uid"]

    # Ray marks the killed node dead once its health checks fail (some seconds after the pod went).
    async def victim_dead() -> bool:
        nodes = await stack.ray_nodes(namespace, CLUSTER)
        dead = {n["ip"] for n in nodes if not n["alive"]}
        return victim["status"]["podIP"] in dead and sum(1 for n in nodes if n["alive"]) == 3

    await stack.wait(victim_dead, "Ray to count the killed worker dead", 90, namespace, CLUSTER)

    # The head's GCS is killed: the head pod is replaced although its restartPolicy is Never, and the
    # workers end up in the new Ray cluster.
    head = await stack.head(namespace, CLUSTER)
    await stack.kill_in(namespace, head, "gcs_server")

    async def new_head_with_workers() -> bool:
        now = await stack.pods(namespace, CLUSTER)
        heads = [p for p in now if is_head(p)]
        if len(now) != 3 or not all(ready(p) for p in now) or len(heads) != 1:
            return False
        if heads[0]["metadata"]["uid"] == head["metadata"]["uid"]:
            return False
        alive = [n for n in await stack.ray_nodes(namespace, CLUSTER) if n["alive"]]
        return len(alive) == 3

    await stack.wait(new_head_with_workers, "a new head and its workers rejoined", 240, namespace, CLUSTER)
    container = ray_container(head)["name"]
    assert "ray start" in stack.logs(namespace, head["metadata"]["name"], container)
