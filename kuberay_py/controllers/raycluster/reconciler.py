"""The RayCluster reconciler: read the cluster and its pods from the cache, make the world match, report.

One pass, in order:
1. Read the RayCluster; skip it if it is gone, being deleted or managed by another controller.
2. Check what CEL could not (a condition and a Warning Event, no action on a bad spec) and report fields
   kuberay-py does not act on.
3. If the pod cache has not caught up with this operator's own last writes for the cluster, wait (see
   `expectations`): acting on a stale cache is how extra pods get created and wrong ones deleted.
4. Ensure the autoscaler's ServiceAccount, Role and RoleBinding (when autoscaling is on) and the head Service.
5. Plan pod creations and deletions (`plan.plan_pods`) and carry them out, a bounded number at a time.
6. Write the status through the status subresource, only when something in it changed.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog
from pydantic import ValidationError

from kuberay_py.api import RayCluster, WorkerGroupSpec, reconcile_errors, unsupported_fields
from kuberay_py.api.constants import HEAD_GROUP_NAME
from kuberay_py.api.enums import ManagedBy
from kuberay_py.api.unsupported import CONDITION_TYPE as UNSUPPORTED_CONDITION
from kuberay_py.api.unsupported import EVENT_REASON as UNSUPPORTED_REASON
from kuberay_py.builders import (
    BuildOptions,
    HostSlot,
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
    build_head_pod,
    build_head_service,
    build_worker_pod,
    head_service_name,
    recorded_template_hash,
    replica_name,
)
from kuberay_py.controllers.raycluster.capacity import desired_capacity
from kuberay_py.controllers.raycluster.conditions import ConditionUpdate, merge_conditions, now_rfc3339
from kuberay_py.controllers.raycluster.expectations import Expectations
from kuberay_py.controllers.raycluster.plan import Deletion, Plan, plan_pods
from kuberay_py.controllers.raycluster.podstate import Pod, name_of, uid_of
from kuberay_py.controllers.raycluster.resources import RAYCLUSTERS
from kuberay_py.controllers.raycluster.status import (
    SPEC_VALID,
    Observation,
    compute_status,
    status_changed,
    status_patch,
)
from kuberay_py.controllers.raycluster.writes import WriteOutcome, send_writes
from kuberay_py.runtime import (
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
    AlreadyExists,
    ApiError,
    Cache,
    Client,
    EventRecorder,
    FairShare,
    NotFound,
    Preconditions,
    Request,
    Resource,
    Result,
)

log = structlog.get_logger("kuberay_py.controllers.raycluster")

# A pass that stopped early to let other clusters run comes back at the end of the queue. Not the
# rate-limited requeue: yielding is no failure, and that backoff would grow with every yield.
_YIELDED = Result(requeue_after=0.05)

Obj = dict[str, Any]
T = TypeVar("T")
PodMaker = Callable[[HostSlot | None], Pod]
# Hashes and capacity do not depend on which replica a pod is in; any slot will do to build a sample.
_SAMPLE_HOST = HostSlot("sample", 0)


@dataclass(frozen=True)
class ReconcilerOptions:
    build: BuildOptions = field(default_factory=BuildOptions)
    max_parallel_writes: int = 24
    """Pod creates or deletes in flight at once for one cluster (a slow start grows toward it). More does not
    create pods faster once the API server is busy, only queues other clusters' writes behind these."""
    max_writes_in_flight: int = 32
    """Pod creates and deletes in flight at once over all clusters (the client's connection pool holds as
    many). A freed slot goes to the cluster holding the fewest, so a small cluster's write never queues
    behind the hundreds of a big one's."""
    yield_after_seconds: float = 0.5
    """Once a pass has been creating pods this long and other clusters wait for a worker, it starts no more
    and queues itself behind them: many big scale-ups at once cannot hold every worker."""
    max_creates_per_pass: int = 500
    """Pods one pass creates before yielding its worker to other clusters."""
    expectation_timeout: float = 60.0
    """How long to wait for the pod cache to show this operator's own writes before acting anyway."""
    field_manager: str = "kuberay-py"


class WriteFailure(Exception):
    """Some pod writes failed; carries the condition to report."""

    def __init__(self, condition: ConditionUpdate) -> None:
        super().__init__(condition.message)
        self.condition = condition


class RayClusterReconciler:
    def __init__(
        self, client: Client, cache: Cache, recorder: EventRecorder, options: ReconcilerOptions | None = None
    ) -> None:
        self.client = client
        self.cache = cache
        self.recorder = recorder
        self.options = options or ReconcilerOptions()
        pods = cache.informer(PODS)
        self.expectations = Expectations(
            lambda: pods.resource_version, timeout=self.options.expectation_timeout
        )
        self._failures: dict[str, ConditionUpdate] = {}
        self._writes: FairShare[str] = FairShare(self.options.max_writes_in_flight)
        self._windows: dict[str, int] = {}  # per cluster, the write window its last pass reached
        # Set by whoever runs the reconciler: are other keys waiting for a worker right now?
        self.others_waiting: Callable[[], bool] = lambda: False
        # The status this process last wrote per cluster, with the resourceVersion the write produced.
        # RayCluster events that only change status do not trigger a reconcile, so until the cache shows our
        # write, diffing against the cached status would skip or mis-shape the next write.
        self._written: dict[str, tuple[int, dict[str, Any]]] = {}

    async def reconcile(self, request: Request) -> Result:
        key = str(request)
        obj = self.cache.get(RAYCLUSTERS, request.name, request.namespace)
        if obj is None:
            self.expectations.forget(key)
            self._failures.pop(key, None)
            self._written.pop(key, None)
            self._windows.pop(key, None)
            return Result()
        if obj["metadata"].get("deletionTimestamp"):
            return Result()  # ownerReferences make the garbage collector remove the children
        managed_by = (obj.get("spec") or {}).get("managedBy")
        if managed_by and managed_by != ManagedBy.KUBERAY_OPERATOR:
            return Result()

        try:
            cluster = RayCluster.from_manifest(obj)
        except ValidationError as exc:
            return await self._reject(
                obj, None, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            )
        errors = reconcile_errors(cluster)
        if errors:
            return await self._reject(obj, cluster, [f"{e.path}: {e.message}" for e in errors])

        extra = [ConditionUpdate(SPEC_VALID, True, "Valid")]
        unsupported = unsupported_fields(cluster)
        if unsupported:
            names = ", ".join(unsupported)
            message = f"kuberay-py does not act on: {names}"
            extra.append(ConditionUpdate(UNSUPPORTED_CONDITION, True, UNSUPPORTED_REASON, message))
            self.recorder.warning(obj, UNSUPPORTED_REASON, message)
        else:
            extra.append(ConditionUpdate(UNSUPPORTED_CONDITION, False, "AllFieldsSupported"))

        if not self.expectations.satisfied(key):
            return Result(requeue_after=1.0)  # the pod events that satisfy it will also wake us

        pods = self.cache.list(PODS, request.namespace, owner_uid=cluster.metadata.uid)
        hashes, makers = self._pod_builders(cluster)
        plan = plan_pods(cluster, pods, hashes)
        if plan.held_back:
            log.debug("autoscaler decides which surplus workers go", surplus=plan.held_back)
        service = self.cache.get(SERVICES, head_service_name(cluster), request.namespace)
        result = Result()
        try:
            await self._ensure_autoscaler_rbac(cluster)
            service = await self._ensure_head_service(cluster, obj)
            if await self._execute(key, obj, cluster, plan, makers):
                result = _YIELDED
            self._failures.pop(key, None)
        except (WriteFailure, ApiError) as exc:
            failure = exc.condition if isinstance(exc, WriteFailure) else _failure_of(exc)
            self._failures[key] = failure
            log.warning("writing owned objects failed", reason=failure.reason, error=failure.message)
            self.recorder.warning(obj, failure.reason, failure.message)
            result = Result(requeue=True)

        seen = Observation(
            head_service=service,
            desired_resources=self._desired_capacity(cluster),
            outdated_pods=plan.outdated_pods,
            failure=self._failures.get(key),
            extra_conditions=extra,
        )
        await self._write_status(obj, cluster, pods, seen)
        return result

    # -- invalid specs -------------------------------------------------------------------------------------
    async def _reject(self, obj: Obj, cluster: RayCluster | None, problems: list[str]) -> Result:
        message = "invalid spec: " + "; ".join(problems)
        log.warning(
            "invalid RayCluster spec; nothing is created or deleted until it is fixed", problems=problems
        )
        self.recorder.warning(obj, "InvalidRayClusterSpec", message)
        previous = obj.get("status") or {}
        kept = [
            ConditionUpdate(c["type"], c.get("status") == "True", c.get("reason", ""), c.get("message", ""))
            for c in previous.get("conditions") or []
            if c.get("type") != SPEC_VALID
        ]
        generation = obj["metadata"].get("generation")
        now = now_rfc3339()
        desired = {
            **previous,
            "conditions": merge_conditions(
                previous.get("conditions"),
                [*kept, ConditionUpdate(SPEC_VALID, False, "InvalidSpec", message)],
                generation,
                now,
            ),
            "observedGeneration": generation,
        }
        desired.pop("state", None)
        desired["reason"] = message
        if status_changed(previous, desired):
            await self._patch_status(obj, status_patch(previous, desired, now))
        return Result()

    # -- owned objects -------------------------------------------------------------------------------------
    async def _create_if_missing(self, resource: Resource, desired: Obj, namespace: str) -> Obj:
        existing = self.cache.get(resource, desired["metadata"]["name"], namespace)
        if existing is not None:
            return existing
        try:
            return await self.client.create(
                resource, desired, namespace, field_manager=self.options.field_manager
            )
        except AlreadyExists:
            return await self.client.get(resource, desired["metadata"]["name"], namespace)

    async def _ensure_autoscaler_rbac(self, cluster: RayCluster) -> None:
        if not cluster.spec.autoscaling_enabled():
            return
        namespace = cluster.namespace
        account = build_autoscaler_service_account(cluster)
        if account is not None:
            await self._create_if_missing(SERVICE_ACCOUNTS, account, namespace)
        await self._create_if_missing(ROLES, build_autoscaler_role(cluster), namespace)
        await self._create_if_missing(ROLE_BINDINGS, build_autoscaler_role_binding(cluster), namespace)

    async def _ensure_head_service(self, cluster: RayCluster, obj: Obj) -> Obj:
        desired = build_head_service(cluster, self.options.build)
        existing = self.cache.get(SERVICES, desired["metadata"]["name"], cluster.namespace)
        if existing is None:
            created = await self._create_if_missing(SERVICES, desired, cluster.namespace)
            self.recorder.normal(obj, "CreatedService", f"Created service {desired['metadata']['name']}")
            return created
        return existing

    # -- pods ----------------------------------------------------------------------------------------------
    def _pod_builders(self, cluster: RayCluster) -> tuple[dict[str, str], dict[str, PodMaker]]:
        """The template hash of each group's new pods, and a function building one such pod."""
        build = self.options.build
        makers: dict[str, PodMaker] = {HEAD_GROUP_NAME: lambda _host: build_head_pod(cluster, build)}
        for group in cluster.spec.worker_groups():
            makers[group.group_name] = functools.partial(build_worker_pod, cluster, group, build)
        hashes = {name: recorded_template_hash(make(_SAMPLE_HOST)) or "" for name, make in makers.items()}
        return hashes, makers

    def _sample_worker(self, cluster: RayCluster, group: WorkerGroupSpec) -> Pod:
        return build_worker_pod(cluster, group, self.options.build, _SAMPLE_HOST)

    async def _execute(
        self, key: str, obj: Obj, cluster: RayCluster, plan: Plan, makers: dict[str, PodMaker]
    ) -> bool:
        """Carry out the plan; returns True when creations were cut short to let other clusters run."""
        namespace = obj["metadata"]["namespace"]
        if plan.deletions:
            await self._delete_pods(key, obj, plan.deletions)
        requests: list[tuple[str, Pod]] = []
        yield_points: set[int] = set()  # where a new replica starts: a pass may stop there, never inside one
        if plan.create_head:
            requests.append((HEAD_GROUP_NAME, makers[HEAD_GROUP_NAME](None)))
        budget = self.options.max_creates_per_pass
        cut_short = False
        hosts = {g.group_name: g.num_of_hosts for g in cluster.spec.worker_groups()}
        for group, count in plan.creations.items():
            width = hosts.get(group, 1)
            replicas = count // width
            allowed = max(0, (budget - len(requests)) // width)
            if allowed < replicas:
                cut_short, replicas = True, allowed
            if width == 1:
                pod = makers[group](None)
                yield_points.update(range(len(requests), len(requests) + replicas))
                requests.extend((group, pod) for _ in range(replicas))
                continue
            for _ in range(replicas):
                replica = replica_name(group, secrets.token_hex(3))
                yield_points.add(len(requests))
                requests.extend((group, makers[group](HostSlot(replica, index))) for index in range(width))
        if requests and await self._create_pods(key, obj, namespace, requests, yield_points):
            cut_short = True
        return cut_short

    async def _create_pods(
        self,
        key: str,
        obj: Obj,
        namespace: str,
        requests: list[tuple[str, Pod]],
        yield_points: Collection[int],
    ) -> bool:
        """Create the pods; returns True when it stopped early to let other clusters have the worker."""
        created: dict[str, int] = {}

        async def create(item: tuple[str, Pod]) -> None:
            group, pod = item
            result = await self.client.create(PODS, pod, namespace, field_manager=self.options.field_manager)
            self.expectations.expect(key, result["metadata"].get("resourceVersion"))
            created[group] = created.get(group, 0) + 1

        outcome = await self._send(key, requests, create, yield_points)
        error = outcome.failure
        for group, count in created.items():
            what = "head pod" if group == HEAD_GROUP_NAME else f"{count} worker pod(s) in group {group}"
            self.recorder.normal(obj, "CreatedPods", f"Created {what}")
        if error is not None:
            reason = (
                "FailedCreateHeadPod"
                if any(g == HEAD_GROUP_NAME for g, _ in requests) and HEAD_GROUP_NAME not in created
                else "FailedCreateWorkerPod"
            )
            raise WriteFailure(
                ConditionUpdate("ReplicaFailure", True, reason, f"creating pods failed: {error}")
            )
        return outcome.stopped_early

    async def _delete_pods(self, key: str, obj: Obj, deletions: list[Deletion]) -> None:
        deleted: dict[str, list[str]] = {}

        async def delete(item: Deletion) -> None:
            pod = item.pod
            try:
                result = await self.client.delete(
                    PODS,
                    name_of(pod),
                    pod["metadata"]["namespace"],
                    preconditions=Preconditions(uid=uid_of(pod)),
                )
            except NotFound:
                return
            self.expectations.expect(key, (result or {}).get("metadata", {}).get("resourceVersion"))
            deleted.setdefault(item.reason, []).append(name_of(pod))

        error = (await self._send(key, deletions, delete)).failure
        for reason, names in deleted.items():
            self.recorder.normal(
                obj, "DeletedPods", f"Deleted {len(names)} pod(s) ({reason}): {', '.join(sorted(names)[:20])}"
            )
        if error is not None:
            raise WriteFailure(
                ConditionUpdate("ReplicaFailure", True, "FailedDeletePod", f"deleting pods failed: {error}")
            )

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
            share=self._writes,
            max_window=self.options.max_parallel_writes,
            start_window=self._windows.get(key, 1),
            yield_points=yield_points,
            should_yield=should_yield,
        )
        self._windows[key] = outcome.window
        return outcome

    # -- status --------------------------------------------------------------------------------------------
    def _desired_capacity(self, cluster: RayCluster) -> dict[str, str]:
        build = self.options.build
        pods: list[tuple[Pod, int]] = (
            [] if cluster.spec.is_suspended() else [(build_head_pod(cluster, build), 1)]
        )
        for group in cluster.spec.worker_groups():
            count = 0 if cluster.spec.is_suspended() else group.desired_pods()
            if count:
                pods.append((self._sample_worker(cluster, group), count))
        return desired_capacity(pods)

    def _previous_status(self, obj: Obj) -> dict[str, Any]:
        """The cluster's status as it is on the server: the cached one, or our own later write."""
        cached: dict[str, Any] = obj.get("status") or {}
        written = self._written.get(_key_of(obj))
        if written is not None and _version(obj) < written[0]:
            return written[1]
        return cached

    async def _write_status(self, obj: Obj, cluster: RayCluster, pods: list[Pod], seen: Observation) -> None:
        previous = self._previous_status(obj)
        now = now_rfc3339()
        desired = compute_status(cluster, pods, previous, seen, now)
        if status_changed(previous, desired):
            await self._patch_status(obj, status_patch(previous, desired, now))

    async def _patch_status(self, obj: Obj, patch: Obj) -> None:
        meta = obj["metadata"]
        with contextlib.suppress(NotFound):  # deleted meanwhile: nothing left to report on
            updated = await self.client.patch_status(
                RAYCLUSTERS,
                meta["name"],
                {"status": patch},
                meta["namespace"],
                field_manager=self.options.field_manager,
            )
            self._written[_key_of(obj)] = (_version(updated), updated.get("status") or {})


def _failure_of(error: ApiError) -> ConditionUpdate:
    """The ReplicaFailure condition for a failed write of a Service, ServiceAccount, Role or RoleBinding."""
    return ConditionUpdate(
        "ReplicaFailure", True, "FailedCreateResource", f"creating owned objects failed: {error}"
    )


def _key_of(obj: Obj) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def _version(obj: Obj) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0
