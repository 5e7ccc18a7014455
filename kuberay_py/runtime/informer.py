"""Informer: keeps a :class:`~kuberay_py.runtime.store.Store` in step with one resource and tells handlers.

The loop is client-go's reflector:

1. **List** (paged, a consistent read) and fill the store. Objects that were cached but are absent from the
   new list are reported as deleted, so deletes that happened while the watch was down are never missed.
2. **Watch** from the list's resourceVersion with bookmarks on, so the resourceVersion to resume from stays
   fresh even when nothing changes. Each watch asks the server to end it after a random 5-10 minutes, and the
   client gives up on a stream that outlives that, so a silently dead connection is noticed.
3. When a watch ends, watch again from the last resourceVersion seen. On ``410 Gone`` (the resourceVersion
   was compacted away) go back to 1. On any other error reconnect with jittered exponential backoff
   (tenacity); the backoff starts over once the connection has delivered something.

Every object passes through ``transform`` before it is stored or handed to handlers. The default
(:func:`default_transform`) drops ``metadata.managedFields`` and the
``kubectl.kubernetes.io/last-applied-configuration`` annotation, then interns keys and short strings so that
all cached objects share them, which shrinks every cached object. A custom transform can also drop fields its
controller never reads (compose it with :func:`default_transform`).

Handlers get the stored objects themselves (no copies): do not mutate them. A handler added after the
informer started first gets ``on_add`` for everything already cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from kuberay_py.runtime.cancellation import raise_if_cancelling
from kuberay_py.runtime.client import Client, EventType, WatchEvent
from kuberay_py.runtime.errors import Gone
from kuberay_py.runtime.objects import Obj, key_of, metadata
from kuberay_py.runtime.resources import Resource
from kuberay_py.runtime.store import Store

Transform = Callable[[Obj], Obj]

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Longer strings (commands, certificates, JSON blobs) are rarely repeated exactly; not worth a lookup.
_SHARED_STRING_MAX = 64
_intern = sys.intern

log = structlog.get_logger("kuberay_py.runtime.informer")


def default_transform(obj: Obj) -> Obj:
    """What the cache stores by default: :func:`strip_bulky_metadata`, then :func:`share_strings`."""
    return share_strings(strip_bulky_metadata(obj))


def share_strings(obj: Obj) -> Obj:
    """A copy whose keys and short string values are interned, so all cached objects share one copy of each.

    Every watch event is decoded on its own, so without this each cached pod would carry its own copies of
    ``"metadata"``, ``"containerPort"``, ``"Running"``..., repeated in every object.
    """
    shared: Obj = _share(obj)
    return shared


def _share(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {_intern(k): _share(v) for k, v in value.items()}
    if kind is list:
        return [_share(v) for v in value]
    if kind is str and len(value) <= _SHARED_STRING_MAX:
        return _intern(value)
    return value


def strip_bulky_metadata(obj: Obj) -> Obj:
    """The default transform: drop ``managedFields`` and kubectl's last-applied annotation, in place."""
    meta = obj.get("metadata")
    if meta:
        meta.pop("managedFields", None)
        annotations = meta.get("annotations")
        if annotations and _LAST_APPLIED in annotations:
            del annotations[_LAST_APPLIED]
            if not annotations:
                del meta["annotations"]
    return obj


def _retriable(exc: BaseException) -> bool:
    """Every error is worth another try, unless it hides a cancellation."""
    task = asyncio.current_task()
    return isinstance(exc, Exception) and not (task is not None and task.cancelling())


class EventHandler(Protocol):
    """Receives cache changes. Called on the event loop: keep it quick (typically: enqueue a key)."""

    def on_add(self, obj: Obj) -> None: ...

    def on_update(self, old: Obj, new: Obj) -> None: ...

    def on_delete(self, obj: Obj) -> None: ...


class Informer:
    """List+watch of one resource (optionally one namespace and selectors) into a store."""

    def __init__(
        self,
        client: Client,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = default_transform,
        page_size: int = 100,
        watch_timeout: tuple[float, float] = (300.0, 600.0),
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace if resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store = Store()
        self._transform = transform
        self._page_size = page_size
        self._watch_timeout = watch_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._resource_version: str | None = None
        self._progress = False
        self.relists = 0
        self._log = log.bind(resource=str(resource), namespace=self.namespace or "")

    @property
    def has_synced(self) -> bool:
        """True once the first list has been stored and its handlers called."""
        return self._synced.is_set()

    @property
    def resource_version(self) -> str | None:
        """The resourceVersion the next watch starts from (None: a list is due)."""
        return self._resource_version

    async def wait_synced(self) -> None:
        await self._synced.wait()

    def add_handler(self, handler: EventHandler) -> None:
        self._handlers.append(handler)
        for obj in self.store.values():
            self._call(handler.on_add, obj)

    def remove_handler(self, handler: EventHandler) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    async def run(self) -> None:
        """List and watch until cancelled."""
        while True:
            retrying = AsyncRetrying(
                wait=self._reconnect_wait(),
                retry=retry_if_exception(_retriable),
                before_sleep=self._log_retry,
                reraise=True,
            )
            try:
                await retrying(self._list_and_watch)
            except Exception as exc:
                raise_if_cancelling(exc)
                raise

    def _reconnect_wait(self) -> wait_base:
        """ "Equal jitter": half of each exponential step is fixed, half random, so a fleet of clients
        reconnecting after an API server restart spreads out instead of arriving together."""
        half_initial, half_max = self._backoff_initial / 2, self._backoff_max / 2
        return wait_exponential(multiplier=half_initial, max=half_max) + wait_random_exponential(
            multiplier=half_initial, max=half_max
        )

    async def _list_and_watch(self) -> None:
        """One connection's worth of work. Returns to start afresh; raises to back off first."""
        self._progress = False
        if self._resource_version is None:
            await self._relist()
        while True:
            try:
                await self._watch_once()
            except Gone:
                self._log.info("watch resourceVersion expired, listing again", rv=self._resource_version)
                self._resource_version = None
                if self._progress:
                    return
                raise
            except Exception as exc:
                raise_if_cancelling(exc)
                if not self._progress:
                    raise
                self._log.info("watch interrupted, reconnecting", error=repr(exc))
                return

    async def _relist(self) -> None:
        seen: set[Any] = set()
        continue_token: str | None = None
        while True:
            page = await self.client.list(
                self.resource,
                self.namespace,
                label_selector=self.label_selector,
                field_selector=self.field_selector,
                limit=self._page_size,
                continue_token=continue_token,
            )
            for item in page.items:
                obj = self._prepare(item)
                seen.add(key_of(obj))
                self._store_and_notify(obj)
            continue_token = page.continue_token
            if not continue_token:
                break
        for key in self.store.snapshot_keys():
            if key not in seen:
                old = self.store.delete(key)
                if old is not None:  # deleted while we were not watching
                    self._notify_delete(old)
        self._resource_version = page.resource_version
        self.relists += 1
        self._progress = True
        self._synced.set()
        self._log.debug("listed", count=len(self.store), rv=self._resource_version)

    def open_watch(self, resource_version: str | None, timeout_seconds: float) -> AsyncIterator[WatchEvent]:
        """A watch of what this informer follows (its resource, namespace and selectors), with bookmarks."""
        return self.client.watch(
            self.resource,
            self.namespace,
            resource_version=resource_version,
            label_selector=self.label_selector,
            field_selector=self.field_selector,
            timeout_seconds=timeout_seconds,
            allow_bookmarks=True,
        )

    async def _watch_once(self) -> None:
        events = self.open_watch(self._resource_version, random.uniform(*self._watch_timeout))
        async with contextlib.aclosing(events):  # type: ignore[type-var]
            async for event in events:
                raise_if_cancelling()  # in case the stream swallowed our cancellation to deliver this
                self._apply(event)
                self._progress = True

    def _apply(self, event: WatchEvent) -> None:
        if event.type is EventType.BOOKMARK:
            self._resource_version = event.resource_version or self._resource_version
            return
        obj = self._prepare(event.object)
        if event.type is EventType.DELETED:
            self.store.delete(key_of(obj))
            self._notify_delete(obj)
        else:
            self._store_and_notify(obj)
        self._resource_version = event.resource_version or self._resource_version

    def _prepare(self, obj: Obj) -> Obj:
        # List items come without apiVersion/kind; owner references and events need them.
        obj["apiVersion"] = self.resource.api_version
        obj["kind"] = self.resource.kind
        return self._transform(obj) if self._transform else obj

    def _store_and_notify(self, obj: Obj) -> None:
        old = self.store.upsert(obj)
        if old is None:
            for handler in self._handlers:
                self._call(handler.on_add, obj)
        elif metadata(old).get("resourceVersion") != metadata(obj).get("resourceVersion"):
            for handler in self._handlers:
                self._call(handler.on_update, old, obj)

    def _notify_delete(self, obj: Obj) -> None:
        for handler in self._handlers:
            self._call(handler.on_delete, obj)

    def _call(self, func: Callable[..., None], *args: Obj) -> None:
        try:
            func(*args)
        except Exception:
            self._log.exception("event handler failed")

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        self._log.warning(
            "list/watch failed, retrying",
            error=repr(error),
            attempt=state.attempt_number,
            retry_in=round(delay, 3),
        )
