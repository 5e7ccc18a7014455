"""Scenario 1: one RayCluster with N workers, from create to every pod created and to `state: ready`.

For reference, the same pods are also created by a plain client with as many requests in flight as the
operator allows itself, on a stack of their own: what this machine's API server, scheduler and kubelet
manage with no operator in the way. The reference pods carry the Ray labels (so the operator's cache and the
benchmark's watch see them, as they would see its own) but no owner, so the operator leaves them alone.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.manifests import concurrently, create, raycluster
from benchmarks.observe import Observer
from benchmarks.results import CaseResult
from benchmarks.scenarios.common import NAMESPACE, timeout_for
from benchmarks.stack import Stack
from kuberay_py.api import RayCluster
from kuberay_py.builders import build_worker_pod
from kuberay_py.controllers.raycluster import ReconcilerOptions
from kuberay_py.runtime import PODS

TARGET_PODS_PER_SECOND = 100.0


async def run(stack: Stack, result: CaseResult, workers: int) -> None:
    name = "scale-up"
    pods = workers + 1
    async with Observer(stack.client, NAMESPACE) as seen:
        began = time.monotonic()
        await create(stack.client, NAMESPACE, name, workers)
        created = await seen.wait(lambda: seen.pods_of(name) >= pods, timeout_for(pods), f"{pods} pods")
        ready = await seen.wait(lambda: seen.is_ready(name), timeout_for(pods), "state: ready")
    result.add("time to all pods created", created - began, "s")
    result.add("time to state: ready", ready - began, "s")
    result.at_least("pods created per second", pods / (created - began), "pods/s", TARGET_PODS_PER_SECOND)


def _unowned_worker(cluster_name: str) -> dict[str, Any]:
    manifest = raycluster(cluster_name, 1)
    manifest["metadata"].update(namespace=NAMESPACE, uid="00000000-0000-0000-0000-000000000000")
    cluster = RayCluster.from_manifest(manifest)
    pod = build_worker_pod(cluster, cluster.spec.worker_groups()[0])
    del pod["metadata"]["ownerReferences"]
    return pod


async def run_reference(stack: Stack, result: CaseResult, workers: int) -> None:
    name = "reference"
    pod = _unowned_worker(name)
    in_flight = ReconcilerOptions().max_parallel_writes

    async with Observer(stack.client, NAMESPACE) as seen:
        began = time.monotonic()
        await concurrently(range(workers), in_flight, lambda _: stack.client.create(PODS, pod, NAMESPACE))
        answered = time.monotonic()
        created = await seen.wait(lambda: seen.pods_of(name) >= workers, timeout_for(workers), "all pods")
    result.add("time to all pods created", created - began, "s")
    result.add("pods created per second", workers / (created - began), "pods/s")
    result.add("pods created per second, as the API server answered", workers / (answered - began), "pods/s")
    result.details["in_flight"] = in_flight
