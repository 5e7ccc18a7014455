"""The RayCluster controller: pods, Services and autoscaler RBAC that follow the RayCluster spec exactly."""

from kuberay_py.controllers.raycluster.reconciler import RayClusterReconciler, ReconcilerOptions
from kuberay_py.controllers.raycluster.setup import (
    add_raycluster_controller,
    cache_selectors,
    cache_transforms,
)
from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS

__all__ = [
    "RAYCLUSTERS",
    "RayClusterReconciler",
    "ReconcilerOptions",
    "add_raycluster_controller",
    "cache_selectors",
    "cache_transforms",
]
