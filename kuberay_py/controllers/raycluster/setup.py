"""Wire the RayCluster reconciler into a runtime Manager."""

from __future__ import annotations

from collections.abc import Mapping

from kuberay_py.builders import NODE_TYPE_LABEL
from kuberay_py.builders.labels import CREATED_BY, CREATED_BY_LABEL
from kuberay_py.controllers.raycluster.cached_pod import slim_pod
from kuberay_py.controllers.raycluster.reconciler import RayClusterReconciler, ReconcilerOptions
from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS
from kuberay_py.runtime import (
    JOBS,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
    Controller,
    GenerationChanged,
    Manager,
    Resource,
    ResourceSelector,
    any_of,
    labels_or_annotations_changed,
)
from kuberay_py.runtime.informer import Transform

CONTROLLER_NAME = "raycluster"
EVENT_SOURCE = "raycluster-controller"
# Only objects this operator creates are cached: every one carries the Ray cluster label. In a busy cluster
# that keeps memory proportional to Ray pods, not to every pod (a KubeRay weakness until it added a filter).
CLUSTER_LABEL_SELECTOR = "ray.io/cluster"


def cache_selectors() -> Mapping[Resource, ResourceSelector]:
    """What the manager's cache should hold of the resources this controller watches."""
    return {
        PODS: ResourceSelector(label_selector=NODE_TYPE_LABEL),
        SERVICES: ResourceSelector(label_selector=CLUSTER_LABEL_SELECTOR),
        SERVICE_ACCOUNTS: ResourceSelector(label_selector=CLUSTER_LABEL_SELECTOR),
        ROLES: ResourceSelector(label_selector=CLUSTER_LABEL_SELECTOR),
        ROLE_BINDINGS: ResourceSelector(label_selector=CLUSTER_LABEL_SELECTOR),
        # Only this operator's Jobs: Redis cleanups and RayJob submitters.
        JOBS: ResourceSelector(label_selector=f"{CREATED_BY_LABEL}={CREATED_BY}"),
    }


def cache_transforms() -> Mapping[Resource, Transform]:
    """How the manager's cache should store what this controller watches: pods cut down to what it reads."""
    return {PODS: slim_pod}


def add_raycluster_controller(
    manager: Manager, *, workers: int = 16, options: ReconcilerOptions | None = None
) -> Controller:
    """Register the controller; build the manager with
    `ManagerOptions(cache_selectors=cache_selectors(), cache_transforms=cache_transforms())`."""
    recorder = manager.event_recorder(EVENT_SOURCE)
    queue: list[Controller] = []  # the controller's queue exists once the reconciler is registered

    def others_waiting() -> bool:
        # Keys wait in the queue only while every worker is busy: a long pass then hands its worker on (see
        # ReconcilerOptions.yield_after_seconds).
        return bool(queue) and len(queue[0].queue) > 0

    reconciler = RayClusterReconciler(
        manager.client,
        manager.cache,
        recorder,
        options,
        others_waiting=others_waiting,
        may_write=manager.write_fence.allowed,
    )
    controller = (
        manager.controller(CONTROLLER_NAME)
        .for_(RAYCLUSTERS, predicates=[any_of(GenerationChanged(), labels_or_annotations_changed())])
        .owns(PODS)
        .owns(SERVICES)
        .owns(SERVICE_ACCOUNTS)
        .owns(ROLES)
        .owns(ROLE_BINDINGS)
        .owns(JOBS)
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )
    queue.append(controller)
    return controller
