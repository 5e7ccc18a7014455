"""The RayJob controller: a Ray program run to completion on a RayCluster made for it (or one it names)."""

from kuberay_py.controllers.rayjob.dashboard import DashboardClient, DashboardError, JobInfo, JobsApi
from kuberay_py.controllers.rayjob.reconciler import RayJobOptions, RayJobReconciler
from kuberay_py.controllers.rayjob.setup import add_rayjob_controller
from kuberay_py.controllers.rayjob.vocabulary import RAYJOBS, EventReason

__all__ = [
    "RAYJOBS",
    "DashboardClient",
    "DashboardError",
    "EventReason",
    "JobInfo",
    "JobsApi",
    "RayJobOptions",
    "RayJobReconciler",
    "add_rayjob_controller",
]
