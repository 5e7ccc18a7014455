"""The RayCluster object itself."""

from typing import ClassVar

from pydantic import Field

from kuberay_py.api import constants as c
from kuberay_py.api import messages as m
from kuberay_py.api.base import KubeModel
from kuberay_py.api.faulttolerance import fault_tolerance_enabled
from kuberay_py.api.markers import Rule
from kuberay_py.api.metadata import ApiObject, ObjectMeta, name_rules
from kuberay_py.api.spec import RayClusterSpec
from kuberay_py.api.status import RayClusterStatus
from kuberay_py.api.types import Str


class RayCluster(ApiObject, KubeModel):
    """A Ray cluster on Kubernetes: a head pod and groups of worker pods, kept at the size its spec asks."""

    api_version: Str = c.API_VERSION
    kind: Str = c.KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RayClusterSpec
    """The desired state of the cluster."""
    status: RayClusterStatus | None = None
    """The observed state of the cluster."""

    admission_rules: ClassVar[tuple[Rule, ...]] = name_rules(
        c.MAX_CLUSTER_NAME_LENGTH, m.CLUSTER_NAME_TOO_LONG, m.CLUSTER_NAME_NOT_DNS1035
    )

    def fault_tolerance_enabled(self) -> bool:
        """GCS fault tolerance: by `gcsFaultToleranceOptions` or the older `ray.io/ft-enabled: "true"`."""
        return fault_tolerance_enabled(self.spec, self.metadata.annotations)
