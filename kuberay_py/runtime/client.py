"""The client interface every part of the runtime (and every reconciler) talks to the API through.

Two backends implement :class:`Client`:

* :class:`kuberay_py.runtime.kube_client.KubeClient`: a real API server, over one shared HTTP connection pool;
* :class:`kuberay_py.testing.memory_client.InMemoryClient`: an in-process fake with resourceVersions, watches
  (including 410 Gone), selectors, the status subresource and generation bumps, for fast unit tests.

Objects go in and come out as plain JSON dicts. Namespaced calls take ``namespace``; for ``create`` and
``update`` it defaults to the object's own ``metadata.namespace``. Every method raises a subclass of
:class:`kuberay_py.runtime.errors.ApiError` on failure.

``watch`` is an async generator: iterate it inside ``contextlib.aclosing`` (or break out of the loop and let
it be collected) so the underlying stream is released. It yields :class:`WatchEvent` and raises
:class:`~kuberay_py.runtime.errors.Gone` when the resourceVersion it was started from is too old.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, Unpack

from kuberay_py.runtime.objects import Obj
from kuberay_py.runtime.resources import Resource


class PatchType(enum.StrEnum):
    """Patch flavours; the value is the request's Content-Type."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch notification. For ``BOOKMARK`` only ``object.metadata.resourceVersion`` is meaningful."""

    type: EventType
    object: Obj

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion", ""))


@dataclass(slots=True)
class ObjectList:
    """One page (or all) of a list: the items, the collection's resourceVersion and the continue token."""

    items: list[Obj]
    resource_version: str | None
    continue_token: str | None = None


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Delete only if the object still has this uid and/or resourceVersion (else ``Conflict``)."""

    uid: str | None = None
    resource_version: str | None = None

    def to_api(self) -> dict[str, str]:
        body: dict[str, str] = {}
        if self.uid:
            body["uid"] = self.uid
        if self.resource_version:
            body["resourceVersion"] = self.resource_version
        return body


class SelectorOptions(TypedDict, total=False):
    """What ``list`` and ``watch`` share: which objects, and from which resourceVersion."""

    label_selector: str | None
    field_selector: str | None
    resource_version: str | None


class ListOptions(SelectorOptions, total=False):
    """``list``'s keyword arguments: the selectors, and paging (``limit``, ``continue_token``)."""

    limit: int | None
    continue_token: str | None


class WatchOptions(SelectorOptions, total=False):
    """``watch``'s keyword arguments; bookmarks are asked for unless ``allow_bookmarks`` is False."""

    timeout_seconds: float | None
    allow_bookmarks: bool


class PropagationPolicy(enum.StrEnum):
    ORPHAN = "Orphan"
    BACKGROUND = "Background"
    FOREGROUND = "Foreground"


class WriteOptions(TypedDict, total=False):
    """``patch_status``'s keyword arguments: a merge patch unless ``patch_type`` says otherwise."""

    patch_type: PatchType
    field_manager: str | None


class PatchOptions(WriteOptions, total=False):
    """``patch``'s keyword arguments: those of ``patch_status``, and which subresource (none: the object)."""

    subresource: str | None


class DeleteOptions(TypedDict, total=False):
    """``delete``'s keyword arguments: what must still hold, what happens to dependents, how long pods get."""

    preconditions: Preconditions | None
    propagation_policy: PropagationPolicy | None
    grace_period_seconds: int | None


class Client(Protocol):
    """What the runtime and reconcilers need from the API server.

    The backends subclass it, so that they share :meth:`patch_status`. ``list`` and ``watch`` take their
    keyword arguments as :class:`ListOptions` and :class:`WatchOptions`, ``patch`` and ``delete`` as
    :class:`PatchOptions` and :class:`DeleteOptions`: each option is named once, here, not again in each
    backend.
    """

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        """One object; ``NotFound`` if it does not exist."""
        ...

    async def list(
        self, resource: Resource, namespace: str | None = None, **options: Unpack[ListOptions]
    ) -> ObjectList:
        """Objects of a collection (all namespaces when ``namespace`` is None), paged by ``limit``."""
        ...

    def watch(
        self, resource: Resource, namespace: str | None = None, **options: Unpack[WatchOptions]
    ) -> AsyncIterator[WatchEvent]:
        """Changes after ``resource_version``; ends when the server closes the stream (timeout)."""
        ...

    async def create(
        self, resource: Resource, obj: Obj, namespace: str | None = None, *, field_manager: str | None = None
    ) -> Obj:
        """Create ``obj`` (``metadata.generateName`` works); ``AlreadyExists`` if the name is taken."""
        ...

    async def update(self, resource: Resource, obj: Obj, *, field_manager: str | None = None) -> Obj:
        """Replace the object; ``Conflict`` if ``metadata.resourceVersion`` is stale."""
        ...

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        **options: Unpack[PatchOptions],
    ) -> Obj:
        """Patch one object, or one of its subresources."""
        ...

    async def patch_status(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        **options: Unpack[WriteOptions],
    ) -> Obj:
        """Patch ``.status`` through the status subresource. Backends inherit this from :class:`Client`."""
        return await self.patch(resource, name, patch, namespace, **options, subresource="status")

    async def delete(
        self, resource: Resource, name: str, namespace: str | None = None, **options: Unpack[DeleteOptions]
    ) -> Obj | None:
        """Delete one object; returns the object (still there when finalizers hold it) or None."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
