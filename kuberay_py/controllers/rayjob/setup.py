"""Wire the RayJob reconciler into a runtime Manager, beside the RayCluster controller."""

from __future__ import annotations

from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS
from kuberay_py.controllers.rayjob.dashboard import JobsApi
from kuberay_py.controllers.rayjob.reconciler import RayJobOptions, RayJobReconciler
from kuberay_py.controllers.rayjob.vocabulary import RAYJOBS
from kuberay_py.runtime import (
    JOBS,
    Controller,
    GenerationChanged,
    Manager,
    any_of,
    labels_or_annotations_changed,
)

CONTROLLER_NAME = "rayjob"
EVENT_SOURCE = "rayjob-controller"


def add_rayjob_controller(
    manager: Manager, jobs_api: JobsApi, *, workers: int = 16, options: RayJobOptions | None = None
) -> Controller:
    """Register the controller. The Jobs informer must hold the submitter Jobs (see `cache_selectors`
    of the RayCluster controller: both select this operator's Jobs by their created-by label)."""
    recorder = manager.event_recorder(EVENT_SOURCE)
    reconciler = RayJobReconciler(manager.client, manager.cache, recorder, jobs_api, options)
    return (
        manager.controller(CONTROLLER_NAME)
        .for_(RAYJOBS, predicates=[any_of(GenerationChanged(), labels_or_annotations_changed())])
        .owns(RAYCLUSTERS)
        .owns(JOBS)
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )
