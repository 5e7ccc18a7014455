"""Pods as the cache holds them, for planning and status tests."""

from __future__ import annotations

import itertools
from typing import Any

from kuberay_py.api import RayCluster
from kuberay_py.builders import TEMPLATE_HASH_ANNOTATION

_counter = itertools.count()


def pod(
    group: str,
    *,
    name: str | None = None,
    phase: str = "Running",
    ready: bool = True,
    template_hash: str = "h1",
    deleting: bool = False,
    scheduled: bool = True,
    cluster: str = "demo",
) -> dict[str, Any]:
    n = next(_counter)
    head = group == "headgroup"
    meta: dict[str, Any] = {
        "name": name or (f"{cluster}-head-{n:05d}" if head else f"{cluster}-{group}-worker-{n:05d}"),
        "namespace": "default",
        "uid": f"uid-{n}",
        "creationTimestamp": f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "labels": {
            "ray.io/cluster": cluster,
            "ray.io/node-type": "head" if head else "worker",
            "ray.io/group": group,
        },
        "annotations": {TEMPLATE_HASH_ANNOTATION: template_hash},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T01:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if phase == "Running":
        status["podIP"] = f"127.16.0.{n % 250 + 1}"
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    spec = {"nodeName": "sim-node-0"} if scheduled else {}
    return {"metadata": meta, "spec": spec, "status": status}


def cluster(
    *groups: dict[str, Any],
    autoscaling: bool = False,
    suspend: bool = False,
    upgrade: dict[str, Any] | None = None,
) -> RayCluster:
    template = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.60.0"}]}}
    spec: dict[str, Any] = {
        "headGroupSpec": {"rayStartParams": {}, "template": template},
        "workerGroupSpecs": [
            {
                "rayStartParams": {},
                "template": {
                    "spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]}
                },
                **g,
            }
            for g in groups
        ],
    }
    if autoscaling:
        spec["enableInTreeAutoscaling"] = True
    if suspend:
        spec["suspend"] = True
    if upgrade is not None:
        spec["upgradeStrategy"] = upgrade
    return RayCluster.from_manifest(
        {
            "apiVersion": "ray.io/v1",
            "kind": "RayCluster",
            "metadata": {"name": "demo", "namespace": "default", "uid": "cluster-uid", "generation": 1},
            "spec": spec,
        }
    )


HASHES = {"headgroup": "h1", "small": "h1", "big": "h1"}
