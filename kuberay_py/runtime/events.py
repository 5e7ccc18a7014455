"""An Event recorder on ``events.k8s.io/v1`` that folds repeats into a series instead of flooding.

::

    recorder = manager.event_recorder("widget-controller")
    recorder.normal(widget, "Created", "Created pod demo-web-0", action="CreatePod")
    recorder.warning(widget, "FailedCreate", f"Failed to create pod: {err}", action="CreatePod")

Recording never blocks and never raises: events are queued and written by a background task. The first
occurrence creates an Event. Identical ones (same object, type, reason, action, note and related object)
within ``series_window`` (30 min) only raise the series' count: the Event is then patched with
``series: {count, lastObservedTime}``, at most once per ``flush_interval`` however often it repeats. Events
are best effort: a failed write is logged and dropped.

Similar events (the same but for their note, as one per pod created) are folded as Kubernetes' own event
recorder folds them: once ``max_similar`` different notes were seen within ``similar_window`` (10 min),
the rest become one Event noted "(combined from similar events): ..." whose series counts them. However
many pods a scale-up creates, it writes a handful of Events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import structlog

from kuberay_py.runtime.client import Client
from kuberay_py.runtime.errors import ApiError, NotFound, is_namespace_terminating
from kuberay_py.runtime.objects import Obj, metadata, now_micro, object_reference
from kuberay_py.runtime.resources import EVENTS

log = structlog.get_logger("kuberay_py.runtime.events")

NORMAL = "Normal"
WARNING = "Warning"
_MAX_NOTE = 1024
_MAX_FIELD = 128
COMBINED_PREFIX = "(combined from similar events): "

_SeriesKey = tuple[str, ...]


@dataclass(slots=True)
class _Similar:
    """The notes seen for one object, type, reason, action and related object."""

    first_seen: float
    notes: set[str]


@dataclass(slots=True)
class _Series:
    body: Obj
    first_seen: float
    count: int = 1
    last_observed: str = ""
    written_count: int = 0
    created: bool = False


class EventRecorder:
    def __init__(
        self,
        client: Client,
        *,
        reporting_controller: str,
        reporting_instance: str,
        series_window: float = 1800.0,
        flush_interval: float = 1.0,
        max_series: int = 4096,
        stop_flush_timeout: float = 5.0,
        max_similar: int = 10,
        similar_window: float = 600.0,
    ) -> None:
        self.client = client
        self.reporting_controller = reporting_controller[:_MAX_FIELD]
        self.reporting_instance = reporting_instance[:_MAX_FIELD]
        self.series_window = series_window
        self.flush_interval = flush_interval
        self.max_series = max_series
        self.stop_flush_timeout = stop_flush_timeout
        self.max_similar = max_similar
        self.similar_window = similar_window
        self._series: dict[_SeriesKey, _Series] = {}
        self._similar: dict[_SeriesKey, _Similar] = {}
        self._dirty: set[_SeriesKey] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def normal(
        self, regarding: Obj, reason: str, note: str, *, action: str | None = None, related: Obj | None = None
    ) -> None:
        self.event(regarding, NORMAL, reason, note, action=action, related=related)

    def warning(
        self, regarding: Obj, reason: str, note: str, *, action: str | None = None, related: Obj | None = None
    ) -> None:
        self.event(regarding, WARNING, reason, note, action=action, related=related)

    def event(
        self,
        regarding: Obj,
        type_: str,
        reason: str,
        note: str,
        *,
        action: str | None = None,
        related: Obj | None = None,
    ) -> None:
        """Record an event about ``regarding``; ``action`` defaults to ``reason``."""
        action = (action or reason)[:_MAX_FIELD]
        reason = reason[:_MAX_FIELD]
        note = note[:_MAX_NOTE]
        ref = object_reference(regarding)
        related_ref = object_reference(related) if related is not None else None
        now = time.monotonic()
        similar = (
            ref.get("uid") or "",
            ref.get("kind", ""),
            ref.get("namespace", ""),
            ref["name"],
            type_,
            reason,
            action,
            (related_ref or {}).get("uid", ""),
        )
        if self._folds(similar, note, now):
            note = (COMBINED_PREFIX + note)[:_MAX_NOTE]
            key = (*similar, COMBINED_PREFIX)
        else:
            key = (*similar, note)
        series = self._series.get(key)
        if series is not None and now - series.first_seen < self.series_window:
            series.count += 1
            series.last_observed = now_micro()
        else:
            self._evict_if_full()
            self._series[key] = _Series(self._body(ref, related_ref, type_, reason, action, note), now)
        self._dirty.add(key)
        self._wake.set()

    def _folds(self, similar: _SeriesKey, note: str, now: float) -> bool:
        """Whether this event goes into the combined one of its kind: too many different notes lately."""
        seen = self._similar.get(similar)
        if seen is None or now - seen.first_seen >= self.similar_window:
            if len(self._similar) >= self.max_series:
                self._forget_similar(now)
            seen = self._similar[similar] = _Similar(now, set())
        if len(seen.notes) < self.max_similar:
            seen.notes.add(note)
        return len(seen.notes) >= self.max_similar

    def _forget_similar(self, now: float) -> None:
        expired = [k for k, v in self._similar.items() if now - v.first_seen >= self.similar_window]
        for key in expired or [min(self._similar, key=lambda k: self._similar[k].first_seen)]:
            del self._similar[key]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"events:{self.reporting_controller}")

    async def stop(self) -> None:
        """Write what is pending (for at most `stop_flush_timeout` seconds), then stop the background task:
        events are best effort, and a shutdown must not wait on an API server that refuses them."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(self.stop_flush_timeout):
                await self.flush()
        except TimeoutError:
            log.warning("events left unwritten at shutdown", count=len(self._dirty))

    async def flush(self) -> None:
        """Write every pending creation or series update now. Events of a namespace that is gone are
        dropped, not tried one by one."""
        gone: set[str] = set()
        while self._dirty:
            key = self._dirty.pop()
            series = self._series.get(key)
            if series is None or series.written_count == series.count:
                continue
            namespace = series.body["metadata"]["namespace"]
            if namespace in gone:
                del self._series[key]
                continue
            try:
                if not await self._write(series):
                    gone.add(namespace)
                    del self._series[key]
            except BaseException:  # cancelled mid-write: keep it for the final flush
                self._dirty.add(key)
                raise

    def count(self, regarding: Obj, reason: str) -> int:
        """How many times a reason was recorded about an object in its current series (for tests)."""
        uid = metadata(regarding).get("uid", "")
        name = metadata(regarding).get("name", "")
        return sum(s.count for k, s in self._series.items() if (k[0], k[3], k[5]) == (uid, name, reason))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            await asyncio.sleep(self.flush_interval)

    async def _write(self, series: _Series) -> bool:
        """Write one series; False when its namespace no longer exists."""
        count = series.count
        try:
            if series.created:
                try:
                    await self.client.patch(
                        EVENTS,
                        series.body["metadata"]["name"],
                        {"series": {"count": count, "lastObservedTime": series.last_observed}},
                        series.body["metadata"]["namespace"],
                    )
                except NotFound:  # expired (events live about an hour): start a fresh one
                    series.created = False
            if not series.created:
                body = dict(series.body, metadata=dict(series.body["metadata"]))
                body["metadata"]["name"] = f"{series.body['regarding']['name']}.{time.time_ns():x}"
                if count > 1:
                    body["series"] = {"count": count, "lastObservedTime": series.last_observed}
                created = await self.client.create(EVENTS, body, body["metadata"]["namespace"])
                series.body["metadata"]["name"] = metadata(created)["name"]
                series.created = True
            series.written_count = count
        except NotFound as exc:
            log.warning("could not write event", reason=series.body["reason"], error=repr(exc))
            return False
        except ApiError as exc:
            if is_namespace_terminating(exc):
                # Its namespace is going, and the Event with it.
                log.debug("event dropped: its namespace is being deleted", reason=series.body["reason"])
                return True
            log.warning("could not write event", reason=series.body["reason"], error=repr(exc))
        return True

    def _body(
        self,
        ref: dict[str, Any],
        related: dict[str, Any] | None,
        type_: str,
        reason: str,
        action: str,
        note: str,
    ) -> Obj:
        body: Obj = {
            "apiVersion": EVENTS.api_version,
            "kind": EVENTS.kind,
            "metadata": {"name": "", "namespace": ref.get("namespace") or "default"},
            "eventTime": now_micro(),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": action,
            "reason": reason,
            "regarding": ref,
            "note": note,
            "type": type_,
        }
        if related is not None:
            body["related"] = related
        return body

    def _evict_if_full(self) -> None:
        if len(self._series) < self.max_series:
            return
        now = time.monotonic()
        expired = [k for k, s in self._series.items() if now - s.first_seen >= self.series_window]
        for key in expired:
            if key not in self._dirty:
                self._series.pop(key)
        if len(self._series) < self.max_series:
            return
        oldest = min(self._series, key=lambda k: self._series[k].first_seen)
        self._series.pop(oldest)
        self._dirty.discard(oldest)
