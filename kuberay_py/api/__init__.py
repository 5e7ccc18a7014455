"""The RayCluster API (`ray.io/v1`): pydantic models, validation, and the CRD derived from them.

`RayCluster.from_manifest(manifest)` parses a manifest (camelCase names on the wire, snake_case attributes in
Python) and `to_manifest()` gives it back unchanged; `validate_manifest(manifest)` lists what the API server
rejects plus what only the controller can see; `unsupported_fields(cluster)` names the KubeRay fields a
cluster sets that kuberay-py accepts but does not act on.
"""

from kuberay_py.api.autoscaler import AutoscalerOptions
from kuberay_py.api.base import KubeModel
from kuberay_py.api.crd import build_crd, render_crd
from kuberay_py.api.enums import (
    AutoscalerVersion,
    ClusterState,
    ManagedBy,
    PullPolicy,
    ServiceType,
    UpgradeType,
    UpscalingMode,
)
from kuberay_py.api.groups import HeadGroupSpec, RayGroupSpec, ScaleStrategy, WorkerGroupSpec
from kuberay_py.api.markers import Rule
from kuberay_py.api.metadata import ObjectMeta
from kuberay_py.api.raycluster import RayCluster
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
