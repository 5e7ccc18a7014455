"""The real autoscaling loop: Ray demand -> the autoscaler sidecar raises `replicas` -> the operator creates
pods -> Ray nodes join -> work runs -> the nodes idle -> the sidecar names them in `workersToDelete` -> the
operator deletes exactly those pods. Both autoscaler versions; at most four Ray nodes at once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.integration.realray.cluster import RayStack, is_head, ready, sample

Obj = dict[str, Any]
CLUSTER = "raycluster-autoscaler"
MAX_WORKERS = 3

# Three bundles of one CPU on three different nodes: the one worker there is cannot hold them, the head has
# no CPUs, so the autoscaler must add exactly two workers.
DEMAND = """
import json, socket, time, ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
ray.init(logging_level="ERROR", log_to_driver=False)
pg = placement_group([{"CPU": 1}] * 3, strategy="STRICT_SPREAD")
ray.get(pg.ready(), timeout=300)

@ray.remote(num_cpus=1)
def where():
    time.sleep(1)
    return socket.gethostname()

strategy = [PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i) for i in range(3)]
hosts = ray.get([where.options(scheduling_strategy=s).remote() for s in strategy])
remove_placement_group(pg)
print("HOSTS=" + json.dumps(hosts))
"""


@dataclass
class Seen:
    """What the test saw of the cluster while it ran, polled every second."""

    max_replicas: int = 0
    to_delete: set[str] = field(default_factory=set)
    workers: dict[str, str] = field(default_factory=dict)  # name -> uid, every worker pod ever seen
    restarts: dict[str, int] = field(default_factory=dict)
    last_state: dict[str, Obj] = field(default_factory=dict)  # name -> the Ray container's last state seen


async def watch(stack: RayStack, namespace: str, seen: Seen) -> None:
    while True:
        cluster = await stack.cluster(namespace, CLUSTER)
        group = cluster["spec"]["workerGroupSpecs"][0]
        seen.max_replicas = max(seen.max_replicas, int(group.get("replicas", 0)))
        seen.to_delete.update((group.get("scaleStrategy") or {}).get("workersToDelete") or [])
        for pod in await stack.pods(namespace, CLUSTER):
            if not is_head(pod):
                seen.workers[pod["metadata"]["name"]] = pod["metadata"]["uid"]
                statuses = pod.get("status", {}).get("containerStatuses") or []
                seen.restarts[pod["metadata"]["name"]] = sum(c.get("restartCount", 0) for c in statuses)
                if statuses:
                    seen.last_state[pod["metadata"]["name"]] = statuses[0].get("state", {})
        await asyncio.sleep(1)


def autoscaled(version: str) -> list[Obj]:
    objects = sample("ray-cluster.autoscaler.yaml")
    cluster = next(o for o in objects if o["kind"] == "RayCluster")
    cluster["spec"]["autoscalerOptions"].update(version=version, idleTimeoutSeconds=10)
    cluster["spec"]["workerGroupSpecs"][0]["maxReplicas"] = MAX_WORKERS
    return objects


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_demand_scales_workers_up_and_idle_workers_go(stack: RayStack, version: str) -> None:
    namespace = stack.namespace()
    await stack.apply(namespace, autoscaled(version))
    pods = await stack.wait_ready(namespace, CLUSTER, 2)
    first = next(p for p in pods if not is_head(p))
    seen = Seen()
    watcher = asyncio.create_task(watch(stack, namespace, seen))
    try:
        output = await stack.in_head(namespace, CLUSTER, ["python", "-c", DEMAND], timeout=360)
        hosts = json.loads(
            next(line for line in output.splitlines() if line.startswith("HOSTS=")).removeprefix("HOSTS=")
        )
        assert len(set(hosts)) == 3, hosts
        assert seen.max_replicas == MAX_WORKERS
        assert len(seen.workers) == MAX_WORKERS

        # Idle past idleTimeoutSeconds: the sidecar names two workers, and exactly those pods go.
        async def scaled_down() -> list[Obj] | None:
            cluster = await stack.cluster(namespace, CLUSTER)
            pods = await stack.pods(namespace, CLUSTER, terminating=True)  # gone: stopped and removed
            workers = [p for p in pods if not is_head(p)]
            replicas = cluster["spec"]["workerGroupSpecs"][0]["replicas"]
            return workers if replicas == 1 and len(workers) == 1 and all(ready(p) for p in pods) else None

        remaining = await stack.wait(scaled_down, "the idle workers removed", 180, namespace, CLUSTER)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    kept = remaining[0]["metadata"]["name"]
    deleted = set(seen.workers) - {kept}
    assert len(deleted) == 2
    assert deleted <= seen.to_delete, (deleted, seen.to_delete)
    assert kept not in seen.to_delete
    assert seen.max_replicas <= MAX_WORKERS
    # The worker that stayed was never touched: the same pod, its container never restarted.
    assert remaining[0]["metadata"]["uid"] == seen.workers[kept]
    assert seen.restarts.get(kept, 0) == 0
    assert first["metadata"]["name"] in seen.workers
    # Each removed worker ran its preStop `ray stop`, and Ray counts it dead.
    for name in deleted:
        assert "preStop exited 0" in stack.logs(namespace, name, "ray-worker"), name
    nodes = await stack.ray_nodes(namespace, CLUSTER)
    assert sum(1 for n in nodes if n["alive"]) == 2, nodes
    assert sum(1 for n in nodes if not n["alive"]) == 2, nodes
