"""The resources a cluster asks for: status.desiredCPU/Memory/GPU/TPU, computed as KubeRay computes them.

KubeRay sums the pod templates as written (not the pods it builds, so the autoscaler sidecar does not
count): the head's once, and each worker group's `replicas` times (as written, not kept within
min/maxReplicas) times numOfHosts, skipping suspended groups. A suspended cluster still reports them. The
sums are Kubernetes quantities and print as Kubernetes prints them ("3G" for 1G + 2G, "1500m" for 1.5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from kuberay_py.api import RayCluster
from kuberay_py.api.quantities import ZERO, QuantityError, ResourceQuantity, resource_quantity

TPU: Final = "google.com/tpu"
# NVIDIA's multi-instance GPU slices, as "nvidia.com/mig-2g.32gb".
_MIG: Final = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")

Resources = dict[str, ResourceQuantity]


def is_gpu(name: str) -> bool:
    return name.endswith("gpu") or _MIG.search(name) is not None


def template_requests(template: Mapping[str, Any]) -> Resources:
    """Each container's requests, with its limits for what it does not request, summed over the pod
    template's containers (init containers aside)."""
    spec = template.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    totals: Resources = {}
    for container in containers if isinstance(containers, list) else []:
        resources = container.get("resources") if isinstance(container, Mapping) else None
        if not isinstance(resources, Mapping):
            continue
        wanted: dict[str, Any] = {}
        for kind in ("limits", "requests"):  # a request wins over the limit of the same resource
            listed = resources.get(kind)
            wanted.update(listed if isinstance(listed, Mapping) else {})
        container_requests: Resources = {}
        for name, text in wanted.items():
            try:
                container_requests[name] = resource_quantity(text)
            except QuantityError:
                continue  # admission already refused malformed quantities; a leftover one counts as nothing
        _add(totals, container_requests)
    return totals


def _add(totals: Resources, resources: Resources) -> None:
    for name, quantity in resources.items():
        totals[name] = totals[name] + quantity if name in totals else quantity


def desired_totals(cluster: RayCluster) -> Resources:
    """Every resource name the cluster's templates ask for, summed over the pods it counts."""
    totals: Resources = {}
    _add(totals, template_requests(cluster.spec.head_group_spec.template))
    for group in cluster.spec.worker_groups():
        if group.suspend or group.replicas <= 0:
            continue
        pods = group.replicas * group.num_of_hosts
        # A pod's quantities multiplied lose the text they were written in, as Kubernetes' own do.
        _add(totals, {n: q.times(pods) for n, q in template_requests(group.template).items()})
    return totals


def _sum(quantities: Iterable[ResourceQuantity]) -> ResourceQuantity:
    total = ZERO
    for quantity in quantities:
        total = total + quantity
    return total


def desired_capacity(cluster: RayCluster) -> dict[str, str]:
    """The status fields, in the shape KubeRay reports them."""
    totals = desired_totals(cluster)
    gpus = (q for name, q in sorted(totals.items()) if is_gpu(name) and q.value != 0)
    return {
        "desiredCPU": str(totals.get("cpu", ZERO)),
        "desiredMemory": str(totals.get("memory", ZERO)),
        "desiredGPU": str(_sum(gpus)),
        "desiredTPU": str(totals.get(TPU, ZERO)),
    }
