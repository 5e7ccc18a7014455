"""The observed state of a RayCluster, written by the operator and read by users and tools."""

from typing import Annotated

from pydantic import Field

from kuberay_py.api.base import KubeModel
from kuberay_py.api.markers import Schema
from kuberay_py.api.types import Int32, Int64, Quantity, Str, StrMap, Timestamp


class Condition(KubeModel):
    """One condition of the cluster (a metav1.Condition)."""

    type: Str
    """HeadPodReady, RayClusterProvisioned, ReplicaFailure, RayClusterSuspending or RayClusterSuspended."""
    status: Str
    """True, False or Unknown."""
    reason: Str | None = None
    message: Str | None = None
    last_transition_time: Timestamp | None = None
    observed_generation: Int64 | None = None


class HeadInfo(KubeModel):
    """Where the head runs."""

    pod_ip: Str | None = Field(default=None, alias="podIP")
    pod_name: Str | None = None
    service_ip: Str | None = Field(default=None, alias="serviceIP")
    service_name: Str | None = None


class RayClusterStatus(KubeModel):
    """What the operator observed."""

    state: Str | None = None
    """ready or suspended. Deprecated in favour of conditions."""
    reason: Str | None = None
    """Why the cluster is in its state."""
    conditions: (
        Annotated[
            list[Condition],
            Schema(openapi={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
        ]
        | None
    ) = None
    """The latest observations of the cluster's state."""
    ready_worker_replicas: Int32 | None = None
    """Worker pods that are running and ready."""
    available_worker_replicas: Int32 | None = None
    """Worker pods that are running."""
    desired_worker_replicas: Int32 | None = None
    """Worker pods wanted: the sum of replicas x numOfHosts over the groups."""
    min_worker_replicas: Int32 | None = None
    """The sum of minReplicas x numOfHosts over the groups."""
    max_worker_replicas: Int32 | None = None
    """The sum of maxReplicas x numOfHosts over the groups."""
    desired_cpu: Quantity | None = Field(default=None, alias="desiredCPU")
    """CPUs requested by the desired pods."""
    desired_memory: Quantity | None = None
    """Memory requested by the desired pods."""
    desired_gpu: Quantity | None = Field(default=None, alias="desiredGPU")
    """GPUs requested by the desired pods."""
    desired_tpu: Quantity | None = Field(default=None, alias="desiredTPU")
    """TPUs requested by the desired pods."""
    endpoints: StrMap | None = None
    """Ports of the head Service by name."""
    head: HeadInfo | None = None
    """The head pod and Service."""
    outdated_pods: Int32 | None = None
    """Pods (head included) built from a since-changed template; an upgradeStrategy replaces them."""
    observed_generation: Int64 | None = None
    """The generation of the spec this status describes."""
    last_update_time: Annotated[Timestamp, Schema(nullable=True)] | None = None
    """When the status last changed."""
    state_transition_times: dict[str, Timestamp] | None = None
    """When the cluster last entered each state."""
