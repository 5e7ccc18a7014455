"""The shared cache: one informer per resource, and the read API reconcilers use.

Reconcilers read from the cache, never from the API server, and write through the client. Reads return the
cached dicts themselves: never mutate them; ``objects.clone`` first.

::

    pod = cache.get(PODS, "web-0", "default")                          # Obj | None
    pods = cache.list(PODS, "default", labels="example.com/widget=demo")  # str, dict or LabelSelector
    children = cache.list(PODS, owner_uid=widget_uid)                    # by controller ownerReference

Informers are registered before the cache starts (the controller builder does it for ``for_``/``owns``/
``watches``); an informer registered later starts at once. Per-resource selectors narrow what is cached, which
is how an operator keeps memory flat in a busy cluster::

    Cache(client, selectors={PODS: ResourceSelector(label_selector="app.kubernetes.io/managed-by=widgets")})

``transforms`` replaces the default transform for chosen resources, e.g. to drop pod fields a controller
never reads (start from ``default_transform`` so managedFields still go)::

    def slim_pod(pod: Obj) -> Obj:
        pod.get("spec", {}).pop("volumes", None)
        return default_transform(pod)

    Cache(client, transforms={PODS: slim_pod})
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

from kuberay_py.runtime.client import Client
from kuberay_py.runtime.informer import Informer, Transform, default_transform
from kuberay_py.runtime.objects import Obj
from kuberay_py.runtime.resources import ObjectKey, Resource
from kuberay_py.runtime.selectors import LabelSelector


@dataclass(frozen=True, slots=True)
class ResourceSelector:
    """Restricts what the cache holds of one resource."""

    label_selector: str | None = None
    field_selector: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class InformerOptions:
    """Tuning shared by all informers of a cache (see :class:`~kuberay_py.runtime.informer.Informer`)."""

    page_size: int = 100
    """Objects per list request. A page is decoded whole, its Python objects take several times the size of
    the JSON, and the allocator keeps what a page's peak took: smaller pages keep the resident size down."""
    watch_timeout: tuple[float, float] = (300.0, 600.0)
    backoff_initial: float = 0.2
    backoff_max: float = 30.0


class NotCached(LookupError):
    """The resource has no informer in this cache."""


class Cache:
    """Informers keyed by resource, started together; reads go to their stores."""

    def __init__(
        self,
        client: Client,
        *,
        namespace: str | None = None,
        selectors: Mapping[Resource, ResourceSelector] | None = None,
        transform: Transform | None = default_transform,
        transforms: Mapping[Resource, Transform] | None = None,
        options: InformerOptions | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self._selectors = dict(selectors or {})
        self._transform = transform
        self._transforms = dict(transforms or {})
        self._options = options or InformerOptions()
        self._informers: dict[Resource, Informer] = {}
        self._tasks: dict[Resource, asyncio.Task[None]] = {}
        self._started = False

    @property
    def informers(self) -> builtins.list[Informer]:
        return list(self._informers.values())

    def informer(self, resource: Resource) -> Informer:
        """The informer of ``resource``, created (and started, if the cache runs) on first use."""
        informer = self._informers.get(resource)
        if informer is None:
            selector = self._selectors.get(resource, ResourceSelector())
            opts = self._options
            informer = Informer(
                self.client,
                resource,
                namespace=selector.namespace or self.namespace,
                label_selector=selector.label_selector,
                field_selector=selector.field_selector,
                transform=self._transforms.get(resource, self._transform),
                page_size=opts.page_size,
                watch_timeout=opts.watch_timeout,
                backoff_initial=opts.backoff_initial,
                backoff_max=opts.backoff_max,
            )
            self._informers[resource] = informer
            if self._started:
                self._start(informer)
        return informer

    def start(self) -> None:
        """Start every informer as a background task (idempotent)."""
        self._started = True
        for informer in self._informers.values():
            if informer.resource not in self._tasks:
                self._start(informer)

    async def wait_synced(self) -> None:
        """Wait until every informer has listed once (bound it with ``asyncio.timeout``)."""
        for informer in list(self._informers.values()):
            await informer.wait_synced()

    @property
    def synced(self) -> bool:
        return all(i.has_synced for i in self._informers.values())

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        self._started = False
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- reads -------------------------------------------------------------------------------------------

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj | None:
        """The cached object, or None."""
        key = ObjectKey((namespace or "") if resource.namespaced else "", name)
        return self._store_of(resource).store.get(key)

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        labels: LabelSelector | str | Mapping[str, str] | None = None,
        owner_uid: str | None = None,
    ) -> builtins.list[Obj]:
        """Cached objects, filtered by namespace, label selector and controller owner uid."""
        if isinstance(labels, str):
            selector: LabelSelector | None = LabelSelector.parse(labels)
        elif isinstance(labels, Mapping):
            selector = LabelSelector.from_match_labels(labels)
        else:
            selector = labels
        return self._store_of(resource).store.select(
            namespace if resource.namespaced else None, selector, owner_uid
        )

    def _store_of(self, resource: Resource) -> Informer:
        informer = self._informers.get(resource)
        if informer is None:
            raise NotCached(f"{resource} is not cached: watch it with for_/owns/watches or cache.informer()")
        return informer

    def _start(self, informer: Informer) -> None:
        self._tasks[informer.resource] = asyncio.create_task(
            informer.run(), name=f"informer:{informer.resource}"
        )
