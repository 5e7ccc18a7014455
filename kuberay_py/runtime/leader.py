"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's algorithm and defaults.

* A candidate takes the lease when it is free (no holder, e.g. released on a clean shutdown) or when its
  holder has not renewed it for ``lease_duration`` seconds, measured on the candidate's own clock from when it
  last saw the lease change (so clock skew between nodes does not matter).
* The leader renews every ``retry_period``; if it cannot renew for ``renew_deadline`` (shorter than the lease
  duration, so it stops before anyone else may start), or it sees another holder, leadership is lost:
  :meth:`LeaderElector.hold` returns and the manager stops reconciling at once.
* :meth:`LeaderElector.release` clears the holder so a standby takes over without waiting out the lease.
* :meth:`LeaderElector.holds_lease` says, cheaply, whether the lease is certainly still ours: leading, and
  the last successful renewal began less than ``renew_deadline`` ago. A standby waits ``lease_duration``
  from the last renewal it saw, so while this holds no one else can lead.

Writes use the lease's resourceVersion, so two candidates can never both win the same round. Give the elector
a client with a connection pool of its own (the manager does): a renewal queued behind slow requests on a
shared pool can miss the renew deadline however healthy the API server is.
``leader_election_master_status{name}`` is 1 while this process leads.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from typing import Any

import structlog

from kuberay_py.runtime import metrics
from kuberay_py.runtime.client import Client
from kuberay_py.runtime.errors import AlreadyExists, ApiError, Conflict, NotFound
from kuberay_py.runtime.objects import Obj, now_micro
from kuberay_py.runtime.resources import LEASES

log = structlog.get_logger("kuberay_py.runtime.leader")

_JITTER = 1.2  # retries are spread over [retry_period, retry_period * 1.2], as client-go does


def default_identity() -> str:
    """``hostname_uuid``: unique per process, and says which pod holds the lease."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    def __init__(
        self,
        client: Client,
        *,
        name: str,
        namespace: str,
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
    ) -> None:
        if not lease_duration > renew_deadline > retry_period * _JITTER:
            raise ValueError("need lease_duration > renew_deadline > retry_period * 1.2")
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._last_renew = 0.0
        self._leading = False
        self._gauge = metrics.LEADER_ELECTION_STATUS.labels(name)
        self._gauge.set(0)
        self._log = log.bind(lease=f"{namespace}/{name}", identity=self.identity)

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def last_renewal(self) -> float:
        """``time.monotonic()`` when the last successful acquire-or-renew round began."""
        return self._last_renew

    def holds_lease(self) -> bool:
        """Leading, with the last successful renewal begun within ``renew_deadline``: no one else can lead."""
        return self._leading and time.monotonic() - self._last_renew < self.renew_deadline

    async def acquire(self) -> None:
        """Wait until this process holds the lease."""
        self._log.info("waiting for leadership")
        while not await self._try(self.retry_period * 5):  # noqa: ASYNC110 - polling the lease is the protocol
            await asyncio.sleep(self.retry_period * random.uniform(1.0, _JITTER))
        self._set_leading(True)
        self._log.info("became leader")

    async def hold(self) -> None:
        """Renew the lease until that fails for ``renew_deadline`` or another holder appears; then return."""
        while self._leading:
            await asyncio.sleep(self.retry_period * random.uniform(1.0, _JITTER))
            deadline = self._last_renew + self.renew_deadline
            while not await self._try(max(0.1, deadline - time.monotonic())):
                if self._held_by_other() or time.monotonic() >= deadline:
                    self._set_leading(False)
                    self._log.error(
                        "leadership lost", holder=(self._observed_spec or {}).get("holderIdentity")
                    )
                    return
                await asyncio.sleep(min(self.retry_period, max(0.0, deadline - time.monotonic())))

    async def release(self) -> None:
        """Give the lease up (only if still ours) so a standby need not wait for it to expire."""
        if not self._leading:
            return
        self._set_leading(False)
        try:
            async with asyncio.timeout(self.renew_deadline):
                lease = await self.client.get(LEASES, self.name, self.namespace)
                spec = lease.get("spec") or {}
                if spec.get("holderIdentity") != self.identity:
                    return
                now = now_micro()
                lease["spec"] = {
                    "holderIdentity": "",
                    "leaseDurationSeconds": 1,
                    "acquireTime": now,
                    "renewTime": now,
                    "leaseTransitions": spec.get("leaseTransitions", 0),
                }
                await self.client.update(LEASES, lease)
            self._log.info("leadership released")
        except (ApiError, TimeoutError) as exc:
            self._log.warning("could not release the lease", error=repr(exc))

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        self._gauge.set(1 if leading else 0)

    def _held_by_other(self) -> bool:
        holder = (self._observed_spec or {}).get("holderIdentity")
        return bool(holder) and holder != self.identity

    async def _try(self, budget: float) -> bool:
        """One acquire-or-renew round within ``budget`` seconds; True when we hold the lease afterwards."""
        try:
            async with asyncio.timeout(budget):
                return await self._try_acquire_or_renew()
        except (ApiError, TimeoutError) as exc:
            self._log.debug("lease round failed", error=repr(exc))
            return False

    async def _try_acquire_or_renew(self) -> bool:
        now = time.monotonic()
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except NotFound:
            try:
                created = await self.client.create(LEASES, self._lease_body(None), self.namespace)
            except AlreadyExists:
                return False
            self._observe(created, time.monotonic())
            self._last_renew = now
            return True
        spec = lease.get("spec") or {}
        if spec != self._observed_spec:
            self._observe(lease, now)
        holder = spec.get("holderIdentity")
        if holder and holder != self.identity:
            duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
            if self._observed_at + duration > now:
                return False
        lease["spec"] = self._lease_body(spec)["spec"]
        try:
            updated = await self.client.update(LEASES, lease)
        except Conflict:
            return False
        self._observe(updated, time.monotonic())
        self._last_renew = now
        return True

    def _observe(self, lease: Obj, at: float) -> None:
        self._observed_spec = lease.get("spec") or {}
        self._observed_at = at

    def _lease_body(self, previous: dict[str, Any] | None) -> Obj:
        now = now_micro()
        previous = previous or {}
        ours = previous.get("holderIdentity") == self.identity
        transitions = int(previous.get("leaseTransitions", 0))
        return {
            "apiVersion": LEASES.api_version,
            "kind": LEASES.kind,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self.lease_duration)),
                "acquireTime": previous.get("acquireTime", now) if ours else now,
                "renewTime": now,
                "leaseTransitions": transitions if ours or not previous else transitions + 1,
            },
        }
