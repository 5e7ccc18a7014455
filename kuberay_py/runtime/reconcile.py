"""The contract between the runtime and a reconciler.

A reconciler is any object with ``async def reconcile(self, request: Request) -> Result``. It is level
triggered: it gets only the namespace/name of an object that (or whose children) changed, reads the current
state from the cache, and makes the world match. The runtime guarantees one reconcile per key at a time.

* return ``Result()`` when done;
* return ``Result(requeue_after=30)`` to be called again in 30 s (e.g. to poll something external);
* return ``Result(requeue=True)`` to be called again after the key's exponential backoff;
* raise to have the error logged, counted in ``controller_runtime_reconcile_errors_total`` and the key
  retried with exponential backoff (5 ms doubling up to 1000 s, reset by the next success);
* raise :class:`TerminalError` for an error retrying cannot fix: logged and counted, not retried.

The request's object may be gone from the cache: that is how a reconciler learns of a deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol


class Request(NamedTuple):
    """What to reconcile: namespace (``""`` for cluster-scoped objects) and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class Result:
    """What to do after a successful reconcile."""

    requeue: bool = False
    requeue_after: float | None = None


class Reconciler(Protocol):
    async def reconcile(self, request: Request) -> Result: ...


class TerminalError(Exception):
    """A failure that retrying will not fix (e.g. an invalid spec): logged and counted, never requeued."""
