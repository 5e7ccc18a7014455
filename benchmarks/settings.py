"""How big each scenario is: the full suite, and a quick one that fits in a CI job of a few minutes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    mode: str
    scale_up_workers: tuple[int, ...]
    """Scenario 1: one RayCluster with this many workers, per case."""
    many_clusters: tuple[int, ...]
    """Scenario 2: this many RayClusters of 4 pods (1 head + 3 workers), per case."""
    fairness_workers: int
    """Scenario 3: cluster A scales from 0 to this many workers while B clusters scale 1 -> 2."""
    storm_clusters: int
    storm_workers: int
    """Scenario 3, storm case: this many clusters of this many workers are created at once while B scales."""
    steady_clusters: int
    steady_seconds: float
    """Scenario 4: this many idle 4-pod clusters, watched for this long."""
    memory_pods: tuple[int, ...]
    """Scenario 5: operator RSS with this many managed pods (the first level must be 0)."""
    memory_idle_seconds: float
    """How long the operator must have made no request before its RSS is read."""
    fault_workers: int = 50
    fault_kills: int = 3
    """Scenario 7: one cluster scales 0 -> this many workers per kind of fault; the operator is killed this
    many times in the SIGKILL kind."""
    rayjobs: int = 100
    rayjob_after_seconds: float = 30.0
    """Scenario 8: this many RayJobs (a head and one worker each) created at once, until each has its
    submitter Job and shows Running; then this long with nothing to do but poll dashboards that are not
    there."""
    repeats: int = 1
    """Runs of each scale-up, many-clusters, fairness and RayJob case; their median is reported."""
    pods_per_memory_cluster: int = 100
    operators: tuple[str, ...] = ("kuberay-py", "KubeRay", "KubeRay tuned")
    """Every case runs against each of these operators, each on a fresh stack (see benchmarks.stack)."""


FULL = Settings(
    mode="full",
    scale_up_workers=(100, 500, 1000),
    many_clusters=(100, 1000),
    fairness_workers=1000,
    storm_clusters=32,  # twice the operator's 16 workers
    storm_workers=99,
    steady_clusters=100,
    steady_seconds=300.0,
    memory_pods=(0, 500, 1000, 5000),
    memory_idle_seconds=20.0,  # past aiohttp's 15 s keep-alive, so a burst's connections are closed
    fault_workers=300,
    fault_kills=12,
    repeats=3,
)

QUICK = Settings(
    mode="quick",
    scale_up_workers=(50,),
    many_clusters=(10,),
    fairness_workers=100,
    storm_clusters=20,
    storm_workers=9,
    steady_clusters=10,
    steady_seconds=30.0,
    memory_pods=(0, 200),
    memory_idle_seconds=5.0,
    rayjobs=20,
    rayjob_after_seconds=5.0,
    operators=("kuberay-py", "KubeRay"),
)
