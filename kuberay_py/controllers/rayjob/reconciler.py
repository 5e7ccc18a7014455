"""The RayJob reconciler: one step of a job's life per pass, decided from the cache and the job server.

A pass reads the RayJob, its RayCluster and its submitter Job from the cache, asks Ray's job server about the
job only while it runs, takes the step KubeRay 1.5 takes from the job's `status.jobDeploymentStatus`, and
writes the status once, only when it changed:

- New: add the stop-job finalizer; name the cluster and the submission ID in the status *before* anything
  is created, so a retried pass can only make what the status already names.
- Initializing: create the named cluster (or find the one `clusterSelector` names); once it is ready, note
  its dashboard, create the submitter Job (K8sJobMode), then Running (Waiting in InteractiveMode).
- Running: follow the job through the job server (HTTPMode submits it there first); Complete or Failed
  when Ray says the job ended (and, with a submitter, once the submitter finished too).
- Suspending and Retrying: delete the cluster and the submitter, wait until they are gone, then Suspended
  or New (a retry starts over with a new cluster). Suspended: New again once `suspend` is false.
- Complete and Failed: the deletion policy, after its TTL; a cluster the job did not create is never deleted.

Every status write carries the resourceVersion it was computed from, so a pass that read a stale cache
fails with Conflict instead of writing over a newer status; creates that the cache does not show yet are
remembered, so they are not sent twice. Bad input ends `ValidationFailed` with a Warning Event naming the
field.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import structlog
from pydantic import ValidationError

from kuberay_py.api import ObjectMeta, RayCluster
from kuberay_py.api.constants import JOB_STOP_FINALIZER
from kuberay_py.api.rayjob import (
    DELETION_ORDER,
    DeletionPolicyType,
    DeletionRule,
    JobDeploymentStatus,
    JobFailedReason,
    JobStatus,
    RayJob,
    SubmissionMode,
    deployment_status_of,
    job_status_of,
)
from kuberay_py.api.rayjob_validation import job_reconcile_errors
from kuberay_py.api.validation import schema_errors
from kuberay_py.builders import BuildError, head_service_name
from kuberay_py.builders.rayjob import (
    build_job_cluster,
    build_submitter_job,
    dashboard_port,
    new_cluster_name,
    new_submission_id,
    submit_request,
)
from kuberay_py.controllers.common import controlled_by, finalizers_of, guarded_patch, managed_elsewhere
from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS
from kuberay_py.controllers.rayjob.dashboard import DashboardError, JobInfo, JobsApi
from kuberay_py.controllers.rayjob.vocabulary import RAYJOBS, EventReason
from kuberay_py.runtime import (
    JOBS,
    AlreadyExists,
    ApiError,
    Cache,
    Client,
    Conflict,
    EventRecorder,
    NotFound,
    PropagationPolicy,
    Request,
    Resource,
    Result,
)
from kuberay_py.runtime.objects import (
    Obj,
    is_deleting,
    job_finished,
    key_of,
    parse_time,
    resource_version_number,
)

log = structlog.get_logger("kuberay_py.controllers.rayjob")

# Seconds a job's end may wait for its deployment status before it is ended anyway, as in KubeRay.
TRANSITION_GRACE_SECONDS: Final = 300
# Seconds a finished submitter may wait for Ray to report the job's end.
SUBMITTER_FINISHED_GRACE_SECONDS: Final = 30
# The longest wait between requests to a dashboard that keeps failing.
MAX_UNREACHABLE_POLL_SECONDS: Final = 60.0
# How long a deleted RayJob keeps asking an unreachable dashboard to stop its Ray job.
STOP_RETRY_SECONDS: Final = 30
# How long a create this operator sent is trusted to show up in the cache.
_EXPECT_SECONDS: Final = 30.0
_CACHE_BEHIND_RETRY: Final = 0.2
_NEXT_STATE: Final = 0.05


@dataclass(frozen=True)
class RayJobOptions:
    poll_seconds: float = 3.0
    """How often a job that is not waiting on an event is looked at again (its job server polled)."""
    dashboard_address: Literal["service", "pod-ip"] = "service"
    """How the operator reaches a head's dashboard: the head Service's DNS name (inside the cluster), or
    the head pod's IP (an operator outside the cluster network that can route to pods)."""
    cluster_domain: str = "cluster.local"
    field_manager: str = "kuberay-py"


@dataclass(frozen=True)
class _Owned:
    """A kind of object a RayJob makes and deletes, and how its Events name it."""

    resource: Resource
    what: str
    deleted: EventReason
    failed_to_delete: EventReason
    propagation: PropagationPolicy | None = None


_CLUSTER: Final = _Owned(
    RAYCLUSTERS, "cluster", EventReason.DELETED_RAY_CLUSTER, EventReason.FAILED_TO_DELETE_RAY_CLUSTER
)
# Deleted in the background: a Job's own default would orphan its pod.
_SUBMITTER: Final = _Owned(
    JOBS,
    "submitter K8s Job",
    EventReason.DELETED_SUBMITTER,
    EventReason.FAILED_TO_DELETE_SUBMITTER,
    PropagationPolicy.BACKGROUND,
)


@dataclass
class _Pass:
    """One pass over one job: what was read and the status being computed."""

    obj: Obj
    job: RayJob
    status: dict[str, Any]
    requeue_after: float | None = None
    deadline_in: float | None = None
    """Seconds until activeDeadlineSeconds passes, when it is set."""
    events: list[tuple[bool, str, str]] = field(default_factory=list)

    @property
    def deployment(self) -> JobDeploymentStatus:
        return deployment_status_of(self.status.get("jobDeploymentStatus"))

    def move(self, to: JobDeploymentStatus, reason: str | None = None, message: str | None = None) -> None:
        self.status["jobDeploymentStatus"] = to.value
        if reason is not None:
            self.status["reason"] = reason
        if message is not None:
            self.status["message"] = message

    def fail(self, reason: JobFailedReason, message: str) -> None:
        self.move(JobDeploymentStatus.FAILED, reason.value, message)

    def end(self, ray_status: JobStatus, reason: str, message: str | None = None) -> None:
        """Failed if the Ray job failed, else Complete."""
        failed = ray_status == JobStatus.FAILED
        self.move(JobDeploymentStatus.FAILED if failed else JobDeploymentStatus.COMPLETE, reason, message)

    def poll(self, seconds: float) -> None:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_ms(ms: int) -> str:
    return _stamp(datetime.fromtimestamp(ms / 1000, UTC))


class RayJobReconciler:
    def __init__(
        self,
        client: Client,
        cache: Cache,
        recorder: EventRecorder,
        jobs_api: JobsApi,
        options: RayJobOptions | None = None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.cache = cache
        self.recorder = recorder
        self.jobs_api = jobs_api
        self.options = options or RayJobOptions()
        self.clock = clock
        # job key -> resourceVersion of this operator's last write of it
        self._written: dict[str, int] = {}
        # (resource plural, namespace, name) -> monotonic time the create was answered
        self._expected: dict[tuple[str, str, str], float] = {}
        # job key -> dashboard requests failed in a row
        self._failures: dict[str, int] = {}

    # --- the pass -------------------------------------------------------------------------------

    async def reconcile(self, request: Request) -> Result:
        key = str(request)
        obj = self.cache.get(RAYJOBS, request.name, request.namespace)
        if obj is None:
            self._written.pop(key, None)
            self._failures.pop(key, None)
            return Result()
        if managed_elsewhere(obj):
            return Result()
        if resource_version_number(obj) < self._written.get(key, 0):
            return Result(requeue_after=_CACHE_BEHIND_RETRY)  # our own last write is not cached yet
        if is_deleting(obj):
            return await self._finalize(obj)
        try:
            job = RayJob.from_manifest(obj)
        except ValidationError as error:
            problems = [str(e) for e in schema_errors(error)]
            return await self._invalid(obj, RayJob(metadata=_meta(obj)), "; ".join(problems))
        problems = [str(e) for e in job_reconcile_errors(job)]
        if problems:
            return await self._invalid(obj, job, "; ".join(problems))

        step = _Pass(obj, job, dict(obj.get("status") or {}))
        before = step.deployment
        await self._step(step)
        self._count_outcome(step, before)
        if step.deployment != before:
            self._transition_event(step, before)
        if step.deployment.is_terminal() and not before.is_terminal():
            step.status["endTime"] = _stamp(self.clock())
        step.status["observedGeneration"] = obj["metadata"].get("generation")
        if not await self._write_status(step):
            return Result(requeue=True)
        for warning, reason, note in step.events:
            (self.recorder.warning if warning else self.recorder.normal)(obj, reason, note)
        if step.deployment != before:
            # The next state acts at once; status events do not come back (they change no generation).
            return Result(requeue_after=_NEXT_STATE)
        return Result(requeue_after=step.requeue_after)

    async def _step(self, step: _Pass) -> None:
        state = step.deployment
        if state == JobDeploymentStatus.NEW:
            await self._start(step)
        elif state == JobDeploymentStatus.INITIALIZING:
            await self._initialize(step)
        elif state == JobDeploymentStatus.WAITING:
            self._wait_for_job_id(step)
        elif state == JobDeploymentStatus.RUNNING:
            await self._run(step)
        elif state in (JobDeploymentStatus.SUSPENDING, JobDeploymentStatus.RETRYING):
            await self._release(step)
        elif state == JobDeploymentStatus.SUSPENDED:
            if not step.job.spec.is_suspended():
                step.status["jobStatus"] = JobStatus.NEW.value
                step.move(JobDeploymentStatus.NEW)
        elif state.is_terminal():
            await self._after_end(step)
        elif state == JobDeploymentStatus.VALIDATION_FAILED:
            # The spec passed this time: start over.
            step.move(JobDeploymentStatus.NEW, "", "")

    # --- New and Initializing -------------------------------------------------------------------

    async def _start(self, step: _Pass) -> None:
        if JOB_STOP_FINALIZER not in finalizers_of(step.obj):
            updated = await self._patch_job(
                step.obj, {"metadata": {"finalizers": [*finalizers_of(step.obj), JOB_STOP_FINALIZER]}}
            )
            if updated is None:
                step.poll(self.options.poll_seconds)
                return
            step.obj = updated
        job, status = step.job, step.status
        if job.spec.mode() != SubmissionMode.INTERACTIVE and not status.get("jobId"):
            status["jobId"] = new_submission_id(job)
        if not status.get("rayClusterName"):
            selected = job.spec.selected_cluster()
            status["rayClusterName"] = selected or new_cluster_name(job)
        status.setdefault("jobStatus", JobStatus.NEW.value)
        status["startTime"] = _stamp(self.clock())
        step.move(JobDeploymentStatus.INITIALIZING)

    async def _initialize(self, step: _Pass) -> None:
        if self._suspend_if_asked(step) or self._deadline_passed(step):
            return
        cluster = await self._cluster(step, create=True)
        if cluster is None:
            return
        if not step.status.get("dashboardURL"):
            if ((cluster.get("status") or {}).get("state")) != "ready":
                step.poll(self.options.poll_seconds)  # the cluster's own changes come as events too
                return
            address = self._dashboard_address(cluster)
            if address is None:
                step.poll(self.options.poll_seconds)
                return
            step.status["dashboardURL"] = address
        mode = step.job.spec.mode()
        if mode == SubmissionMode.INTERACTIVE:
            step.move(JobDeploymentStatus.WAITING)
            return
        if mode == SubmissionMode.K8S_JOB and not await self._ensure_submitter(step, cluster):
            step.poll(self.options.poll_seconds)
            return
        step.move(JobDeploymentStatus.RUNNING)

    def _wait_for_job_id(self, step: _Pass) -> None:
        if not step.job.spec.job_id:
            step.poll(self.options.poll_seconds)
            return
        step.status["jobId"] = step.job.spec.job_id
        step.move(JobDeploymentStatus.RUNNING)

    async def _cluster(self, step: _Pass, *, create: bool) -> Obj | None:
        """The job's RayCluster from the cache; created from the spec when missing and the job makes it."""
        job, name = step.job, step.status.get("rayClusterName") or ""
        cluster = self.cache.get(RAYCLUSTERS, name, job.namespace)
        if cluster is not None:
            return cluster
        if job.spec.uses_existing_cluster():
            note = f"RayCluster {job.namespace}/{name} named in clusterSelector is not found; create it first"
            step.events.append((True, EventReason.RAY_CLUSTER_NOT_FOUND, note))
            step.poll(self.options.poll_seconds)
            return None
        if not create or self._is_expected("rayclusters", job.namespace, name):
            step.poll(self.options.poll_seconds)
            return None
        try:
            manifest = build_job_cluster(job, name)
            await self.client.create(
                RAYCLUSTERS, manifest, job.namespace, field_manager=self.options.field_manager
            )
        except AlreadyExists:
            pass  # created by an earlier pass whose answer was lost
        except (ApiError, BuildError) as error:
            note = f"Failed to create RayCluster {job.namespace}/{name}: {error}"
            step.events.append((True, EventReason.FAILED_TO_CREATE_RAY_CLUSTER, note))
            step.poll(self.options.poll_seconds)
            return None
        else:
            note = f"Created RayCluster {job.namespace}/{name}"
            step.events.append((False, EventReason.CREATED_RAY_CLUSTER, note))
        self._expect("rayclusters", job.namespace, name)
        step.poll(self.options.poll_seconds)
        return None

    def _dashboard_address(self, cluster_obj: Obj) -> str | None:
        """host:port of the head's dashboard, as the chosen address mode reaches it."""
        try:
            cluster = RayCluster.from_manifest(cluster_obj)
        except ValidationError:
            return None
        port = dashboard_port(cluster.spec)
        if self.options.dashboard_address == "pod-ip":
            ip = _head_ip(cluster_obj)
            return f"{ip}:{port}" if ip else None
        host = f"{head_service_name(cluster)}.{cluster.namespace}.svc.{self.options.cluster_domain}"
        return f"{host}:{port}"

    async def _ensure_submitter(self, step: _Pass, cluster_obj: Obj) -> bool:
        job = step.job
        if self.cache.get(JOBS, job.name, job.namespace) is not None:
            return True
        if self._is_expected("jobs", job.namespace, job.name):
            return True
        try:
            cluster = RayCluster.from_manifest(cluster_obj)
            manifest = build_submitter_job(
                job, cluster.spec, step.status.get("jobId") or "", step.status.get("dashboardURL") or ""
            )
            await self.client.create(JOBS, manifest, job.namespace, field_manager=self.options.field_manager)
        except AlreadyExists:
            pass
        except (ApiError, BuildError, ValidationError) as error:
            note = f"Failed to create new Kubernetes Job {job.namespace}/{job.name}: {error}"
            step.events.append((True, EventReason.FAILED_TO_CREATE_SUBMITTER, note))
            return False
        else:
            note = f"Created Kubernetes Job {job.namespace}/{job.name}"
            step.events.append((False, EventReason.CREATED_SUBMITTER, note))
        self._expect("jobs", job.namespace, job.name)
        return True

    # --- Running --------------------------------------------------------------------------------

    async def _run(self, step: _Pass) -> None:
        if self._suspend_if_asked(step) or self._deadline_passed(step) or self._grace_passed(step):
            return
        step.poll(self.options.poll_seconds)
        cluster = await self._cluster(step, create=True)
        if cluster is None:
            return
        head_ip = _head_ip(cluster)
        known = str(step.status.get("dashboardURL") or "")
        if self.options.dashboard_address == "pod-ip" and head_ip and not known.startswith(f"{head_ip}:"):
            # A new head has a new IP: follow it, or the job server is asked at an address nobody has. Only
            # then is the cluster parsed again for its port, not at every poll.
            address = self._dashboard_address(cluster)
            if address:
                step.status["dashboardURL"] = address
        job, status = step.job, step.status
        mode = job.spec.mode()
        finished_at: datetime | None = None
        if mode == SubmissionMode.K8S_JOB:
            submitter = self.cache.get(JOBS, job.name, job.namespace)
            if submitter is None:
                if not self._is_expected("jobs", job.namespace, job.name):
                    await self._ensure_submitter(step, cluster)
                return
            outcome, finished_at, why = _submitter_outcome(submitter)
            if finished_at is not None and self.clock() - finished_at > timedelta(
                seconds=SUBMITTER_FINISHED_GRACE_SECONDS
            ):
                status["jobStatus"] = JobStatus.FAILED.value
                message = (
                    f"the submitter finished at {_stamp(finished_at)} but the Ray job did not end within "
                    f"{SUBMITTER_FINISHED_GRACE_SECONDS}s"
                )
                step.fail(JobFailedReason.TRANSITION_GRACE_PERIOD_EXCEEDED, message)
                return
            if outcome == "Failed":
                if job_status_of(status.get("jobStatus")) == JobStatus.FAILED:
                    step.fail(JobFailedReason.APP_FAILED, status.get("message") or "")
                else:
                    step.fail(JobFailedReason.SUBMISSION_FAILED, f"Job submission has failed. {why}")
                return
        base = f"http://{status.get('dashboardURL')}"
        submission_id = status.get("jobId") or ""
        try:
            info = await self.jobs_api.job_info(base, submission_id)
            if info is None and mode == SubmissionMode.HTTP:
                await self.jobs_api.submit(base, submit_request(job, submission_id))
                note = f"Submitted Ray job {submission_id} to {base}"
                step.events.append((False, EventReason.SUBMITTED, note))
                step.poll(min(1.0, self.options.poll_seconds))
                return
        except DashboardError as error:
            self._unreachable(step, submission_id, error)
            return
        except BuildError as error:
            step.events.append((True, EventReason.FAILED_TO_SUBMIT, str(error)))
            return
        self._failures.pop(str(key_of(step.obj)), None)
        if info is None:
            if finished_at is not None:
                step.fail(
                    JobFailedReason.APP_FAILED, "Submitter completed but Ray job not found in RayCluster."
                )
            return
        self._follow(step, info, cluster, finished_at)

    def _unreachable(self, step: _Pass, submission_id: str, error: DashboardError) -> None:
        """Report a dashboard that did not answer once, then ask it less and less often: a cluster whose
        dashboard is gone for good must not cost an Event and a pass every few seconds."""
        key = str(key_of(step.obj))
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        if failures == 1:
            note = f"Ray job {submission_id}: {error}"
            step.events.append((True, EventReason.DASHBOARD_UNREACHABLE, note))
        delay = min(self.options.poll_seconds * 2 ** (failures - 1), MAX_UNREACHABLE_POLL_SECONDS)
        step.requeue_after = delay if step.deadline_in is None else min(delay, step.deadline_in)

    def _follow(self, step: _Pass, info: JobInfo, cluster: Obj, finished_at: datetime | None) -> None:
        status = step.status
        ray_status = job_status_of(info.status)
        terminal = ray_status.is_terminal()
        if step.job.spec.mode() == SubmissionMode.K8S_JOB:
            # The submitter follows the logs to the end: it finishing too means the logs were shown.
            terminal = terminal and finished_at is not None
        status["rayClusterStatus"] = cluster.get("status") or {}
        status["jobStatus"] = ray_status.value
        status["message"] = info.message
        if terminal:
            step.end(ray_status, JobFailedReason.APP_FAILED.value if ray_status == JobStatus.FAILED else "")
        else:
            status["reason"] = ""
        times = dict(status.get("rayJobInfo") or {})
        if info.start_time_ms:
            times["startTime"] = _from_ms(info.start_time_ms)
        if info.end_time_ms:
            times["endTime"] = _from_ms(info.end_time_ms)
        if times:
            status["rayJobInfo"] = times

    def _suspend_if_asked(self, step: _Pass) -> bool:
        if not step.job.spec.is_suspended():
            return False
        step.move(JobDeploymentStatus.SUSPENDING)
        return True

    def _deadline_passed(self, step: _Pass) -> bool:
        deadline = step.job.spec.active_deadline_seconds
        started = step.status.get("startTime")
        if deadline is None or not started:
            return False
        left = parse_time(started) + timedelta(seconds=deadline) - self.clock()
        if left > timedelta(0):
            step.deadline_in = max(left.total_seconds(), 0.05)
            step.poll(step.deadline_in)  # back at the deadline, to the second
            return False
        message = f"The RayJob has passed the activeDeadlineSeconds. StartTime: {started}. "
        step.fail(JobFailedReason.DEADLINE_EXCEEDED, message + f"ActiveDeadlineSeconds: {deadline}")
        return True

    def _grace_passed(self, step: _Pass) -> bool:
        status = step.status
        ray_status = job_status_of(status.get("jobStatus"))
        ended = (status.get("rayJobInfo") or {}).get("endTime")
        if not ray_status.is_terminal() or not ended:
            return False
        if self.clock() - parse_time(ended) < timedelta(seconds=TRANSITION_GRACE_SECONDS):
            return False
        step.end(
            ray_status,
            JobFailedReason.TRANSITION_GRACE_PERIOD_EXCEEDED.value,
            "JobDeploymentStatus did not become Complete or Failed within the grace period after the Ray job "
            "ended.",
        )
        return True

    # --- Suspending and Retrying ----------------------------------------------------------------

    async def _release(self, step: _Pass) -> None:
        """Delete the cluster and the submitter; move on only once both are gone."""
        cluster_gone = await self._delete_cluster(step)
        submitter_gone = await self._delete_submitter(step)
        if not (cluster_gone and submitter_gone):
            step.poll(self.options.poll_seconds)
            return
        status = step.status
        for key in (
            "rayClusterStatus",
            "rayClusterName",
            "dashboardURL",
            "jobId",
            "message",
            "reason",
            "rayJobInfo",
        ):
            status.pop(key, None)
        status["jobStatus"] = JobStatus.NEW.value
        if step.deployment == JobDeploymentStatus.SUSPENDING:
            step.move(JobDeploymentStatus.SUSPENDED)
        else:
            step.move(JobDeploymentStatus.NEW)

    async def _delete_cluster(self, step: _Pass) -> bool:
        """True once the job's own cluster is gone or going; a cluster it did not create is left alone."""
        name = step.status.get("rayClusterName") or ""
        if not name or step.job.spec.uses_existing_cluster():
            return True
        return await self._delete_owned(step, _CLUSTER, name)

    async def _delete_submitter(self, step: _Pass) -> bool:
        if step.job.spec.mode() != SubmissionMode.K8S_JOB:
            return True
        return await self._delete_owned(step, _SUBMITTER, step.job.name)

    async def _delete_owned(self, step: _Pass, kind: _Owned, name: str) -> bool:
        """Delete an object the job controls; True once it is gone (or not the job's), False while it goes."""
        job, resource = step.job, kind.resource
        obj = self.cache.get(resource, name, job.namespace)
        if obj is None:
            return not self._is_expected(resource.plural, job.namespace, name)
        if not controlled_by(obj, job.uid):
            return True
        if is_deleting(obj):
            return False
        try:
            await self.client.delete(resource, name, job.namespace, propagation_policy=kind.propagation)
        except NotFound:
            return True
        except ApiError as error:
            note = f"Failed to delete {kind.what} {job.namespace}/{name}: {error}"
            step.events.append((True, kind.failed_to_delete, note))
            return False
        self._expected.pop((resource.plural, job.namespace, name), None)
        step.events.append((False, kind.deleted, f"Deleted {kind.what} {job.namespace}/{name}"))
        return False

    # --- Complete and Failed --------------------------------------------------------------------

    async def _after_end(self, step: _Pass) -> None:
        job, status = step.job, step.status
        if job.spec.uses_existing_cluster():
            return
        ended = status.get("endTime")
        end = parse_time(ended) if ended else self.clock()
        strategy = job.spec.deletion_strategy
        ray_status = job_status_of(status.get("jobStatus"))
        if strategy is not None and strategy.uses_rules():
            await self._apply_rules(step, list(strategy.deletion_rules or []), ray_status, end)
            return
        policy: str | None = None
        if strategy is not None:
            chosen = strategy.on_success if ray_status == JobStatus.SUCCEEDED else strategy.on_failure
            if ray_status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
                return
            policy = chosen.policy if chosen is not None else None
        elif job.spec.shutdown_after_job_finishes:
            policy = DeletionPolicyType.DELETE_CLUSTER
        if policy is None or policy == DeletionPolicyType.DELETE_NONE:
            return
        due = end + timedelta(seconds=job.spec.ttl_seconds_after_finished)
        if due > self.clock():
            step.poll((due - self.clock()).total_seconds())
            return
        await self._execute(step, DeletionPolicyType(policy))

    async def _apply_rules(
        self, step: _Pass, rules: list[DeletionRule], ray_status: JobStatus, end: datetime
    ) -> None:
        overdue: list[DeletionPolicyType] = []
        for rule in rules:
            if rule.condition.job_status != ray_status.value:
                continue
            due = end + timedelta(seconds=rule.condition.ttl_seconds)
            if due > self.clock():
                step.poll((due - self.clock()).total_seconds())
                continue
            policy = DeletionPolicyType(rule.policy)
            if not self._policy_done(step, policy):
                overdue.append(policy)
        if overdue:
            # The most far-reaching rule due includes what the others would do.
            await self._execute(step, max(overdue, key=DELETION_ORDER.index))

    def _policy_done(self, step: _Pass, policy: DeletionPolicyType) -> bool:
        if policy == DeletionPolicyType.DELETE_NONE:
            return True
        if policy == DeletionPolicyType.DELETE_SELF:
            return False
        cluster = self.cache.get(RAYCLUSTERS, step.status.get("rayClusterName") or "", step.job.namespace)
        if cluster is None or is_deleting(cluster):
            return True
        if policy == DeletionPolicyType.DELETE_CLUSTER:
            return False
        groups = (cluster.get("spec") or {}).get("workerGroupSpecs") or []
        return all(group.get("suspend") for group in groups)

    async def _execute(self, step: _Pass, policy: DeletionPolicyType) -> None:
        job = step.job
        if policy == DeletionPolicyType.DELETE_CLUSTER:
            await self._delete_cluster(step)
        elif policy == DeletionPolicyType.DELETE_WORKERS:
            await self._suspend_workers(step)
        elif policy == DeletionPolicyType.DELETE_SELF:
            try:
                await self.client.delete(
                    RAYJOBS, job.name, job.namespace, propagation_policy=PropagationPolicy.BACKGROUND
                )
            except NotFound:
                return
            except ApiError as error:
                note = f"Failed to delete RayJob {job.namespace}/{job.name}: {error}"
                step.events.append((True, EventReason.FAILED_TO_DELETE_RAY_JOB, note))
                step.poll(self.options.poll_seconds)
                return
            step.events.append(
                (False, EventReason.DELETED_RAY_JOB, f"Deleted RayJob {job.namespace}/{job.name}")
            )

    async def _suspend_workers(self, step: _Pass) -> None:
        job, name = step.job, step.status.get("rayClusterName") or ""
        cluster = self.cache.get(RAYCLUSTERS, name, job.namespace)
        if cluster is None or not controlled_by(cluster, job.uid):
            return
        groups = [
            {**group, "suspend": True} for group in (cluster.get("spec") or {}).get("workerGroupSpecs") or []
        ]
        patch = guarded_patch(cluster, {"spec": {"workerGroupSpecs": groups}})
        try:
            await self.client.patch(
                RAYCLUSTERS, name, patch, job.namespace, field_manager=self.options.field_manager
            )
        except ApiError as error:
            note = f"Failed to suspend worker groups in cluster {job.namespace}/{name}: {error}"
            step.events.append((True, EventReason.FAILED_TO_UPDATE_RAY_CLUSTER, note))
            step.poll(self.options.poll_seconds)
            return
        note = f"Set the `suspend` field to true for all worker groups in cluster {job.namespace}/{name}"
        step.events.append((False, EventReason.UPDATED_RAY_CLUSTER, note))

    # --- outcomes, events, status ---------------------------------------------------------------

    def _count_outcome(self, step: _Pass, before: JobDeploymentStatus) -> None:
        """Count a job's end once, and retry a failure while the backoff limit allows."""
        status = step.status
        if step.deployment == before or not step.deployment.is_terminal():
            status.setdefault("failed", 0)
            status.setdefault("succeeded", 0)
            return
        failed, succeeded = int(status.get("failed") or 0), int(status.get("succeeded") or 0)
        if step.deployment == JobDeploymentStatus.FAILED:
            failed += 1
        elif job_status_of(status.get("jobStatus")) == JobStatus.SUCCEEDED:
            succeeded += 1
        status["failed"], status["succeeded"] = failed, succeeded
        limit = step.job.spec.backoff_limit
        deadline = status.get("reason") == JobFailedReason.DEADLINE_EXCEEDED
        if step.deployment == JobDeploymentStatus.FAILED and failed < limit + 1 and not deadline:
            step.move(JobDeploymentStatus.RETRYING)

    def _transition_event(self, step: _Pass, before: JobDeploymentStatus) -> None:
        after = step.deployment
        why = step.status.get("message") or ""
        note = f"{before.value or 'New'} -> {after.value or 'New'}" + (f": {why}" if why else "")
        warning = after in (JobDeploymentStatus.FAILED, JobDeploymentStatus.RETRYING)
        step.events.append((warning, EventReason.DEPLOYMENT_STATUS_CHANGED, note[:1000]))

    async def _invalid(self, obj: Obj, job: RayJob, problems: str) -> Result:
        status = dict(obj.get("status") or {})
        if (
            status.get("jobDeploymentStatus") == JobDeploymentStatus.VALIDATION_FAILED
            and status.get("message") == problems
        ):
            return Result()
        status["jobDeploymentStatus"] = JobDeploymentStatus.VALIDATION_FAILED.value
        status["reason"] = JobFailedReason.VALIDATION_FAILED.value
        status["message"] = problems
        status["observedGeneration"] = obj["metadata"].get("generation")
        step = _Pass(obj, job, status)
        if await self._write_status(step):
            note = f"{key_of(obj)}: {problems}"
            self.recorder.warning(obj, EventReason.INVALID_SPEC, note)
            return Result()
        return Result(requeue=True)

    async def _write_status(self, step: _Pass) -> bool:
        """Patch the status if it changed, guarded by the resourceVersion it was computed from."""
        previous = step.obj.get("status") or {}
        if step.status == previous:
            return True
        patch: dict[str, Any] = {
            key: value for key, value in step.status.items() if previous.get(key) != value
        }
        patch.update({key: None for key in previous if key not in step.status})
        body = guarded_patch(step.obj, {"status": patch})
        meta = step.obj["metadata"]
        try:
            updated = await self.client.patch_status(
                RAYJOBS, meta["name"], body, meta["namespace"], field_manager=self.options.field_manager
            )
        except NotFound:
            return True
        except Conflict:
            return False  # computed from a stale read: the next pass reads again
        except ApiError as error:
            log.warning("writing the status failed", job=meta["name"], error=str(error))
            self.recorder.warning(
                step.obj, EventReason.FAILED_UPDATE_STATUS, f"writing the status failed: {error}"
            )
            return False
        self._written[str(key_of(step.obj))] = resource_version_number(updated)
        return True

    async def _patch_job(self, obj: Obj, patch: dict[str, Any]) -> Obj | None:
        meta, body = obj["metadata"], guarded_patch(obj, patch)
        try:
            updated = await self.client.patch(
                RAYJOBS, meta["name"], body, meta["namespace"], field_manager=self.options.field_manager
            )
        except ApiError as error:
            log.info("patching the RayJob failed", job=meta["name"], error=str(error))
            return None
        self._written[str(key_of(obj))] = resource_version_number(updated)
        return updated

    # --- deletion of the RayJob -----------------------------------------------------------------

    async def _finalize(self, obj: Obj) -> Result:
        """Ask Ray to stop a job that may still run, then let the RayJob go (once Ray answered, or after
        `STOP_RETRY_SECONDS` of asking)."""
        if JOB_STOP_FINALIZER not in finalizers_of(obj):
            return Result()
        status = obj.get("status") or {}
        address, submission_id = status.get("dashboardURL"), status.get("jobId")
        if address and submission_id and not job_status_of(status.get("jobStatus")).is_terminal():
            try:
                await self.jobs_api.stop(f"http://{address}", submission_id)
                self.recorder.normal(
                    obj, EventReason.STOPPED_RAY_JOB, f"Asked Ray to stop job {submission_id}"
                )
            except DashboardError as error:
                note = f"Ray job {submission_id}: {error}"
                self.recorder.warning(obj, EventReason.FAILED_TO_STOP_RAY_JOB, note)
                # A dashboard down for a moment is asked again; one that stays down holds nothing up.
                deleted = parse_time(obj["metadata"]["deletionTimestamp"])
                if self.clock() - deleted < timedelta(seconds=STOP_RETRY_SECONDS):
                    return Result(requeue_after=self.options.poll_seconds)
        remaining = [f for f in finalizers_of(obj) if f != JOB_STOP_FINALIZER]
        if await self._patch_job(obj, {"metadata": {"finalizers": remaining}}) is None:
            return Result(requeue_after=self.options.poll_seconds)
        return Result()

    # --- expectations ---------------------------------------------------------------------------

    def _expect(self, kind: str, namespace: str, name: str) -> None:
        self._expected[(kind, namespace, name)] = time.monotonic()

    def _is_expected(self, kind: str, namespace: str, name: str) -> bool:
        """Whether this operator created it so recently that the cache may not show it yet."""
        key = (kind, namespace, name)
        since = self._expected.get(key)
        if since is None:
            return False
        if time.monotonic() - since > _EXPECT_SECONDS:
            del self._expected[key]
            return False
        return True


def _submitter_outcome(submitter: Obj) -> tuple[str | None, datetime | None, str]:
    """The submitter Job's end (Complete or Failed), when it ended, and why it failed."""
    condition = job_finished(submitter)
    if condition is None:
        return None, None, ""
    moment = condition.get("lastTransitionTime")
    at = parse_time(moment) if moment else None
    why = f"Reason: {condition.get('reason', '')}. Message: {condition.get('message', '')}"
    return str(condition["type"]), at, why


def _head_ip(cluster: Obj) -> str | None:
    """The head pod's IP as the RayCluster's status reports it."""
    ip: str | None = ((cluster.get("status") or {}).get("head") or {}).get("podIP")
    return ip


def _meta(obj: Obj) -> ObjectMeta:
    return ObjectMeta.from_dict(obj.get("metadata") or {})
