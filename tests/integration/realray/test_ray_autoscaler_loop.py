"""The real autoscaling loop: Ray demand -> the autoscaler sidecar raises `replicas` -> the operator creates
pods -> Ray nodes join -> work runs -> the nodes idle -> the sidecar names them in `workersToDelete` -> the
operator deletes exactly those pods. Both autoscaler versions; at most four Ray nodes at once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from kuberay_py.runtime import connect
from tests.integration.controllers.tracking import ClusterFollower, PodTracker
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
class ScaleTracker(ClusterFollower):
    """Every worker-group scale the RayCluster's spec has had since tracking began, from a watch."""

    max_replicas: int = 0
    to_delete: set[str] = field(default_factory=set)

    def on_add(self, obj: Obj) -> None:
        self._record(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        self._record(new)

    def _record(self, obj: Obj) -> None:
        group = obj["spec"]["workerGroupSpecs"][0]
        self.max_replicas = max(self.max_replicas, int(group.get("replicas", 0)))
        self.to_delete.update((group.get("scaleStrategy") or {}).get("workersToDelete") or [])


def autoscaled(version: str) -> list[Obj]:
    objects = sample("ray-cluster.autoscaler.yaml")
    cluster = next(o for o in objects if o["kind"] == "RayCluster")
    cluster["spec"]["autoscalerOptions"].update(version=version, idleTimeoutSeconds=10)
    cluster["spec"]["workerGroupSpecs"][0]["maxReplicas"] = MAX_WORKERS
    return objects


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_demand_scales_workers_up_and_idle_workers_go(stack: RayStack, version: str) -> None:
    namespace = stack.namespace()
    client = await connect(stack.plane.kubeconfig)
    try:
        async with (
            ScaleTracker(client, namespace, CLUSTER) as scale,
            PodTracker(client, namespace, CLUSTER) as pods,
        ):
            await stack.apply(namespace, autoscaled(version))
            await stack.wait_ready(namespace, CLUSTER, 2)
            output = await stack.in_head(namespace, CLUSTER, ["python", "-c", DEMAND], timeout=360)
            line = next(line for line in output.splitlines() if line.startswith("HOSTS="))
            assert len(set(json.loads(line.removeprefix("HOSTS=")))) == 3, output
            assert scale.max_replicas == MAX_WORKERS
            workers = {n for n in pods.names_seen if "-worker-" in n}
            assert len(workers) == MAX_WORKERS

            # Idle past idleTimeoutSeconds: the sidecar names two workers, and exactly those pods go.
            async def scaled_down() -> list[Obj] | None:
                cluster = await stack.cluster(namespace, CLUSTER)
                now = await stack.pods(namespace, CLUSTER, terminating=True)  # gone: stopped and removed
                left = [p for p in now if not is_head(p)]
                replicas = cluster["spec"]["workerGroupSpecs"][0]["replicas"]
                return left if replicas == 1 and len(left) == 1 and all(ready(p) for p in now) else None

            remaining = await stack.wait(scaled_down, "the idle workers removed", 180, namespace, CLUSTER)
            assert {n for n in pods.names_seen if "-worker-" in n} == workers  # no pod made twice
            most = pods.max_active["small-group"]
    finally:
        await client.close()
    kept = remaining[0]["metadata"]["name"]
    deleted = workers - {kept}
    assert len(deleted) == 2
    assert deleted <= scale.to_delete, (deleted, scale.to_delete)
    assert kept not in scale.to_delete
    assert scale.max_replicas <= MAX_WORKERS and most <= MAX_WORKERS
    # The worker that stayed was never touched: its container never restarted.
    assert all(c["restartCount"] == 0 for c in remaining[0]["status"]["containerStatuses"])
    # Each removed worker ran its preStop `ray stop`, and Ray counts it dead.
    for name in deleted:
        assert "preStop exited 0" in stack.logs(namespace, name, "ray-worker"), name
    nodes = await stack.ray_nodes(namespace, CLUSTER)
    assert sum(1 for n in nodes if n["alive"]) == 2, nodes
    assert sum(1 for n in nodes if not n["alive"]) == 2, nodes
