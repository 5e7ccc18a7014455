"""The pods a RayCluster wants, built once per pass: per group one sample pod, its template hash, its host
width and how many pods it wants. The planner and the pod writer read this one build; the capacity sums
(status.desiredCPU and friends) come from the templates, as KubeRay's do.

Building raises `BuildError` naming the field for a spec the builders cannot turn into pods (a quantity that
is not one, a template without containers, ...): the reconciler reports that as an invalid spec.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import HEAD_GROUP_NAME
from kuberay_py.builders import (
    BuildOptions,
    HostSlot,
    build_head_pod,
    build_worker_pod,
    recorded_template_hash,
)
from kuberay_py.controllers.raycluster.capacity import desired_capacity
from kuberay_py.controllers.raycluster.pod_facts import Pod

# Hashes and capacity do not depend on which replica a pod is in; any slot will do to build a sample.
_SAMPLE_HOST = HostSlot("sample", 0)


@dataclass(frozen=True)
class DesiredGroup:
    name: str
    """`headgroup` or the worker group's name."""
    sample: Pod
    """One pod as the group's new pods are built (for a multi-host group, that of a sample slot)."""
    template_hash: str
    width: int
    """Pods per replica: the group's numOfHosts, 1 for the head."""
    pods: int
    """Pods the group wants now (0 when suspended)."""
    make: Callable[[HostSlot | None], Pod]
    """Builds one new pod; a multi-host group's pods need their slot."""

    def new_pod(self, host: HostSlot | None = None) -> Pod:
        """A fresh pod to send: the sample itself is shared and must not be mutated."""
        if self.width == 1:
            return copy.deepcopy(self.sample)
        return self.make(host)


@dataclass(frozen=True)
class DesiredPods:
    groups: dict[str, DesiredGroup]
    """By group name, the head as `headgroup`."""
    resources: dict[str, str] = field(default_factory=dict)
    """status.desiredCPU/Memory/GPU/TPU, from the cluster's templates (see `capacity`)."""

    @property
    def head(self) -> DesiredGroup:
        return self.groups[HEAD_GROUP_NAME]

    def hashes(self) -> dict[str, str]:
        return {name: group.template_hash for name, group in self.groups.items()}

    def capacity(self) -> dict[str, str]:
        """status.desiredCPU/Memory/GPU/TPU."""
        return dict(self.resources)


def build_desired(cluster: RayCluster, options: BuildOptions) -> DesiredPods:
    suspended = cluster.spec.is_suspended()
    head = build_head_pod(cluster, options)
    groups = {
        HEAD_GROUP_NAME: DesiredGroup(
            HEAD_GROUP_NAME,
            head,
            recorded_template_hash(head) or "",
            1,
            0 if suspended else 1,
            lambda _host: build_head_pod(cluster, options),
        )
    }
    for group in cluster.spec.worker_groups():
        make = functools.partial(build_worker_pod, cluster, group, options)
        sample = make(_SAMPLE_HOST if group.num_of_hosts > 1 else None)
        groups[group.group_name] = DesiredGroup(
            group.group_name,
            sample,
            recorded_template_hash(sample) or "",
            group.num_of_hosts,
            0 if suspended else group.desired_pods(),
            make,
        )
    return DesiredPods(groups, desired_capacity(cluster))
