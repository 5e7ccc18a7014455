"""The RayCluster reconciler: read the cluster and its pods from the cache, make the world match, report.

One pass, in order:
1. Read the RayCluster; skip it if it is gone, being deleted or managed by another controller.
2. Check what CEL could not, and build the desired pods once (`desired`); a spec that fails either gets
   `SpecValid=False` and a Warning Event naming the field, and nothing is created or deleted for it.
3. Report fields kuberay-py does not act on.
4. Send again the creates whose answer was lost (`PodWriter.settle`), then wait until the pod cache shows this
   operator's own last writes (see `expectations`): acting on a stale cache is how extra pods get created
   and wrong ones deleted. A cache that stays behind is reported, never planned on.
5. Ensure the autoscaler's ServiceAccount, Role and RoleBinding (when autoscaling is on), the head Service,
   and the headless worker Service when a group has more than one host per replica.
6. Plan pod creations and deletions (`plan.plan_pods`) and carry them out through the `PodWriter`.
7. Write the status through the status subresource, only when something in it changed. Failures of any
   step above are reported there too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import structlog
from pydantic import ValidationError

from kuberay_py.api import RayCluster, reconcile_errors, unsupported_fields
from kuberay_py.api.constants import HEAD_GROUP_NAME
from kuberay_py.builders import (
    CLUSTER_LABEL,
    BuildError,
    BuildOptions,
    HostSlot,
    autoscaler_service_account_name,
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
    build_head_service,
    build_headless_worker_service,
    head_service_name,
    replica_name,
)
from kuberay_py.builders.auth import (
    TOKEN_BYTES,
    TOKEN_KEY,
    auth_secret_name,
    build_auth_secret,
    k8s_token_auth,
    operator_makes_auth_secret,
    token_auth,
)
from kuberay_py.controllers.common import controlled_by, managed_elsewhere
from kuberay_py.controllers.raycluster.conditions import ConditionUpdate
from kuberay_py.controllers.raycluster.desired import DesiredPods, build_desired
from kuberay_py.controllers.raycluster.expectations import Expectations
from kuberay_py.controllers.raycluster.metrics import CACHE_BEHIND
from kuberay_py.controllers.raycluster.plan import Plan, plan_pods
from kuberay_py.controllers.raycluster.pod_facts import Pod, group_of, is_head, phase_of
from kuberay_py.controllers.raycluster.podwriter import (
    CreateOutcome,
    CreateRequest,
    DeleteOutcome,
    PodWriter,
    WriterOptions,
    always,
)
from kuberay_py.controllers.raycluster.redis_cleanup import RedisCleanup, has_finalizer
from kuberay_py.controllers.raycluster.status import (
    Observation,
    compute_status,
    invalid_spec_status,
    status_changed,
    status_patch,
)
from kuberay_py.controllers.raycluster.vocabulary import (
    RAYCLUSTERS,
    ConditionReason,
    ConditionType,
    DeleteReason,
    EventReason,
)
from kuberay_py.controllers.raycluster.writes import never
from kuberay_py.runtime import (
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
    AlreadyExists,
    ApiError,
    Cache,
    Client,
    EventRecorder,
    NotFound,
    Request,
    Resource,
    Result,
)
from kuberay_py.runtime.errors import is_namespace_terminating
from kuberay_py.runtime.objects import Obj, key_of, name_of, now_rfc3339, resource_version_number

log = structlog.get_logger("kuberay_py.controllers.raycluster")

# How soon a cluster whose namespace is being deleted is looked at again (its deletion usually comes first).
_NAMESPACE_GOING_RETRY: Final = 10.0

# A pass that stopped early to let other clusters run comes back at the end of the queue. Not the
# rate-limited requeue: yielding is no failure, and that backoff would grow with every yield.
_YIELDED = Result(requeue_after=0.05)


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
    """Pods one pass creates before yielding its worker to other clusters (at least one whole replica)."""
    expectation_report_after: float = 30.0
    """How long the pod cache may lag this operator's own writes before the cluster reports it."""
    write_retry_seconds: float = 20.0
    """How long one pod write is retried on transient errors before the pass reports it failed."""
    field_manager: str = "kuberay-py"

    def writer(self) -> WriterOptions:
        return WriterOptions(
            max_parallel_writes=self.max_parallel_writes,
            max_writes_in_flight=self.max_writes_in_flight,
            yield_after_seconds=self.yield_after_seconds,
            retry_seconds=self.write_retry_seconds,
            field_manager=self.field_manager,
        )


class WriteFailure(Exception):
    """Some writes failed: the Warning Event to record (KubeRay's reason) and, for pod writes, the
    ReplicaFailure condition (KubeRay sets it for pod writes only)."""

    def __init__(
        self,
        event_reason: EventReason,
        message: str,
        condition: ConditionUpdate | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.event_reason = event_reason
        self.message = message
        self.condition = condition
        self.cause = cause


def _replica_failure(
    condition_reason: ConditionReason,
    event_reason: EventReason,
    message: str,
    cause: BaseException | None = None,
) -> WriteFailure:
    condition = ConditionUpdate(ConditionType.REPLICA_FAILURE, True, condition_reason, message)
    return WriteFailure(event_reason, message, condition, cause)


# KubeRay's Event reasons for the objects besides pods: kind -> (created, failed to create, as named).
_OBJECT_EVENTS: Final = {
    "Service": (EventReason.CREATED_SERVICE, EventReason.FAILED_TO_CREATE_SERVICE, "service"),
    "ServiceAccount": (
        EventReason.CREATED_SERVICE_ACCOUNT,
        EventReason.FAILED_TO_CREATE_SERVICE_ACCOUNT,
        "service account",
    ),
    "Role": (EventReason.CREATED_ROLE, EventReason.FAILED_TO_CREATE_ROLE, "role"),
    "RoleBinding": (
        EventReason.CREATED_ROLE_BINDING,
        EventReason.FAILED_TO_CREATE_ROLE_BINDING,
        "role binding",
    ),
}
# Why a pod was deleted, for the Event that says so.
_DELETE_WHY: Final = {
    DeleteReason.FINISHED: "the pod finished or its Ray container exited for good",
    DeleteReason.GROUP_REMOVED: "its worker group is no longer in the spec",
    DeleteReason.WORKERS_TO_DELETE: "named in scaleStrategy.workersToDelete",
    DeleteReason.SCALE_DOWN: "scaling down to the desired replicas",
    DeleteReason.DUPLICATE_HEAD: "a second head pod",
    DeleteReason.RECREATE: "upgradeStrategy Recreate: the pod template changed",
    DeleteReason.ROLLING_UPDATE: "rolling update: the pod template changed",
    DeleteReason.REPLICA_INCOMPLETE: "its multi-host replica lost a host",
    DeleteReason.CLUSTER_DELETED: "the RayCluster is being deleted",
}


class RayClusterReconciler:
    def __init__(
        self,
        client: Client,
        cache: Cache,
        recorder: EventRecorder,
        options: ReconcilerOptions | None = None,
        *,
        others_waiting: Callable[[], bool] = never,
        may_write: Callable[[], bool] = always,
    ) -> None:
        """`others_waiting`: are other clusters waiting for a worker now; `may_write`: does this process hold
        the leader lease, checked before every pod write."""
        self.client = client
        self.cache = cache
        self.recorder = recorder
        self.options = options or ReconcilerOptions()
        pods = cache.informer(PODS)
        self.expectations = Expectations(
            lambda: pods.resource_version, report_after=self.options.expectation_report_after
        )
        self.writer = PodWriter(
            client,
            self.expectations,
            self.options.writer(),
            others_waiting=others_waiting,
            may_write=may_write,
        )
        self.redis_cleanup = RedisCleanup(
            client, cache, recorder, self.writer, self.options.build, self.options.field_manager
        )
        self._failures: dict[str, WriteFailure] = {}
        # The status this process last wrote per cluster, with the resourceVersion the write produced.
        # RayCluster events that only change status do not trigger a reconcile, so until the cache shows our
        # write, diffing against the cached status would skip or mis-shape the next write.
        self._written: dict[str, tuple[int, dict[str, Any]]] = {}

    async def reconcile(self, request: Request) -> Result:
        key = str(request)
        obj = self.cache.get(RAYCLUSTERS, request.name, request.namespace)
        if obj is None:
            self.writer.forget(key)
            self._failures.pop(key, None)
            self._written.pop(key, None)
            return Result()
        if managed_elsewhere(obj):
            return Result()
        if obj["metadata"].get("deletionTimestamp"):
            if not has_finalizer(obj):
                return Result()  # ownerReferences make the garbage collector remove the children
            pods = self.cache.list(PODS, request.namespace, owner_uid=obj["metadata"].get("uid"))
            return await self.redis_cleanup.finalize(key, obj, pods)

        try:
            cluster = RayCluster.from_manifest(obj)
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            return await self._reject(obj, None, problems)
        errors = reconcile_errors(cluster)
        if errors:
            return await self._reject(obj, cluster, [f"{e.path}: {e.message}" for e in errors])
        try:
            desired = build_desired(cluster, self.options.build)
        except BuildError as exc:
            return await self._reject(obj, cluster, [str(exc)])

        # Before any pod exists: a deletion must find the finalizer whatever happens later.
        if cluster.fault_tolerance_enabled() and not await self.redis_cleanup.add_finalizer(obj):
            return Result(requeue=True)

        extra = [
            ConditionUpdate(ConditionType.SPEC_VALID, True, ConditionReason.VALID),
            self._unsupported(obj, cluster),
        ]
        auth = _auth_condition(cluster)
        if auth is not None:
            extra.append(auth)
        pods = self.cache.list(PODS, request.namespace, owner_uid=cluster.metadata.uid)
        plan = plan_pods(cluster, pods, desired.hashes())
        service = self.cache.get(SERVICES, head_service_name(cluster), request.namespace)
        result = Result()
        try:
            settled = await self.writer.settle(key, cluster.metadata.uid or "")
            self._report_creates(obj, settled)
            if self.writer.in_doubt(key) or not self.expectations.satisfied(key):
                # The pod events that satisfy it will also wake us.
                result = Result(requeue_after=1.0)
            else:
                await self._ensure_autoscaler_rbac(cluster, obj, plan.create_head)
                if plan.create_head or any(plan.creations.values()):
                    await self._ensure_auth_secret(cluster, obj)
                service = await self._ensure_head_service(cluster, obj)
                await self._ensure_headless_worker_service(cluster, obj)
                if plan.held_back:
                    log.debug("autoscaler decides which surplus workers go", surplus=plan.held_back)
                if await self._execute(key, obj, cluster, desired, plan):
                    result = _YIELDED
                self._failures.pop(key, None)
        except (WriteFailure, ApiError) as exc:
            failed = exc if isinstance(exc, WriteFailure) else _failure_of(exc)
            if failed.cause is not None and is_namespace_terminating(failed.cause):
                # The namespace's deletion takes the cluster with it: no Warning, no retry storm.
                log.info("the cluster's namespace is being deleted; nothing is created there")
                return Result(requeue_after=_NAMESPACE_GOING_RETRY)
            self._failures[key] = failed
            log.warning("writing owned objects failed", reason=failed.event_reason, error=failed.message)
            self.recorder.warning(obj, failed.event_reason, failed.message)
            result = Result(requeue=True)

        cache_condition = self._cache_condition(key, obj)
        if cache_condition is not None:
            extra.append(cache_condition)
        CACHE_BEHIND.set(self.expectations.stalled())
        failure = self._failures.get(key)
        seen = Observation(
            head_service=service,
            desired_resources=desired.capacity(),
            outdated_pods=plan.outdated_pods,
            failure=failure.condition if failure is not None else None,
            problem=failure.message if failure is not None and failure.condition is None else None,
            extra_conditions=extra,
        )
        if not await self._write_status(obj, cluster, pods, seen):
            return Result(requeue=True)
        return result

    def _unsupported(self, obj: Obj, cluster: RayCluster) -> ConditionUpdate:
        unsupported = unsupported_fields(cluster)
        if not unsupported:
            return ConditionUpdate(
                ConditionType.UNSUPPORTED_FIELDS, False, ConditionReason.ALL_FIELDS_SUPPORTED
            )
        message = f"kuberay-py does not act on: {', '.join(unsupported)}"
        self.recorder.warning(obj, EventReason.UNSUPPORTED_FIELD, message)
        return ConditionUpdate(
            ConditionType.UNSUPPORTED_FIELDS, True, ConditionReason.UNSUPPORTED_FIELD, message
        )

    def _cache_condition(self, key: str, obj: Obj) -> ConditionUpdate | None:
        """PodCacheSynced, once it has been False: a cluster whose cache never lagged does not carry it."""
        behind = self.expectations.behind(key)
        if behind is None:
            before = self._previous_status(obj).get("conditions") or []
            if any(c.get("type") == ConditionType.CACHE_SYNCED for c in before):
                return ConditionUpdate(ConditionType.CACHE_SYNCED, True, ConditionReason.CACHE_CAUGHT_UP)
            return None
        message = (
            f"the pod cache has not shown this operator's writes for {behind:.0f}s; "
            "no pods are created or deleted until it does"
        )
        return ConditionUpdate(ConditionType.CACHE_SYNCED, False, ConditionReason.POD_CACHE_BEHIND, message)

    # -- invalid specs -------------------------------------------------------------------------------------
    async def _reject(self, obj: Obj, cluster: RayCluster | None, problems: list[str]) -> Result:
        message = "invalid spec: " + "; ".join(problems)
        log.warning(
            "invalid RayCluster spec; nothing is created or deleted until it is fixed", problems=problems
        )
        self.recorder.warning(obj, EventReason.INVALID_SPEC, message)
        previous = self._previous_status(obj)
        now = now_rfc3339()
        desired = invalid_spec_status(previous, obj["metadata"].get("generation"), message, now)
        if not await self._write_if_changed(obj, previous, desired, now):
            return Result(requeue=True)
        return Result()

    # -- owned objects -------------------------------------------------------------------------------------
    async def _create_if_missing(self, resource: Resource, desired: Obj, namespace: str, owner: Obj) -> Obj:
        """The object as it is, created (with KubeRay's Event) when it is not there yet."""
        name = desired["metadata"]["name"]
        existing = self.cache.get(resource, name, namespace)
        if existing is not None:
            return existing
        created_reason, failed_reason, what = _OBJECT_EVENTS[desired["kind"]]
        try:
            try:
                made = await self.client.create(
                    resource, desired, namespace, field_manager=self.options.field_manager
                )
            except AlreadyExists:
                return await self.client.get(resource, name, namespace)
        except ApiError as error:
            message = f"Failed creating {what} {namespace}/{name}, {error}"
            raise WriteFailure(failed_reason, message, cause=error) from error
        self.recorder.normal(owner, created_reason, f"Created {what} {namespace}/{name}")
        return made

    async def _ensure_autoscaler_rbac(self, cluster: RayCluster, obj: Obj, creating_head: bool) -> None:
        if not cluster.spec.autoscaling_enabled():
            return
        namespace = cluster.namespace
        account = build_autoscaler_service_account(cluster)
        if account is not None:
            await self._create_if_missing(SERVICE_ACCOUNTS, account, namespace, obj)
        elif creating_head:
            await self._require_service_account(cluster)
        await self._create_if_missing(ROLES, build_autoscaler_role(cluster), namespace, obj)
        await self._create_if_missing(ROLE_BINDINGS, build_autoscaler_role_binding(cluster), namespace, obj)

    async def _ensure_auth_secret(self, cluster: RayCluster, obj: Obj) -> None:
        """The cluster's token Secret, made once before pods that read it: never read back (the operator
        may not read Secrets) and never replaced, so a token is not rotated by accident."""
        if not operator_makes_auth_secret(cluster):
            return
        secret = build_auth_secret(cluster, secrets.token_bytes(TOKEN_BYTES), self.options.build)
        name = f"{cluster.namespace}/{cluster.name}"
        try:
            await self.client.create(
                SECRETS, secret, cluster.namespace, field_manager=self.options.field_manager
            )
        except AlreadyExists:
            return
        except ApiError as error:
            message = f"Failed creating secret {name}, {error}"
            raise WriteFailure(EventReason.FAILED_TO_CREATE_SECRET, message, cause=error) from error
        self.recorder.normal(
            obj, EventReason.CREATED_SECRET, f"Created secret {name} holding the Ray auth token"
        )

    async def _require_service_account(self, cluster: RayCluster) -> None:
        """The ServiceAccount the head template names must exist: the user makes it, not the operator. It is
        looked up only before a head pod is made (it is not in the cache, which holds our own objects)."""
        name = autoscaler_service_account_name(cluster)
        try:
            await self.client.get(SERVICE_ACCOUNTS, name, cluster.namespace)
        except NotFound:
            message = (
                f"Failed to reconcile RayCluster {cluster.namespace}/{cluster.name}. The head pod names the "
                f"ServiceAccount {name}, which is not found: the operator does not create a ServiceAccount "
                "the head template names. Create it, or leave serviceAccountName out to get one."
            )
            raise WriteFailure(EventReason.SERVICE_ACCOUNT_NOT_FOUND, message) from None

    async def _ensure_head_service(self, cluster: RayCluster, obj: Obj) -> Obj:
        desired = build_head_service(cluster, self.options.build)
        return await self._create_if_missing(SERVICES, desired, cluster.namespace, obj)

    async def _ensure_headless_worker_service(self, cluster: RayCluster, obj: Obj) -> None:
        desired = build_headless_worker_service(cluster, self.options.build)
        if desired is None:
            return  # one made for an earlier spec stays, as KubeRay leaves it
        service = await self._create_if_missing(SERVICES, desired, cluster.namespace, obj)
        await self._label_for_cache(cluster, service)

    async def _label_for_cache(self, cluster: RayCluster, service: Obj) -> None:
        """Give a Service this cluster controls the label the cache selects Services by.

        KubeRay's headless worker Service lacks it: unlabelled, it would stay out of the cache and be looked
        up again on every pass. A Service of someone else's is left alone.
        """
        metadata = service.get("metadata") or {}
        if CLUSTER_LABEL in (metadata.get("labels") or {}):
            return
        if not controlled_by(service, cluster.metadata.uid):
            return
        patch = {"metadata": {"labels": {CLUSTER_LABEL: cluster.name}}}
        try:
            await self.client.patch(
                SERVICES, metadata["name"], patch, cluster.namespace, field_manager=self.options.field_manager
            )
        except ApiError as error:
            # The Service serves the workers either way; the next pass tries again.
            log.warning("labelling an adopted Service failed", service=metadata["name"], error=str(error))
            return
        log.info("adopted a Service made by another operator", service=metadata["name"])

    # -- pods ----------------------------------------------------------------------------------------------
    async def _execute(
        self, key: str, obj: Obj, cluster: RayCluster, desired: DesiredPods, plan: Plan
    ) -> bool:
        """Carry out the plan; returns True when creations were cut short to let other clusters run."""
        if plan.deletions:
            outcome = await self.writer.delete(key, plan.deletions)
            self._report_deletes(obj, outcome)
        if plan.adoptions:
            failure = await self.writer.stamp(key, plan.adoptions)
            if failure is not None:
                message = f"stamping adopted pods failed: {failure}"
                raise _replica_failure(
                    ConditionReason.FAILED_ADOPT_POD, EventReason.FAILED_ADOPT_POD, message
                )
            log.info("adopted pods made by another operator", pods=len(plan.adoptions))
        requests, yield_points, cut_short = self._creations(desired, plan)
        if not requests:
            return cut_short
        created = await self.writer.create(key, cluster.metadata.uid or "", requests, yield_points)
        self._report_creates(obj, created)
        return cut_short or created.stopped_early

    def _creations(self, desired: DesiredPods, plan: Plan) -> tuple[list[CreateRequest], set[int], bool]:
        """The pods to create this pass, where the pass may stop (where a new replica starts, never inside
        one), and whether the per-pass budget left some for the next pass."""
        requests: list[CreateRequest] = []
        yield_points: set[int] = set()
        if plan.create_head:
            requests.append(CreateRequest(HEAD_GROUP_NAME, desired.head.new_pod()))
        budget = self.options.max_creates_per_pass
        cut_short = False
        for name, count in plan.creations.items():
            group = desired.groups[name]
            replicas = count // group.width
            # At least one whole replica per pass, however wide: a replica wider than the budget still
            # gets made instead of waiting for a budget that never grows.
            allowed = max(0, (budget - len(requests)) // group.width)
            if allowed == 0 and len(requests) == int(plan.create_head):
                allowed = 1
            if allowed < replicas:
                cut_short, replicas = True, allowed
            for _ in range(replicas):
                yield_points.add(len(requests))
                if group.width == 1:
                    requests.append(CreateRequest(name, group.new_pod()))
                    continue
                replica = replica_name(name, secrets.token_hex(3))
                requests.extend(
                    CreateRequest(name, group.new_pod(HostSlot(replica, index)))
                    for index in range(group.width)
                )
        return requests, yield_points, cut_short

    def _report_creates(self, obj: Obj, outcome: CreateOutcome) -> None:
        """One Event per pod, as KubeRay records them (the recorder folds a burst of them into one)."""
        namespace = obj["metadata"]["namespace"]
        for group, names in outcome.names.items():
            for name in names:
                if group == HEAD_GROUP_NAME:
                    self.recorder.normal(
                        obj, EventReason.CREATED_HEAD_POD, f"Created head Pod {namespace}/{name}"
                    )
                else:
                    note = f"Created worker Pod {namespace}/{name} of group {group}"
                    self.recorder.normal(obj, EventReason.CREATED_WORKER_POD, note)
        if outcome.failure is None:
            return
        if outcome.failed_group == HEAD_GROUP_NAME:
            message = f"Failed to create head Pod {namespace}/{outcome.failed_pod}, {outcome.failure}"
            raise _replica_failure(
                ConditionReason.FAILED_CREATE_HEAD_POD,
                EventReason.FAILED_TO_CREATE_HEAD_POD,
                message,
                outcome.failure,
            )
        message = (
            f"Failed to create worker Pod {namespace}/{outcome.failed_pod} of group {outcome.failed_group} "
            f"for the cluster {namespace}/{obj['metadata']['name']}, {outcome.failure}"
        )
        raise _replica_failure(
            ConditionReason.FAILED_CREATE_WORKER_POD,
            EventReason.FAILED_TO_CREATE_WORKER_POD,
            message,
            outcome.failure,
        )

    def _report_deletes(self, obj: Obj, outcome: DeleteOutcome) -> None:
        """KubeRay's Events: one per pod deleted, one for all pods of a suspended cluster or group."""
        namespace, cluster = obj["metadata"]["namespace"], obj["metadata"]["name"]
        suspended_groups: dict[str, int] = {}
        for deletion in outcome.removed:
            pod, reason = deletion.pod, deletion.reason
            if reason == DeleteReason.SUSPENDED:
                continue
            if reason == DeleteReason.GROUP_SUSPENDED:
                suspended_groups[group_of(pod)] = suspended_groups.get(group_of(pod), 0) + 1
                continue
            why = _DELETE_WHY.get(reason, reason)
            if is_head(pod):
                note = f"Deleted head Pod {namespace}/{name_of(pod)}; Pod status: {phase_of(pod)}; {why}"
                self.recorder.normal(obj, EventReason.DELETED_HEAD_POD, note)
            else:
                note = f"Deleted worker Pod {namespace}/{name_of(pod)} for group {group_of(pod)}: {why}"
                self.recorder.normal(obj, EventReason.DELETED_WORKER_POD, note)
        suspended = outcome.deleted.get(DeleteReason.SUSPENDED)
        if suspended:
            note = f"Deleted {len(suspended)} Pods for RayCluster {namespace}/{cluster} due to suspension"
            self.recorder.normal(obj, EventReason.DELETED_POD, note)
        for group, count in suspended_groups.items():
            note = (
                f"Deleted all pods ({count}) for suspended worker group {group} in RayCluster "
                f"{namespace}/{cluster}"
            )
            self.recorder.normal(obj, EventReason.DELETED_WORKER_POD, note)
        failed = outcome.failed
        if outcome.failure is None or failed is None:
            return
        pod_name = f"{namespace}/{name_of(failed.pod)}"
        if failed.reason == DeleteReason.SUSPENDED:
            message = f"Failed deleting Pods due to suspension for RayCluster {namespace}/{cluster}, "
            raise _replica_failure(
                ConditionReason.FAILED_DELETE_ALL_PODS,
                EventReason.FAILED_TO_DELETE_POD_COLLECTION,
                message + str(outcome.failure),
            )
        if failed.reason == DeleteReason.GROUP_SUSPENDED:
            message = (
                f"Failed deleting worker Pods for suspended group {group_of(failed.pod)} in RayCluster "
                f"{namespace}/{cluster}, {outcome.failure}"
            )
            raise _replica_failure(
                ConditionReason.FAILED_DELETE_WORKER_POD,
                EventReason.FAILED_TO_DELETE_WORKER_POD_COLLECTION,
                message,
            )
        if is_head(failed.pod):
            message = f"Failed deleting head Pod {pod_name}, {outcome.failure}"
            raise _replica_failure(
                ConditionReason.FAILED_DELETE_HEAD_POD, EventReason.FAILED_TO_DELETE_HEAD_POD, message
            )
        message = f"Failed deleting worker Pod {pod_name}, {outcome.failure}"
        raise _replica_failure(
            ConditionReason.FAILED_DELETE_WORKER_POD, EventReason.FAILED_TO_DELETE_WORKER_POD, message
        )

    # -- status --------------------------------------------------------------------------------------------
    def _previous_status(self, obj: Obj) -> dict[str, Any]:
        """The cluster's status as it is on the server: the cached one, or our own later write."""
        cached: dict[str, Any] = obj.get("status") or {}
        written = self._written.get(str(key_of(obj)))
        if written is not None and resource_version_number(obj) < written[0]:
            return written[1]
        return cached

    async def _write_status(self, obj: Obj, cluster: RayCluster, pods: list[Pod], seen: Observation) -> bool:
        """Write the status if it changed; False when the write failed (reported as a Warning Event)."""
        previous = self._previous_status(obj)
        now = now_rfc3339()
        desired = compute_status(cluster, pods, previous, seen, now)
        return await self._write_if_changed(obj, previous, desired, now)

    async def _write_if_changed(self, obj: Obj, previous: Obj, desired: Obj, now: str) -> bool:
        if not status_changed(previous, desired):
            return True
        return await self._patch_status(obj, status_patch(previous, desired, now))

    async def _patch_status(self, obj: Obj, patch: Obj) -> bool:
        meta = obj["metadata"]
        try:
            updated = await self.client.patch_status(
                RAYCLUSTERS,
                meta["name"],
                {"status": patch},
                meta["namespace"],
                field_manager=self.options.field_manager,
            )
        except NotFound:
            return True  # deleted meanwhile: nothing left to report on
        except ApiError as error:
            # The status itself cannot say so: the Event does, and the pass comes back with backoff.
            log.warning("writing the status failed", error=str(error))
            self.recorder.warning(
                obj, EventReason.FAILED_UPDATE_STATUS, f"writing the status failed: {error}"
            )
            return False
        self._written[str(key_of(obj))] = (resource_version_number(updated), updated.get("status") or {})
        return True


def _auth_condition(cluster: RayCluster) -> ConditionUpdate | None:
    """Whether Ray asks for a token, and where it is (never the token itself); None without authOptions."""
    if cluster.spec.auth_options is None:
        return None
    if not token_auth(cluster):
        return ConditionUpdate(
            ConditionType.TOKEN_AUTHENTICATION,
            False,
            ConditionReason.AUTH_DISABLED,
            "Ray accepts requests without a token",
        )
    if k8s_token_auth(cluster):
        message = (
            "Ray checks each caller's Kubernetes ServiceAccount token (verb ray:write on this RayCluster)"
        )
        return ConditionUpdate(
            ConditionType.TOKEN_AUTHENTICATION, True, ConditionReason.KUBERNETES_TOKENS, message
        )
    message = f"Ray requires the token in Secret {auth_secret_name(cluster)}, key {TOKEN_KEY}"
    return ConditionUpdate(ConditionType.TOKEN_AUTHENTICATION, True, ConditionReason.SECRET_TOKEN, message)


def _failure_of(error: ApiError) -> WriteFailure:
    """A request of the pass that failed otherwise (a lookup): no condition of KubeRay's says so."""
    return WriteFailure(EventReason.FAILED_RECONCILE, f"reconciling failed: {error}", cause=error)
