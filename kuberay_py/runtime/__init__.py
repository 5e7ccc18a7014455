"""A level-triggered controller runtime for asyncio, modelled on Go's controller-runtime.

It knows nothing about any particular resource; reconcilers plug into it. This package exports what a
controller is written against; the machinery behind it (watch events, the work queue, the leader elector...)
stays in its modules. The pieces, each in its module:

* :mod:`.resources`: :class:`Resource` (group, version, plural, kind) and constants for the resources in use.
* :mod:`.client`: the :class:`Client` protocol (get/list/watch/create/update/patch/delete on JSON dicts, and
  ``patch_status`` for the status subresource), with its backend :mod:`.kube_client` (a real API server;
  :func:`connect`); an in-memory fake for unit tests is in :mod:`kuberay_py.testing.memory_client`. Errors
  are in :mod:`.errors`.
* :mod:`.informer` and :mod:`.cache`: list+watch into indexed stores; reconcilers read from :class:`Cache`.
* :mod:`.workqueue`: deduplicating, per-key exclusive, rate-limited :class:`WorkQueue`.
* :mod:`.fairshare`: :class:`FairShare`, a concurrency limit that serves the owner holding least first.
* :mod:`.reconcile`: :class:`Request`, :class:`Result`, the :class:`Reconciler` protocol.
* :mod:`.controller`, :mod:`.predicates`, :mod:`.handlers`: wiring events to reconciles.
* :mod:`.manager`: :class:`Manager` runs it all, with leader election (:mod:`.leader`), metrics
  (:mod:`.metrics`), health endpoints (:mod:`.http_server`) and an Event recorder (:mod:`.events`);
  ``manager.write_fence`` (:class:`WriteFence`) says whether a write may be sent now, and a new leader first
  catches its cache up with the API server (:mod:`.freshness`).
* :mod:`.logs`: :func:`configure_logging`; :mod:`.objects`: helpers for JSON objects.
* :mod:`.kubernetes_config`: kubernetes-asyncio's configuration loader without its generated models;
  :mod:`.allocator`: hands memory freed after a burst back to the operating system.

A complete controller::

    class Reconciler:
        def __init__(self, client: Client, cache: Cache) -> None: ...
        async def reconcile(self, request: Request) -> Result: ...

    client = await connect()
    manager = Manager(client, ManagerOptions(leader_election=True))
    reconciler = Reconciler(client, manager.cache)
    manager.controller("example").for_(NAMESPACES).owns(CONFIG_MAPS).complete(reconciler)
    await manager.run()
"""

from kuberay_py.runtime.cache import Cache, InformerOptions, NotCached, ResourceSelector
from kuberay_py.runtime.client import (
    Client,
    PatchType,
    Preconditions,
    PropagationPolicy,
)
from kuberay_py.runtime.controller import Controller
from kuberay_py.runtime.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    TooManyRequests,
    TransportError,
    Unauthorized,
)
from kuberay_py.runtime.events import EventRecorder
from kuberay_py.runtime.fairshare import FairShare
from kuberay_py.runtime.informer import Informer, default_transform
from kuberay_py.runtime.kube_client import KubeClient, connect
from kuberay_py.runtime.logs import configure_logging
from kuberay_py.runtime.manager import (
    CacheSyncTimeout,
    LeaderElectionLost,
    Manager,
    ManagerOptions,
    WriteFence,
)
from kuberay_py.runtime.predicates import (
    AnnotationsChanged,
    GenerationChanged,
    LabelsChanged,
    Predicate,
    any_of,
    labels_or_annotations_changed,
)
from kuberay_py.runtime.reconcile import Reconciler, Request, Result, TerminalError
from kuberay_py.runtime.resources import (
    CLUSTER_ROLE_BINDINGS,
    CONFIG_MAPS,
    EVENTS,
    JOBS,
    LEASES,
    NAMESPACES,
    NODES,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
    Resource,
)
from kuberay_py.runtime.selectors import LabelSelector
from kuberay_py.runtime.workqueue import ExponentialBackoff

__all__ = [
    "CLUSTER_ROLE_BINDINGS",
    "CONFIG_MAPS",
    "EVENTS",
    "JOBS",
    "LEASES",
    "NAMESPACES",
    "NODES",
    "PODS",
    "ROLES",
    "ROLE_BINDINGS",
    "SECRETS",
    "SERVICES",
    "SERVICE_ACCOUNTS",
    "AlreadyExists",
    "AnnotationsChanged",
    "ApiError",
    "Cache",
    "CacheSyncTimeout",
    "Client",
    "Conflict",
    "Controller",
    "EventRecorder",
    "ExponentialBackoff",
    "FairShare",
    "Forbidden",
    "GenerationChanged",
    "Informer",
    "InformerOptions",
    "Invalid",
    "KubeClient",
    "LabelSelector",
    "LabelsChanged",
    "LeaderElectionLost",
    "Manager",
    "ManagerOptions",
    "NotCached",
    "NotFound",
    "PatchType",
    "Preconditions",
    "Predicate",
    "PropagationPolicy",
    "Reconciler",
    "Request",
    "Resource",
    "ResourceSelector",
    "Result",
    "ServerError",
    "TerminalError",
    "TooManyRequests",
    "TransportError",
    "Unauthorized",
    "WriteFence",
    "any_of",
    "configure_logging",
    "connect",
    "default_transform",
    "labels_or_annotations_changed",
]
