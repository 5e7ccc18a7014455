"""The pod writer: every pod create and delete of the RayCluster controller goes through it.

It owns what makes writes safe and fair:
- **Names before sending.** Each new pod gets its final name (`generateName` plus five random characters,
  as the API server would pick) before the request goes out. A create whose answer is lost (a reset, a
  timeout, a 5xx) is sent again with the same name: either it creates the pod or the API server answers
  AlreadyExists for the pod the first request made. A lost answer never becomes a second pod.
- **Retries per write.** Transient errors (no answer, 429, 5xx) are retried for that write alone, with a
  short jittered backoff, instead of failing the pass and backing the whole cluster off.
- **Pods in doubt.** A create still unanswered when its retries run out may or may not exist. It is kept,
  and the next pass sends it again (`settle`) before it plans: the planner never counts on a guess.
- **Fairness.** The operator-wide `FairShare`, the per-cluster slow-start window and the early stop that
  hands the worker on when others wait (see `writes.send_writes`).
- **Expectations.** The resourceVersion of each write, for the stale-cache guard.
- **The fence.** Checked before every request: a process that no longer holds the leader lease sends none.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

from kuberay_py.controllers.raycluster.expectations import Expectations
from kuberay_py.controllers.raycluster.plan import Adoption, Deletion
from kuberay_py.controllers.raycluster.pod_facts import Pod
from kuberay_py.controllers.raycluster.writes import WriteOutcome, never, send_writes
from kuberay_py.runtime import (
    PODS,
    AlreadyExists,
    ApiError,
    Client,
    Conflict,
    FairShare,
    NotFound,
    Preconditions,
)
from kuberay_py.runtime.errors import ServerError, TransportError, is_retriable
from kuberay_py.runtime.objects import name_of, uid_of

log = structlog.get_logger("kuberay_py.controllers.raycluster.podwriter")

T = TypeVar("T")
# The API server's own alphabet for generated names: no vowels, no look-alike digits.
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_NAME_SUFFIX = 5


class WritesFenced(ApiError):
    """This process may not write: it does not hold the leader lease (any more)."""

    default_reason = "NotLeader"


def always() -> bool:
    """The default fence: every write allowed (no leader election)."""
    return True


def is_ambiguous(error: BaseException) -> bool:
    """The request may have taken effect although it failed: no answer, or the server failed after reading it.
    A 429 is refused before anything happens."""
    return isinstance(error, TransportError | ServerError)


def final_name(pod: Pod) -> Pod:
    """The pod with a name of its own in place of `generateName`."""
    metadata = pod["metadata"]
    prefix = metadata.pop("generateName", None)
    if prefix and not metadata.get("name"):
        suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(_NAME_SUFFIX))
        metadata["name"] = f"{prefix}{suffix}"
    return pod


@dataclass(frozen=True)
class WriterOptions:
    max_parallel_writes: int = 24
    max_writes_in_flight: int = 32
    yield_after_seconds: float = 0.5
    retry_seconds: float = 20.0
    """How long one write is retried on transient errors before the pass gives it up."""
    field_manager: str = "kuberay-py"


@dataclass
class CreateOutcome:
    names: dict[str, list[str]] = field(default_factory=dict)
    """Group -> the names of the pods created (including those found made by an earlier, unanswered
    request), in the order their answers came."""
    failure: ApiError | None = None
    failed_group: str | None = None
    failed_pod: str | None = None
    stopped_early: bool = False

    @property
    def created(self) -> dict[str, int]:
        """Group -> how many pods were created."""
        return {group: len(names) for group, names in self.names.items()}


@dataclass
class DeleteOutcome:
    removed: list[Deletion] = field(default_factory=list)
    """The deletions that deleted their pod, in the order their answers came."""
    failure: ApiError | None = None
    failed: Deletion | None = None
    """The deletion whose error is `failure`."""

    @property
    def deleted(self) -> dict[str, list[str]]:
        """Reason -> names of the pods deleted."""
        by_reason: dict[str, list[str]] = {}
        for deletion in self.removed:
            by_reason.setdefault(deletion.reason, []).append(name_of(deletion.pod))
        return by_reason


@dataclass(frozen=True)
class CreateRequest:
    group: str
    pod: Pod


class PodWriter:
    def __init__(
        self,
        client: Client,
        expectations: Expectations,
        options: WriterOptions | None = None,
        *,
        others_waiting: Callable[[], bool] = never,
        may_write: Callable[[], bool] = always,
    ) -> None:
        self.client = client
        self.expectations = expectations
        self.options = options or WriterOptions()
        self.others_waiting = others_waiting
        self.may_write = may_write
        self._share: FairShare[str] = FairShare(self.options.max_writes_in_flight)
        self._windows: dict[str, int] = {}  # per cluster, the write window its last pass reached
        # Per cluster, the creates sent without an answer, by the id of their first request.
        self._in_doubt: dict[str, dict[int, CreateRequest]] = {}

    def forget(self, key: str) -> None:
        self._windows.pop(key, None)
        self._in_doubt.pop(key, None)
        self.expectations.forget(key)

    def in_doubt(self, key: str) -> int:
        return len(self._in_doubt.get(key, {}))

    # -- creates -------------------------------------------------------------------------------------------
    async def settle(self, key: str, owner_uid: str) -> CreateOutcome:
        """Send each create in doubt again; afterwards each exists for sure, unless this failed again."""
        pending = list(self._in_doubt.pop(key, {}).values())  # re-registered as they are sent
        if not pending:
            return CreateOutcome()
        log.info("resending creates whose answer was lost", cluster=key, pods=len(pending))
        return await self._create(key, owner_uid, pending, (), resend=True)

    async def create(
        self, key: str, owner_uid: str, requests: list[CreateRequest], yield_points: Collection[int] = ()
    ) -> CreateOutcome:
        """Create the pods (named here); stops early at a yield point when other clusters wait."""
        named = [CreateRequest(r.group, final_name(r.pod)) for r in requests]
        return await self._create(key, owner_uid, named, yield_points, resend=False)

    async def _create(
        self,
        key: str,
        owner_uid: str,
        requests: list[CreateRequest],
        yield_points: Collection[int],
        *,
        resend: bool,
    ) -> CreateOutcome:
        """`resend`: these were sent before without an answer; a pass resending them runs to the end."""
        outcome = CreateOutcome()
        doubts = self._in_doubt.setdefault(key, {})

        async def create(request: CreateRequest) -> None:
            doubts[id(request)] = request  # until an answer says otherwise
            try:
                made = await self._create_one(request, owner_uid, unanswered=resend)
            except ApiError as error:
                if not is_ambiguous(error):
                    doubts.pop(id(request), None)
                if outcome.failed_group is None:
                    outcome.failed_group, outcome.failed_pod = request.group, name_of(request.pod)
                raise
            doubts.pop(id(request), None)
            if made is not None:
                self.expectations.expect(key, made["metadata"].get("resourceVersion"))
            outcome.names.setdefault(request.group, []).append(name_of(request.pod))

        sent = await self._send(key, requests, create, () if resend else yield_points)
        outcome.failure, outcome.stopped_early = sent.failure, sent.stopped_early
        if not doubts:
            self._in_doubt.pop(key, None)
        return outcome

    async def _create_one(self, request: CreateRequest, owner_uid: str, *, unanswered: bool) -> Pod | None:
        """Create the pod; returns it as stored, or None when it was made and deleted since.
        `unanswered`: an earlier attempt with this name may have made the pod."""
        pod = request.pod
        namespace = pod["metadata"]["namespace"]

        async def create() -> Pod | None:
            nonlocal unanswered
            try:
                return await self.client.create(
                    PODS, pod, namespace, field_manager=self.options.field_manager
                )
            except AlreadyExists:
                if unanswered:
                    ours, existing = await self._made_earlier(pod, owner_uid)
                    if ours:
                        return existing
                # The random suffix matched another pod's name: try another one. In place, so that a
                # request kept in doubt holds the name last sent.
                _rename(pod)
                unanswered = False
                raise
            except ApiError as error:
                unanswered = unanswered or is_ambiguous(error)
                raise

        return await self._retried(create)

    async def _made_earlier(self, pod: Pod, owner_uid: str) -> tuple[bool, Pod | None]:
        """After AlreadyExists for a create sent before without an answer: whether the pod of that name is
        ours (made by that request), and the pod as stored (None when deleted since)."""
        try:
            existing = await self.client.get(PODS, name_of(pod), pod["metadata"]["namespace"])
        except NotFound:
            return True, None  # made, then deleted by someone else: it existed, the next pass sees the rest
        owners = {o.get("uid") for o in existing["metadata"].get("ownerReferences") or []}
        return owner_uid in owners, existing

    # -- deletes -------------------------------------------------------------------------------------------
    async def delete(self, key: str, requests: list[Deletion]) -> DeleteOutcome:
        outcome = DeleteOutcome()

        async def delete(request: Deletion) -> None:
            try:
                result = await self._delete_one(request.pod)
            except ApiError:
                outcome.failed = outcome.failed or request
                raise
            if result is not None:
                self.expectations.expect(key, result.get("metadata", {}).get("resourceVersion"))
                outcome.removed.append(request)

        outcome.failure = (await self._send(key, requests, delete)).failure
        return outcome

    async def _delete_one(self, pod: Pod) -> dict[str, Any] | None:
        """Delete exactly this pod (by UID); None when it is gone already."""

        async def delete() -> dict[str, Any] | None:
            try:
                result = await self.client.delete(
                    PODS,
                    name_of(pod),
                    pod["metadata"]["namespace"],
                    preconditions=Preconditions(uid=uid_of(pod)),
                )
            except (NotFound, Conflict):
                return None  # gone, or the name now belongs to a newer pod that is not ours to delete
            return result or {}

        return await self._retried(delete)

    # -- adoption ------------------------------------------------------------------------------------------
    async def stamp(self, key: str, adoptions: list[Adoption]) -> ApiError | None:
        """Stamp adopted pods with their metadata (a patch: the pods keep running); returns the first
        error that outlasted the retries, if any."""

        async def stamp(adoption: Adoption) -> None:
            result = await self._stamp_one(adoption)
            if result is not None:
                self.expectations.expect(key, result.get("metadata", {}).get("resourceVersion"))

        return (await self._send(key, adoptions, stamp)).failure

    async def _stamp_one(self, adoption: Adoption) -> dict[str, Any] | None:
        pod = adoption.pod

        async def patch() -> dict[str, Any] | None:
            try:
                result: dict[str, Any] | None = await self.client.patch(
                    PODS, name_of(pod), adoption.patch(), pod["metadata"]["namespace"]
                )
            except NotFound:
                return None
            return result or {}

        return await self._retried(patch)

    # -- plumbing ------------------------------------------------------------------------------------------
    def _check_fence(self) -> None:
        if not self.may_write():
            raise WritesFenced("this process does not hold the leader lease: no pod writes")

    async def _retried(self, write: Callable[[], Awaitable[T]]) -> T:
        """One pod write, retried on transient errors (and a taken name); the fence is checked before each
        attempt, so a lease lost meanwhile stops the retries."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda e: is_retriable(e) or isinstance(e, AlreadyExists)),
            stop=stop_after_delay(self.options.retry_seconds),
            wait=wait_exponential_jitter(multiplier=0.05, max=2.0),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                self._check_fence()
                return await write()
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _send(
        self,
        key: str,
        items: list[T],
        write: Callable[[T], Coroutine[Any, Any, None]],
        yield_points: Collection[int] = (),
    ) -> WriteOutcome:
        began = time.monotonic()

        def should_yield() -> bool:
            return time.monotonic() - began >= self.options.yield_after_seconds and self.others_waiting()

        outcome = await send_writes(
            items,
            write,
            owner=key,
            share=self._share,
            max_window=self.options.max_parallel_writes,
            start_window=self._windows.get(key, 1),
            yield_points=yield_points,
            should_yield=should_yield,
        )
        self._windows[key] = outcome.window
        return outcome


def _rename(pod: Pod) -> None:
    """Give the pod a new random suffix, as `final_name` would."""
    metadata = pod["metadata"]
    metadata["generateName"] = metadata.pop("name")[:-_NAME_SUFFIX]
    final_name(pod)
