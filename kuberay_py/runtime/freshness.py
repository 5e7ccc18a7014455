"""Catching informers up with the API server, so a new leader never acts on what predates its takeover.

Right after a takeover the old leader's last writes may not have reached this process's informers yet: a
reconcile then would undo or repeat them. :func:`wait_caught_up` reads the API server's current
resourceVersion for each informer (a consistent list of one object, with the informer's own namespace and
selectors) and waits until the informer has seen every change up to it.

An informer's resourceVersion moves with its watch events and with bookmarks, which the API server sends
rarely, so an idle informer can lag far behind the current resourceVersion while missing nothing.
Rather than wait for a bookmark, a short probe watch from the informer's resourceVersion shows what changed
since: nothing before the target means the informer is already current; otherwise it must get past the last
such change. The probe asks for a short timeout because the API server bookmarks a watch just before it
times out, but only with a resourceVersion past what the watch has already covered; when the latest write
of all was to this very resource there is none, and the next round (after the lease renewals have moved the
revision on) gets one.

ResourceVersions are compared as integers (etcd revisions). One that is not an integer cannot be compared and
is taken as current.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from kuberay_py.runtime.client import EventType
from kuberay_py.runtime.errors import ApiError
from kuberay_py.runtime.informer import Informer

PROBE_WATCH_SECONDS = 3.0
_PROBE_GRACE = 5.0  # a probe the server holds open past its timeout by this much is abandoned
_POLL = 0.02
_RETRY = 0.5

log = structlog.get_logger("kuberay_py.runtime.freshness")


async def wait_caught_up(
    informers: Sequence[Informer], *, timeout: float, slow_after: float
) -> list[Informer]:
    """Wait until every informer is as new as the API server is now; return those still behind at ``timeout``.

    Logs which are behind once ``slow_after`` seconds have passed.
    """
    if not informers:
        return []
    deadline = _now() + timeout
    async with asyncio.TaskGroup() as group:
        tasks = {group.create_task(catch_up(informer, deadline)): informer for informer in informers}
        _, pending = await asyncio.wait(tasks, timeout=min(slow_after, timeout))
        if pending:
            log.info("waiting for the cache to catch up with the API server", behind=_names(tasks, pending))
    behind = [informer for task, informer in tasks.items() if not task.result()]
    if behind:
        log.warning(
            "cache not caught up with the API server in time, starting anyway", behind=_names_of(behind)
        )
    return behind


async def catch_up(informer: Informer, deadline: float) -> bool:
    """Wait until ``informer`` has seen every change up to the API server's current resourceVersion.

    False if ``deadline`` (event-loop time) passes first.
    """
    target: int | None = None
    while _now() < deadline:
        # Read anew each round: a consistent list also brings the API server's watch cache up to the current
        # revision, and only a cache that has moved past a probe's starting point sends it a bookmark.
        current = await _current_resource_version(informer, deadline)
        if current is None:
            return False
        if target is None:
            target = _parse(current)
            if target is None:
                return True
        seen = _parse(informer.resource_version)
        if seen is not None and seen >= target:
            return True
        if seen is None:  # relisting: its new list will be at least as new as the target
            await asyncio.sleep(_POLL)
            continue
        began = _now()
        needed = await _last_change(informer, since=seen, target=target, deadline=deadline)
        if needed is not None and await _until_seen(informer, needed, deadline):
            return True
        if needed is None and _now() - began < PROBE_WATCH_SECONDS:
            await asyncio.sleep(_RETRY)  # the probe failed outright: do not hammer the API server
    return False


async def _current_resource_version(informer: Informer, deadline: float) -> str | None:
    """The API server's resourceVersion now, as the informer would list it; None if ``deadline`` passed."""
    while True:
        try:
            async with asyncio.timeout(max(0.0, deadline - _now())):
                page = await informer.client.list(
                    informer.resource,
                    informer.namespace,
                    label_selector=informer.label_selector,
                    field_selector=informer.field_selector,
                    limit=1,
                )
            return page.resource_version
        except (ApiError, TimeoutError):
            if _now() + _RETRY >= deadline:
                return None
            await asyncio.sleep(_RETRY)


async def _last_change(informer: Informer, *, since: int, target: int, deadline: float) -> int | None:
    """The resourceVersion of the last change after ``since`` and up to ``target`` (``since`` if none).

    None when the probe could not tell (it failed, or ended before reaching ``target``).
    """
    last = since
    budget = min(PROBE_WATCH_SECONDS + _PROBE_GRACE, max(0.0, deadline - _now()))
    try:
        async with asyncio.timeout(budget):
            events = informer.open_watch(str(since), PROBE_WATCH_SECONDS)
            async with contextlib.aclosing(events):  # type: ignore[type-var]
                async for event in events:
                    version = _parse(event.resource_version)
                    if version is None:
                        continue
                    if event.type is not EventType.BOOKMARK and version <= target:
                        last = version
                    if version >= target:
                        return last
    except (ApiError, TimeoutError):
        pass  # the informer meets the same error and recovers; the caller probes again
    return None


async def _until_seen(informer: Informer, version: int, deadline: float) -> bool:
    """Wait until the informer's resourceVersion reaches ``version``; False at ``deadline``."""
    while _now() < deadline:
        seen = _parse(informer.resource_version)
        if seen is not None and seen >= version:
            return True
        await asyncio.sleep(_POLL)
    return False


def _parse(resource_version: str | None) -> int | None:
    try:
        return int(resource_version) if resource_version else None
    except ValueError:
        return None


def _now() -> float:
    return asyncio.get_running_loop().time()


def _names(tasks: dict[asyncio.Task[bool], Informer], pending: set[asyncio.Task[bool]]) -> list[str]:
    return _names_of([tasks[task] for task in pending])


def _names_of(informers: Sequence[Informer]) -> list[str]:
    return [str(informer.resource) for informer in informers]
