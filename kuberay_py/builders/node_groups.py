"""The group a pod is built for, with what every builder needs to know about it."""

from dataclasses import dataclass

from kuberay_py.api import RayCluster, RayGroupSpec, WorkerGroupSpec
from kuberay_py.api.constants import HEAD_GROUP_NAME
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.labels import HEAD, WORKER


@dataclass(frozen=True)
class NodeGroup:
    """The head group or one worker group of a cluster."""

    spec: RayGroupSpec
    node_type: str
    """`head` or `worker`, the pods' `ray.io/node-type`."""
    name: str
    """`headgroup` or the worker group's name, the pods' `ray.io/group`."""
    path: str
    """Where the group is in the RayCluster, for error messages."""

    @property
    def is_head(self) -> bool:
        return self.node_type == HEAD


def head_group(cluster: RayCluster) -> NodeGroup:
    return NodeGroup(cluster.spec.head_group_spec, HEAD, HEAD_GROUP_NAME, "spec.headGroupSpec")


def worker_group(cluster: RayCluster, group: WorkerGroupSpec) -> NodeGroup:
    for index, candidate in enumerate(cluster.spec.worker_groups()):
        if candidate.group_name == group.group_name:
            return NodeGroup(group, WORKER, group.group_name, f"spec.workerGroupSpecs[{index}]")
    raise BuildError(f'the RayCluster has no worker group named "{group.group_name}"')


def node_group(cluster: RayCluster, group: WorkerGroupSpec | None) -> NodeGroup:
    """The head group when `group` is None, else that worker group."""
    return head_group(cluster) if group is None else worker_group(cluster, group)
