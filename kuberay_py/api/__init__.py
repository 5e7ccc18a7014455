"""The RayCluster API (`ray.io/v1`): pydantic models, validation, and the CRD derived from them.

from kuberay_py.api import RayCluster, validate_manifest

cluster = RayCluster.from_manifest(manifest)   # camelCase JSON in, snake_case attributes
errors = validate_manifest(manifest)           # [] when the API server would accept it
manifest == cluster.to_manifest()              # nothing is lost in a round trip
"""

from kuberay_py.api.autoscaler import AutoscalerOptions
from kuberay_py.api.base import KubeModel
from kuberay_py.api.crd import build_crd, render_crd
from kuberay_py.api.enums import (
    AutoscalerVersion,
    ClusterState,
    ConditionType,
    ManagedBy,
    PullPolicy,
    ServiceType,
    UpgradeType,
    UpscalingMode,
)
from kuberay_py.api.groups import HeadGroupSpec, RayGroupSpec, ScaleStrategy, WorkerGroupSpec
from kuberay_py.api.markers import Rule
from kuberay_py.api.raycluster import ObjectMeta, RayCluster
from kuberay_py.api.spec import RayClusterSpec
from kuberay_py.api.status import Condition, HeadInfo, RayClusterStatus
from kuberay_py.api.unsupported import unsupported_fields
from kuberay_py.api.upgrade import RollingUpdate, UpgradeStrategy
from kuberay_py.api.validation import (
    FieldError,
    admission_errors,
    reconcile_errors,
    validate,
    validate_manifest,
)

__all__ = [
    "AutoscalerOptions",
    "AutoscalerVersion",
    "ClusterState",
    "Condition",
    "ConditionType",
    "FieldError",
    "HeadGroupSpec",
    "HeadInfo",
    "KubeModel",
    "ManagedBy",
    "ObjectMeta",
    "PullPolicy",
    "RayCluster",
    "RayClusterSpec",
    "RayClusterStatus",
    "RayGroupSpec",
    "RollingUpdate",
    "Rule",
    "ScaleStrategy",
    "ServiceType",
    "UpgradeStrategy",
    "UpgradeType",
    "UpscalingMode",
    "WorkerGroupSpec",
    "admission_errors",
    "build_crd",
    "reconcile_errors",
    "render_crd",
    "unsupported_fields",
    "validate",
    "validate_manifest",
]
