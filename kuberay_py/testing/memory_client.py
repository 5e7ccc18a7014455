"""An in-process :class:`~kuberay_py.runtime.client.Client` with API-server semantics, for fast unit tests.

What it models:

* one global resourceVersion counter (like etcd) stamped on every write, ``uid``/``creationTimestamp`` on
  create, ``generateName``, ``generation`` bumped when anything outside ``metadata``/``status`` changes, and
  writes that change nothing leaving the object (and its resourceVersion) alone;
* optimistic concurrency: a stale ``metadata.resourceVersion`` on update or patch raises ``Conflict``;
* the status subresource for resources with ``has_status``: main writes keep ``.status``, status writes keep
  everything else, and ``.status`` is dropped on create;
* finalizers: delete sets ``deletionTimestamp`` and the object goes once its finalizers are removed;
* delete preconditions (uid, resourceVersion), and, when ``cascade_deletes`` is on, background deletion of
  dependents through their ownerReferences (``Orphan`` propagation leaves them);
* label and field selectors on list and watch, including ADDED/DELETED when an object enters or leaves a
  watch's selector;
* watches replaying history after a resourceVersion, ``Gone`` (410) when it was compacted away
  (:meth:`InMemoryClient.compact`, or ``history_limit`` reached), bookmarks, ``timeout_seconds``, and
  :meth:`InMemoryClient.disconnect_watches` to simulate a dropped connection or API server restart.

Merge patches follow RFC 7386 (lists are replaced) and JSON patches RFC 6902. For assertions,
:attr:`InMemoryClient.actions` logs every request, and :meth:`InMemoryClient.fail_next` makes chosen requests
fail.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import itertools
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Unpack

from kuberay_py.runtime import metrics
from kuberay_py.runtime.client import (
    Client,
    DeleteOptions,
    EventType,
    ListOptions,
    ObjectList,
    PatchOptions,
    PatchType,
    PropagationPolicy,
    SelectorOptions,
    WatchEvent,
    WatchOptions,
)
from kuberay_py.runtime.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
)
from kuberay_py.runtime.objects import Obj, clone, metadata, now_rfc3339
from kuberay_py.runtime.resources import ObjectKey, Resource
from kuberay_py.runtime.selectors import LabelSelector
from kuberay_py.testing.patches import PatchError, apply_json_patch, apply_merge_patch

_CollectionKey = tuple[str, str]  # (group, plural)


@dataclass(frozen=True, slots=True)
class Action:
    """One request made to the in-memory backend."""

    verb: str
    resource: Resource
    namespace: str
    name: str


@dataclass(slots=True)
class _Change:
    resource_version: int
    collection: _CollectionKey
    type: EventType
    obj: Obj
    old: Obj | None


@dataclass(slots=True)
class _Fault:
    verb: str
    resource: Resource | None
    error: ApiError
    remaining: int


@dataclass(eq=False, slots=True)
class _Watcher:
    collection: _CollectionKey
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[WatchEvent | BaseException | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: Obj) -> bool:
        meta = metadata(obj)
        if self.namespace and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and self.fields.matches(obj)

    def view(self, change: _Change) -> WatchEvent | None:
        """What this watch sees of a change, given its selector (entering is ADDED, leaving is DELETED)."""
        if change.collection != self.collection:
            return None
        now = self.matches(change.obj)
        if change.type is EventType.MODIFIED:
            before = change.old is not None and self.matches(change.old)
            if now and before:
                return WatchEvent(EventType.MODIFIED, clone(change.obj))
            if now:
                return WatchEvent(EventType.ADDED, clone(change.obj))
            if before:
                return WatchEvent(EventType.DELETED, clone(change.obj))
            return None
        return WatchEvent(change.type, clone(change.obj)) if now else None


class InMemoryClient(Client):
    """A fake API server in the current process. All state is lost with the instance."""

    def __init__(
        self,
        *,
        history_limit: int = 10_000,
        cascade_deletes: bool = False,
        bookmark_interval: float | None = None,
    ) -> None:
        self._rv = 0
        self._objects: dict[_CollectionKey, dict[ObjectKey, Obj]] = {}
        self._resources: dict[_CollectionKey, Resource] = {}
        self._history: deque[_Change] = deque()
        self._history_limit = history_limit
        self._compacted = 0  # watching from a resourceVersion below this is Gone
        self._watchers: set[_Watcher] = set()
        self._faults: list[_Fault] = []
        self._names = itertools.count(1)
        self.cascade_deletes = cascade_deletes
        self.bookmark_interval = bookmark_interval
        self.actions: list[Action] = []

    # -- test controls -----------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        """The latest resourceVersion handed out."""
        return str(self._rv)

    def compact(self) -> None:
        """Forget all history: any watch or continue token from an older resourceVersion now gets ``Gone``."""
        self._history.clear()
        self._compacted = self._rv

    def disconnect_watches(self, error: BaseException | None = None) -> None:
        """End every open watch, cleanly or by raising ``error`` in the watcher."""
        for watcher in self._watchers:
            watcher.queue.put_nowait(error)

    def send_bookmarks(self) -> None:
        """Send a BOOKMARK at the current resourceVersion to every open watch."""
        for watcher in self._watchers:
            watcher.queue.put_nowait(self._bookmark())

    @property
    def open_watches(self) -> int:
        return len(self._watchers)

    def fail_next(
        self, verb: str, error: ApiError, *, resource: Resource | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` requests with this verb (and resource, if given) raise ``error``."""
        self._faults.append(_Fault(verb, resource, error, times))

    def clear_faults(self) -> None:
        """Drop every fault set up with :meth:`fail_next`."""
        self._faults.clear()

    def objects(self, resource: Resource) -> builtins.list[Obj]:
        """Copies of all stored objects of a resource, without going through a request."""
        return [clone(o) for o in self._collection(resource).values()]

    # -- reads -------------------------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        with self._request("get", resource, namespace, name):
            await asyncio.sleep(0)
            return clone(self._existing(resource, name, namespace))

    async def list(
        self, resource: Resource, namespace: str | None = None, **options: Unpack[ListOptions]
    ) -> ObjectList:
        continue_token, limit = options.get("continue_token"), options.get("limit")
        with self._request("list", resource, namespace, ""):
            await asyncio.sleep(0)
            labels, fields = _selectors(options)
            list_rv, after = self._rv, ObjectKey("", "")
            if continue_token:
                rv_text, _, rest = continue_token.partition(":")
                if int(rv_text) < self._compacted:
                    raise Gone("The provided continue parameter is too old", reason="Expired")
                list_rv, after = int(rv_text), ObjectKey(*rest.split("/", 1))
            items = []
            for key in sorted(self._collection(resource)):
                if continue_token and key <= after:
                    continue
                obj = self._collection(resource)[key]
                if namespace and resource.namespaced and key.namespace != namespace:
                    continue
                if labels.matches(metadata(obj).get("labels")) and fields.matches(obj):
                    items.append(clone(obj))
            token = None
            if limit and len(items) > limit:
                items = items[:limit]
                last = metadata(items[-1])
                token = f"{list_rv}:{last.get('namespace', '')}/{last['name']}"
            return ObjectList(items, str(list_rv), token)

    async def watch(
        self, resource: Resource, namespace: str | None = None, **options: Unpack[WatchOptions]
    ) -> AsyncIterator[WatchEvent]:
        timeout_seconds = options.get("timeout_seconds")
        allow_bookmarks = options.get("allow_bookmarks", True)
        with self._request("watch", resource, namespace, ""):
            watcher = _Watcher(
                self._collection_key(resource),
                namespace if resource.namespaced else None,
                *_selectors(options),
            )
            backlog = self._backlog(watcher, resource, options.get("resource_version"))
        self._watchers.add(watcher)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds if timeout_seconds else None
        try:
            for event in backlog:
                yield event
            while True:
                wait = None if deadline is None else max(0.0, deadline - loop.time())
                if allow_bookmarks and self.bookmark_interval:
                    wait = self.bookmark_interval if wait is None else min(wait, self.bookmark_interval)
                try:
                    # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives just as
                    # the queue yields an item, leaving the watching task unstoppable.
                    async with asyncio.timeout(wait):
                        item = await watcher.queue.get()
                except TimeoutError:
                    if deadline is not None and loop.time() >= deadline:
                        if allow_bookmarks:
                            yield self._bookmark()
                        return
                    yield self._bookmark()
                    continue
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if item.type is EventType.BOOKMARK and not allow_bookmarks:
                    continue
                yield item
        finally:
            self._watchers.discard(watcher)

    # -- writes ------------------------------------------------------------------------------------------

    async def create(
        self, resource: Resource, obj: Obj, namespace: str | None = None, *, field_manager: str | None = None
    ) -> Obj:
        meta = metadata(obj)
        namespace = (namespace or meta.get("namespace") or "") if resource.namespaced else ""
        with self._request("create", resource, namespace, meta.get("name", "")):
            await asyncio.sleep(0)
            return clone(self._create(resource, obj, namespace))

    async def update(self, resource: Resource, obj: Obj, *, field_manager: str | None = None) -> Obj:
        return await self._put(resource, obj, status_only=False)

    async def update_status(self, resource: Resource, obj: Obj) -> Obj:
        """Replace only ``.status``, as a PUT to the status subresource would. Not part of :class:`Client`
        (reconcilers patch status): tests use it to set the state of objects a controller only reads."""
        return await self._put(resource, obj, status_only=True)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        **options: Unpack[PatchOptions],
    ) -> Obj:
        patch_type, subresource = options.get("patch_type", PatchType.MERGE), options.get("subresource")
        with self._request("patch", resource, namespace, name):
            await asyncio.sleep(0)
            existing = self._existing(resource, name, namespace)
            try:
                if patch_type is PatchType.JSON:
                    patched = apply_json_patch(existing, patch)
                else:
                    patched = apply_merge_patch(existing, patch)
                    self._check_resource_version(existing, metadata(patch).get("resourceVersion"))
            except PatchError as exc:
                raise Invalid(str(exc)) from exc
            return clone(self._replace(resource, existing, patched, status_only=subresource == "status"))

    async def delete(
        self, resource: Resource, name: str, namespace: str | None = None, **options: Unpack[DeleteOptions]
    ) -> Obj | None:
        preconditions, propagation_policy = options.get("preconditions"), options.get("propagation_policy")
        with self._request("delete", resource, namespace, name):
            await asyncio.sleep(0)
            existing = self._existing(resource, name, namespace)
            if preconditions:
                if preconditions.uid and preconditions.uid != metadata(existing).get("uid"):
                    raise Conflict(f"Precondition failed: UID in precondition: {preconditions.uid}")
                self._check_resource_version(existing, preconditions.resource_version)
            return clone(self._delete(resource, existing, propagation_policy))

    async def close(self) -> None:
        self.disconnect_watches()

    # -- internals ---------------------------------------------------------------------------------------

    async def _put(self, resource: Resource, obj: Obj, *, status_only: bool) -> Obj:
        meta = metadata(obj)
        with self._request("update", resource, meta.get("namespace"), meta.get("name", "")):
            await asyncio.sleep(0)
            existing = self._existing(resource, meta.get("name", ""), meta.get("namespace"))
            self._check_resource_version(existing, meta.get("resourceVersion"))
            return clone(self._replace(resource, existing, obj, status_only=status_only))

    @contextlib.contextmanager
    def _request(self, verb: str, resource: Resource, namespace: str | None, name: str) -> Iterator[None]:
        self.actions.append(Action(verb, resource, namespace or "", name))
        code = "201" if verb == "create" else "200"
        try:
            for fault in self._faults:
                if fault.verb == verb and fault.resource in (None, resource) and fault.remaining > 0:
                    fault.remaining -= 1
                    raise fault.error
            yield
        except ApiError as exc:
            code = str(exc.status) if exc.status else "<error>"
            raise
        finally:
            self._faults = [f for f in self._faults if f.remaining > 0]
            metrics.REST_CLIENT_REQUESTS.labels(verb, code).inc()

    def _collection_key(self, resource: Resource) -> _CollectionKey:
        key = (resource.group, resource.plural)
        self._resources.setdefault(key, resource)
        return key

    def _collection(self, resource: Resource) -> dict[ObjectKey, Obj]:
        return self._objects.setdefault(self._collection_key(resource), {})

    def _key(self, resource: Resource, name: str, namespace: str | None) -> ObjectKey:
        if resource.namespaced and not namespace:
            raise BadRequest(f"a namespace is required for {resource}")
        return ObjectKey((namespace or "") if resource.namespaced else "", name)

    def _existing(self, resource: Resource, name: str, namespace: str | None) -> Obj:
        obj = self._collection(resource).get(self._key(resource, name, namespace))
        if obj is None:
            raise NotFound(f'{resource} "{name}" not found')
        return obj

    @staticmethod
    def _check_resource_version(existing: Obj, wanted: str | None) -> None:
        if wanted and wanted != metadata(existing).get("resourceVersion"):
            raise Conflict(
                f'Operation cannot be fulfilled on "{metadata(existing).get("name")}": the object has been '
                "modified; please apply your changes to the latest version and try again"
            )

    def _backlog(
        self, watcher: _Watcher, resource: Resource, resource_version: str | None
    ) -> builtins.list[WatchEvent]:
        """Events a new watch starts with: history after its resourceVersion, or the current state."""
        if not resource_version or resource_version == "0":
            return [
                WatchEvent(EventType.ADDED, clone(obj))
                for _, obj in sorted(self._collection(resource).items())
                if watcher.matches(obj)
            ]
        try:
            start = int(resource_version)
        except ValueError as exc:
            raise BadRequest(f"invalid resourceVersion {resource_version!r}") from exc
        if start < self._compacted:
            raise Gone(f"too old resource version: {start} ({self._compacted})", reason="Expired")
        events = []
        for change in self._history:
            if change.resource_version > start and (event := watcher.view(change)) is not None:
                events.append(event)
        return events

    def _bookmark(self) -> WatchEvent:
        return WatchEvent(EventType.BOOKMARK, {"metadata": {"resourceVersion": str(self._rv)}})

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _record(self, resource: Resource, kind: EventType, obj: Obj, old: Obj | None) -> None:
        change = _Change(self._rv, self._collection_key(resource), kind, obj, old)
        self._history.append(change)
        while len(self._history) > self._history_limit:
            self._compacted = self._history.popleft().resource_version
        for watcher in self._watchers:
            event = watcher.view(change)
            if event is not None:
                watcher.queue.put_nowait(event)

    def _create(self, resource: Resource, obj: Obj, namespace: str) -> Obj:
        new = clone(obj)
        meta = new.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise Invalid("metadata.name: Required value: name or generateName is required")
            meta["name"] = f"{meta['generateName']}{next(self._names):05x}"
        key = self._key(resource, meta["name"], namespace)
        if key in self._collection(resource):
            raise AlreadyExists(f'{resource} "{meta["name"]}" already exists')
        new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        if resource.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
        meta.pop("deletionTimestamp", None)
        if resource.has_status:
            new.pop("status", None)
        meta["resourceVersion"] = self._next_rv()
        self._collection(resource)[key] = new
        self._record(resource, EventType.ADDED, new, None)
        return new

    def _replace(self, resource: Resource, existing: Obj, desired: Obj, *, status_only: bool) -> Obj:
        old_meta = metadata(existing)
        if status_only:
            new = {k: v for k, v in existing.items() if k != "status"}
            if "status" in desired:
                new["status"] = clone(desired["status"])
            new["metadata"] = dict(old_meta)
        else:
            new = clone(desired)
            if resource.has_status:
                new.pop("status", None)
                if "status" in existing:
                    new["status"] = existing["status"]
            meta = new.setdefault("metadata", {})
            for immutable in (
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                if immutable in old_meta:
                    meta[immutable] = old_meta[immutable]
                else:
                    meta.pop(immutable, None)
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
        new["metadata"]["resourceVersion"] = old_meta.get("resourceVersion")
        if new == existing:
            return existing
        if _spec_of(new) != _spec_of(existing):
            new["metadata"]["generation"] = int(old_meta.get("generation", 0)) + 1
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self._remove(resource, new)
        new["metadata"]["resourceVersion"] = self._next_rv()
        self._collection(resource)[ObjectKey(old_meta.get("namespace", ""), old_meta["name"])] = new
        self._record(resource, EventType.MODIFIED, new, existing)
        return new

    def _delete(self, resource: Resource, existing: Obj, policy: PropagationPolicy | None) -> Obj:
        meta = metadata(existing)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return existing
            new = dict(existing)
            new["metadata"] = dict(meta, deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0)
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._collection(resource)[ObjectKey(meta.get("namespace", ""), meta["name"])] = new
            self._record(resource, EventType.MODIFIED, new, existing)
            return new
        return self._remove(resource, existing, cascade=policy is not PropagationPolicy.ORPHAN)

    def _remove(self, resource: Resource, obj: Obj, *, cascade: bool = True) -> Obj:
        meta = metadata(obj)
        del self._collection(resource)[ObjectKey(meta.get("namespace", ""), meta["name"])]
        gone = dict(obj)
        gone["metadata"] = dict(meta, resourceVersion=self._next_rv())
        self._record(resource, EventType.DELETED, gone, None)
        if cascade and self.cascade_deletes:
            self._delete_dependents(str(meta.get("uid", "")))
        return gone

    def _delete_dependents(self, owner_uid: str) -> None:
        for collection, objects in list(self._objects.items()):
            resource = self._resources[collection]
            for obj in list(objects.values()):
                refs = metadata(obj).get("ownerReferences") or ()
                if any(ref.get("uid") == owner_uid for ref in refs):
                    self._delete(resource, obj, PropagationPolicy.BACKGROUND)


def _selectors(options: SelectorOptions) -> tuple[LabelSelector, FieldSelector]:
    return LabelSelector.parse(options.get("label_selector")), FieldSelector.parse(
        options.get("field_selector")
    )


def _spec_of(obj: Obj) -> dict[str, Any]:
    """Everything whose change bumps ``metadata.generation``."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A field selector as the API server applies it: ``path=value`` / ``path!=value`` clauses (``==`` is
    ``=``) on dotted paths such as ``metadata.name`` or ``status.phase``, all of which must hold."""

    terms: tuple[tuple[str, bool, str], ...] = ()  # (path, wants_equal, value)

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        terms = []
        for part in (p.strip() for p in (text or "").split(",")):
            if not part:
                continue
            if "!=" in part:
                path, value = part.split("!=", 1)
                terms.append((path.strip(), False, value.strip()))
            else:
                path, equals, value = part.replace("==", "=").partition("=")
                if not equals:
                    raise ValueError(f"invalid field selector clause: {part!r}")
                terms.append((path.strip(), True, value.strip()))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(
            (_field_text(obj, path) == value) == wants_equal for path, wants_equal, value in self.terms
        )

    def __str__(self) -> str:
        return ",".join(f"{p}{'=' if eq else '!='}{v}" for p, eq, v in self.terms)


def _field_text(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)
