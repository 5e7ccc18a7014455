"""The desired state of a RayCluster."""

import re
from typing import Annotated, ClassVar

from pydantic import Field

from kuberay_py.api import constants as c
from kuberay_py.api import messages as m
from kuberay_py.api.auth import AuthOptions
from kuberay_py.api.autoscaler import AutoscalerOptions
from kuberay_py.api.base import KubeModel
from kuberay_py.api.enums import UpgradeType
from kuberay_py.api.faulttolerance import GcsFaultToleranceOptions
from kuberay_py.api.groups import HeadGroupSpec, WorkerGroupSpec
from kuberay_py.api.managed_by import ManagedByName, managed_by_kept
from kuberay_py.api.markers import Rule, Schema
from kuberay_py.api.types import Bool, KubeObject, Str, StrMap
from kuberay_py.api.upgrade import UpgradeStrategy


def ray_release(version: str | None) -> tuple[int, int] | None:
    """(major, minor) of a Ray version such as "2.60.0" or "v2.46"; None when unset or no version."""
    found = re.match(r"^v?(\d+)\.(\d+)", version or "")
    return (int(found[1]), int(found[2])) if found else None


def _group_names_unique(groups: list[WorkerGroupSpec]) -> bool:
    names = [g.group_name for g in groups]
    return len(names) == len(set(names))


WorkerGroups = Annotated[
    list[WorkerGroupSpec],
    Field(max_length=c.MAX_WORKER_GROUPS),
    Schema(
        rules=(
            Rule(
                cel="self.all(g, self.exists_one(h, h.groupName == g.groupName))",
                message=m.GROUP_NAMES_NOT_UNIQUE,
                check=_group_names_unique,
            ),
        )
    ),
]


def _no_suspended_group_with_autoscaler(spec: "RayClusterSpec") -> bool:
    return not spec.autoscaling_enabled() or not any(g.suspend for g in spec.worker_group_specs or [])


def _redis_password_once(spec: "RayClusterSpec") -> bool:
    params = spec.head_group_spec.start_params()
    return spec.gcs_fault_tolerance_options is None or params.get("redis-password", "") == ""


def _no_redis_username_param(spec: "RayClusterSpec") -> bool:
    return spec.head_group_spec.start_params().get("redis-username", "") == ""


_HEAD_PARAM = (
    "has(self.headGroupSpec.rayStartParams) && '{0}' in self.headGroupSpec.rayStartParams && "
    "self.headGroupSpec.rayStartParams['{0}'] != ''"
)


class RayClusterSpec(KubeModel):
    """A Ray cluster: one head group, any number of worker groups, and how to run and scale them."""

    head_group_spec: HeadGroupSpec
    """The head pod."""
    worker_group_specs: WorkerGroups | None = None
    """The worker groups; their groupNames are unique."""
    ray_version: Str | None = None
    """The Ray version of the images, e.g. "2.60.0"."""
    enable_in_tree_autoscaling: Bool | None = None
    """Run the Ray autoscaler as a sidecar of the head pod; it then sets the worker groups' replicas."""
    autoscaler_options: AutoscalerOptions | None = None
    """Settings of the autoscaler sidecar."""
    head_service_annotations: StrMap | None = None
    """Annotations of the head Service."""
    suspend: Bool | None = None
    """Delete every pod of the cluster and create none until it is false again."""
    managed_by: ManagedByName | None = None
    """Who reconciles the cluster: 'ray.io/kuberay-operator' (this operator, the default) or
    'kueue.x-k8s.io/multikueue'. Cannot change after creation."""
    upgrade_strategy: UpgradeStrategy | None = None
    """What happens to running pods when their template changes. Default: None (they are left alone)."""
    gcs_fault_tolerance_options: GcsFaultToleranceOptions | None = None
    """GCS fault tolerance: the head keeps the cluster's state in an external Redis, so that a new head
    takes over every job, actor and placement group and the workers reconnect to it."""
    auth_options: AuthOptions | None = None
    """Token authentication of the Ray cluster."""
    tls_options: KubeObject | None = None
    """Mutual TLS between Ray nodes."""
    network_policy: KubeObject | None = None
    """NetworkPolicies isolating the cluster's pods."""
    history_server_options: KubeObject | None = None
    """The history server's collector sidecar."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=(
                "!has(self.enableInTreeAutoscaling) || !self.enableInTreeAutoscaling || "
                "!has(self.workerGroupSpecs) || self.workerGroupSpecs.all(g, !has(g.suspend) || !g.suspend)"
            ),
            message=m.SUSPENDED_GROUP_WITH_AUTOSCALER,
            check=_no_suspended_group_with_autoscaler,
            field_path=".workerGroupSpecs",
        ),
        managed_by_kept(m.MANAGED_BY_CHANGED),
        Rule(
            cel=f"!has(self.gcsFaultToleranceOptions) || !({_HEAD_PARAM.format('redis-password')})",
            message=m.REDIS_PASSWORD_TWICE,
            check=_redis_password_once,
            field_path=".headGroupSpec.rayStartParams",
        ),
        Rule(
            cel=f"!({_HEAD_PARAM.format('redis-username')})",
            message=m.REDIS_USERNAME_IN_PARAMS,
            check=_no_redis_username_param,
            field_path=".headGroupSpec.rayStartParams",
        ),
    )

    def autoscaling_enabled(self) -> bool:
        return bool(self.enable_in_tree_autoscaling)

    def token_auth_enabled(self) -> bool:
        return self.auth_options is not None and self.auth_options.token_mode()

    def is_suspended(self) -> bool:
        return bool(self.suspend)

    def worker_groups(self) -> list[WorkerGroupSpec]:
        """The worker groups (empty when there are none)."""
        return list(self.worker_group_specs or [])

    def worker_group(self, name: str) -> WorkerGroupSpec | None:
        return next((g for g in self.worker_groups() if g.group_name == name), None)

    def desired_worker_pods(self) -> int:
        """Worker pods of all groups together; 0 while the cluster is suspended."""
        if self.is_suspended():
            return 0
        return sum(g.desired_pods() for g in self.worker_groups())

    def effective_upgrade_strategy(self) -> UpgradeStrategy:
        """The upgrade strategy with its defaults filled in."""
        strategy = self.upgrade_strategy or UpgradeStrategy()
        kind = strategy.effective_type()
        rolling = strategy.effective_rolling_update() if kind == UpgradeType.ROLLING_UPDATE else None
        return UpgradeStrategy(type=kind, rolling_update=rolling)
