"""Guards against acting on a cache that has not yet seen this operator's own writes.

After creating or deleting pods for a cluster, the reconciler records the resourceVersion the API server
returned. Until the pod informer has delivered events up to that version, the cache may still miss new pods
or show deleted ones, and a naive diff would create extras or delete the wrong pods. So the cluster's pods are
left alone until the informer catches up (or a safety timeout passes, in case an event was lost).

Expectations live only in memory: after a restart the cache is freshly listed, which already reflects every
write the previous process completed, so nothing needs to survive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


def _version(resource_version: str | None) -> int:
    try:
        return int(resource_version or 0)
    except ValueError:
        return 0


@dataclass(slots=True)
class _Pending:
    resource_version: int
    since: float


class Expectations:
    """Per-key (usually "namespace/name" of a cluster) resourceVersions the cache must reach."""

    def __init__(
        self,
        observed_version: Callable[[], str | None],
        timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._observed_version = observed_version
        self._timeout = timeout
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    def expect(self, key: str, resource_version: str | None) -> None:
        """Remember that the cache must reach `resource_version` before `key` is acted on again."""
        version = _version(resource_version)
        if version <= 0:
            return
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = _Pending(version, self._clock())
        elif version > pending.resource_version:
            pending.resource_version = version

    def satisfied(self, key: str) -> bool:
        pending = self._pending.get(key)
        if pending is None:
            return True
        caught_up = _version(self._observed_version()) >= pending.resource_version
        if caught_up or self._clock() - pending.since > self._timeout:
            del self._pending[key]
            return True
        return False

    def forget(self, key: str) -> None:
        self._pending.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)
