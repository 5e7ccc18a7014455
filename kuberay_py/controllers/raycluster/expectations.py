"""Guards against acting on a cache that has not yet seen this operator's own writes.

After creating or deleting pods for a cluster, the reconciler records the resourceVersion the API server
returned. Until the pod informer has delivered events up to that version, the cache may still miss new pods
or show deleted ones, and a naive diff would create extras or delete the wrong pods. So the cluster's pods are
left alone until the informer catches up, however long that takes: a stalled watch delays a cluster, it never
makes it plan on a stale cache. A wait longer than `report_after` since the last write is reported (see
`behind`), so that a stuck cache is visible instead of silent.

Expectations live only in memory: after a restart the cache is freshly listed, which already reflects every
write the previous process completed, so nothing needs to survive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kuberay_py.runtime.objects import version_number


@dataclass(slots=True)
class _Pending:
    resource_version: int
    since: float
    """When the last write this waits for was recorded."""


class Expectations:
    """Per-key (usually "namespace/name" of a cluster) resourceVersions the cache must reach."""

    def __init__(
        self,
        observed_version: Callable[[], str | None],
        report_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._observed_version = observed_version
        self._report_after = report_after
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    def expect(self, key: str, resource_version: str | None) -> None:
        """Remember that the cache must reach `resource_version` before `key` is acted on again."""
        version = version_number(resource_version)
        if version <= 0:
            return
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = _Pending(version, self._clock())
        elif version > pending.resource_version:
            pending.resource_version = version
            pending.since = self._clock()

    def satisfied(self, key: str) -> bool:
        pending = self._pending.get(key)
        if pending is None:
            return True
        if version_number(self._observed_version()) >= pending.resource_version:
            del self._pending[key]
            return True
        return False

    def behind(self, key: str) -> float | None:
        """Seconds the cache has kept `key` waiting since its last write, once that passes `report_after`."""
        pending = self._pending.get(key)
        if pending is None:
            return None
        waited = self._clock() - pending.since
        return waited if waited >= self._report_after else None

    def stalled(self) -> int:
        """How many keys wait longer than `report_after`."""
        now = self._clock()
        return sum(1 for p in self._pending.values() if now - p.since >= self._report_after)

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)
