"""Small RayClusters for the builder tests, changed one field at a time."""

from __future__ import annotations

import copy
from typing import Any

from kuberay_py.api import RayCluster, validate_manifest

IMAGE = "rayproject/ray:2.60.0"


def container(name: str = "ray", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, **fields}


def manifest(
    name: str = "demo",
    *,
    head: dict[str, Any] | None = None,
    workers: list[dict[str, Any]] | None = None,
    namespace: str | None = "ml",
    **spec: Any,
) -> dict[str, Any]:
    """A RayCluster manifest with a 1-CPU head and the given worker groups."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    head_group = head or {
        "template": {
            "spec": {
                "containers": [
                    container(
                        "ray-head",
                        resources={"limits": {"cpu": "1", "memory": "2Gi"}, "requests": {"cpu": "1"}},
                    )
                ]
            }
        }
    }
    body: dict[str, Any] = {"rayVersion": "2.60.0", "headGroupSpec": head_group, **spec}
    if workers is not None:
        body["workerGroupSpecs"] = workers
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": metadata, "spec": body}


def worker(group: str = "small", **fields: Any) -> dict[str, Any]:
    """A worker group with a 1-CPU, 1Gi Ray container; `fields` replace the group's fields."""
    base: dict[str, Any] = {
        "groupName": group,
        "replicas": 1,
        "minReplicas": 0,
        "maxReplicas": 5,
        "template": {
            "spec": {
                "containers": [container("ray-worker", resources={"limits": {"cpu": "1", "memory": "1Gi"}})]
            }
        },
    }
    base.update(fields)
    return base


def parse(raw: dict[str, Any]) -> RayCluster:
    """The RayCluster of a manifest that must be valid."""
    errors = validate_manifest(raw)
    assert errors == [], errors
    return RayCluster.from_manifest(copy.deepcopy(raw))


def ray_container(pod: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = pod["spec"]["containers"][0]
    return first


def env_of(container_: dict[str, Any]) -> dict[str, Any]:
    """Name -> value (or valueFrom) of a container's variables; fails on a duplicate name."""
    names = [var["name"] for var in container_.get("env", [])]
    assert len(names) == len(set(names)), names
    return {var["name"]: var.get("value", var.get("valueFrom")) for var in container_.get("env", [])}
