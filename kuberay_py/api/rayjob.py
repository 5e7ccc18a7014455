"""The RayJob object: one Ray program run to completion on a cluster of its own (or on one it names).

The schema is KubeRay's `ray.io/v1` RayJob. What CEL can check is checked at admission, with the same
messages the controller uses; what it cannot (the runtime environment's YAML, the Ray version behind
`metadata`, the ordering of deletion rules) is in `rayjob_validation`.
"""

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import Field, StrictFloat, StrictInt

from kuberay_py.api import constants as c
from kuberay_py.api import messages as m
from kuberay_py.api.base import KubeModel
from kuberay_py.api.enums import member_or, values
from kuberay_py.api.managed_by import ManagedByName, managed_by_kept
from kuberay_py.api.markers import Rule, Schema, at_least, one_of
from kuberay_py.api.metadata import ApiObject, ObjectMeta, name_rules
from kuberay_py.api.spec import RayClusterSpec
from kuberay_py.api.status import RayClusterStatus
from kuberay_py.api.types import Bool, Int32, Int64, PodTemplateSpec, Str, StrMap, Timestamp


class JobStatus(StrEnum):
    """The Ray job's own status, as Ray's job server reports it ("" before it is submitted)."""

    NEW = ""
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    def is_terminal(self) -> bool:
        return self in (JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED)


def job_status_of(value: str | None) -> JobStatus:
    """A status field's jobStatus; a value this version does not know counts as not yet submitted."""
    return member_or(JobStatus, value or "", JobStatus.NEW)


class JobDeploymentStatus(StrEnum):
    """Where the RayJob is in its life: its cluster, its submission, its end."""

    NEW = ""
    INITIALIZING = "Initializing"
    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"
    VALIDATION_FAILED = "ValidationFailed"
    SUSPENDING = "Suspending"
    SUSPENDED = "Suspended"
    RETRYING = "Retrying"
    WAITING = "Waiting"

    def is_terminal(self) -> bool:
        return self in (JobDeploymentStatus.COMPLETE, JobDeploymentStatus.FAILED)


def deployment_status_of(value: str | None) -> JobDeploymentStatus:
    """A status field's jobDeploymentStatus; a value this version does not know counts as New."""
    return member_or(JobDeploymentStatus, value or "", JobDeploymentStatus.NEW)


class JobFailedReason(StrEnum):
    SUBMISSION_FAILED = "SubmissionFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    APP_FAILED = "AppFailed"
    TRANSITION_GRACE_PERIOD_EXCEEDED = "JobDeploymentStatusTransitionGracePeriodExceeded"
    VALIDATION_FAILED = "ValidationFailed"


class SubmissionMode(StrEnum):
    K8S_JOB = "K8sJobMode"
    """A Kubernetes Job runs `ray job submit` against the head."""
    HTTP = "HTTPMode"
    """The operator submits through the Ray Jobs REST API itself."""
    INTERACTIVE = "InteractiveMode"
    """Nothing is submitted: the user submits, then sets spec.jobId."""
    SIDECAR = "SidecarMode"
    """A container in the head pod submits."""


class DeletionPolicyType(StrEnum):
    DELETE_CLUSTER = "DeleteCluster"
    DELETE_WORKERS = "DeleteWorkers"
    DELETE_SELF = "DeleteSelf"
    DELETE_NONE = "DeleteNone"


# The order in which a job's resources go; a later one includes the earlier ones.
DELETION_ORDER: tuple[DeletionPolicyType, ...] = (
    DeletionPolicyType.DELETE_NONE,
    DeletionPolicyType.DELETE_WORKERS,
    DeletionPolicyType.DELETE_CLUSTER,
    DeletionPolicyType.DELETE_SELF,
)

# Numbers as JSON has them: 1 and 1.5 alike.
Number = StrictFloat | StrictInt
PolicyName = Annotated[Str, one_of(values(DeletionPolicyType), m.DELETION_POLICY_UNKNOWN)]


class DeletionPolicy(KubeModel):
    """What to delete once the job ends one way (the older onSuccess/onFailure form)."""

    policy: PolicyName | None = None
    """DeleteCluster, DeleteWorkers, DeleteSelf or DeleteNone."""


class DeletionCondition(KubeModel):
    """When a deletion rule fires."""

    job_status: Annotated[Str, one_of(("SUCCEEDED", "FAILED"), m.DELETION_JOB_STATUS_UNKNOWN)]
    """The job's terminal status the rule is for: SUCCEEDED or FAILED."""
    ttl_seconds: Annotated[Int32, at_least(0, m.DELETION_TTL_NEGATIVE)] = 0
    """Seconds after the job ends before the rule fires."""


class DeletionRule(KubeModel):
    """One deletion action and when it happens."""

    policy: PolicyName
    """DeleteCluster, DeleteWorkers, DeleteSelf or DeleteNone."""
    condition: DeletionCondition
    """When the rule fires."""


def _not_mixed(strategy: "DeletionStrategy") -> bool:
    legacy = strategy.on_success is not None or strategy.on_failure is not None
    return not (legacy and strategy.deletion_rules is not None)


def _complete(strategy: "DeletionStrategy") -> bool:
    both = strategy.on_success is not None and strategy.on_failure is not None
    return both or strategy.deletion_rules is not None


class DeletionStrategy(KubeModel):
    """What is deleted after the job ends: either onSuccess and onFailure, or deletionRules."""

    on_success: DeletionPolicy | None = None
    """What to delete after the job succeeds (older form; use deletionRules)."""
    on_failure: DeletionPolicy | None = None
    """What to delete after the job fails (older form; use deletionRules)."""
    deletion_rules: (
        Annotated[
            list[DeletionRule],
            Field(max_length=c.MAX_DELETION_RULES),
            Schema(
                openapi={"x-kubernetes-list-type": "atomic", "minItems": 1},
                rules=(Rule(cel="size(self) >= 1", message=m.DELETION_RULES_EMPTY, check=bool),),
            ),
        ]
        | None
    ) = None
    """Deletion actions, each after its own delay once the job ends with a given status."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="!((has(self.onSuccess) || has(self.onFailure)) && has(self.deletionRules))",
            message=m.DELETION_STRATEGY_MIXED,
            check=_not_mixed,
        ),
        Rule(
            cel="(has(self.onSuccess) && has(self.onFailure)) || has(self.deletionRules)",
            message=m.DELETION_STRATEGY_INCOMPLETE,
            check=_complete,
        ),
    )

    def uses_rules(self) -> bool:
        return self.deletion_rules is not None


class SubmitterConfig(KubeModel):
    """Settings of the submitter Kubernetes Job."""

    backoff_limit: Annotated[Int32, at_least(0, m.SUBMITTER_BACKOFF_LIMIT_NEGATIVE)] | None = None
    """Retries of the submitter pod before the Job fails (default 2)."""


def _mode(spec: "RayJobSpec") -> str:
    # As written: an unknown mode equals none of the known ones, as in the CEL rules.
    return spec.submission_mode or SubmissionMode.K8S_JOB


def _has_cluster(spec: "RayJobSpec") -> bool:
    return spec.ray_cluster_spec is not None or bool(spec.cluster_selector)


def _selector_names_cluster(spec: "RayJobSpec") -> bool:
    return not spec.cluster_selector or bool(spec.cluster_selector.get(c.CLUSTER_SELECTOR_KEY))


def _suspend_with_shutdown(spec: "RayJobSpec") -> bool:
    return not spec.suspend or bool(spec.shutdown_after_job_finishes)


def _suspend_without_selector(spec: "RayJobSpec") -> bool:
    return not spec.suspend or not spec.cluster_selector


def _ttl_with_shutdown(spec: "RayJobSpec") -> bool:
    return (spec.ttl_seconds_after_finished or 0) <= 0 or bool(spec.shutdown_after_job_finishes)


def _no_backoff_when_interactive(spec: "RayJobSpec") -> bool:
    return _mode(spec) != SubmissionMode.INTERACTIVE or (spec.backoff_limit or 0) <= 0


def _sidecar_without_template(spec: "RayJobSpec") -> bool:
    return _mode(spec) != SubmissionMode.SIDECAR or spec.submitter_pod_template is None


def _sidecar_without_config(spec: "RayJobSpec") -> bool:
    return _mode(spec) != SubmissionMode.SIDECAR or spec.submitter_config is None


def _sidecar_without_selector(spec: "RayJobSpec") -> bool:
    return _mode(spec) != SubmissionMode.SIDECAR or not spec.cluster_selector


def sidecar_head_never_restarts(spec: "RayJobSpec") -> bool:
    """The pod template is not in the CRD's schema, so CEL cannot read its restartPolicy: checked later."""
    if _mode(spec) != SubmissionMode.SIDECAR or spec.ray_cluster_spec is None:
        return True
    return spec.ray_cluster_spec.head_group_spec.restart_policy_never_or_unset()


def _has_entrypoint(spec: "RayJobSpec") -> bool:
    # A submitter template of the user's may run its own submit command.
    mode = _mode(spec)
    if mode == SubmissionMode.INTERACTIVE or (mode == SubmissionMode.K8S_JOB and spec.submitter_pod_template):
        return True
    return bool((spec.entrypoint or "").strip())


def _rules_without_shutdown(spec: "RayJobSpec") -> bool:
    strategy = spec.deletion_strategy
    return strategy is None or not strategy.uses_rules() or not spec.shutdown_after_job_finishes


_MODE = "(has(self.submissionMode) ? self.submissionMode : 'K8sJobMode')"
_SELECTOR = "has(self.clusterSelector) && size(self.clusterSelector) > 0"


class RayJobSpec(KubeModel):
    """The job: what to run, on which cluster, how to submit it and what to clean up after."""

    active_deadline_seconds: Annotated[Int32, at_least(1, m.ACTIVE_DEADLINE_NOT_POSITIVE)] | None = None
    """Seconds from the start after which the job fails with DeadlineExceeded, wherever it is."""
    backoff_limit: Annotated[Int32, at_least(0, m.BACKOFF_LIMIT_NEGATIVE)] = 0
    """Retries of a failed job, each on a new RayCluster."""
    ray_cluster_spec: RayClusterSpec | None = None
    """The cluster made for the job."""
    submitter_pod_template: PodTemplateSpec | None = None
    """The submitter Job's pod (K8sJobMode); by default one container with the head's image."""
    metadata: StrMap | None = None
    """Metadata of the Ray job (needs Ray 2.6.0 or later)."""
    cluster_selector: StrMap | None = None
    """Run on an existing RayCluster instead, named under 'ray.io/cluster'; it is never deleted."""
    submitter_config: SubmitterConfig | None = None
    """Settings of the submitter Job."""
    managed_by: ManagedByName | None = None
    """Who reconciles the job: 'ray.io/kuberay-operator' (this operator, the default) or
    'kueue.x-k8s.io/multikueue'. Cannot change after creation."""
    deletion_strategy: DeletionStrategy | None = None
    """What is deleted after the job ends."""
    entrypoint: Str | None = None
    """The command that runs the Ray program, e.g. "python my_script.py"."""
    runtime_env_yaml: Str | None = Field(default=None, alias="runtimeEnvYAML")
    """The job's runtime environment, as YAML."""
    job_id: Str | None = None
    """The submission ID; generated when unset (and set by the user in InteractiveMode)."""
    submission_mode: Annotated[Str, one_of(values(SubmissionMode), m.SUBMISSION_MODE_UNKNOWN)] = (
        SubmissionMode.K8S_JOB.value
    )
    """K8sJobMode (a submitter Job), HTTPMode (the operator submits), InteractiveMode or SidecarMode."""
    entrypoint_resources: Str | None = None
    """Custom resources reserved for the entrypoint, as a JSON object."""
    entrypoint_num_cpus: Number | None = None
    """CPUs reserved for the entrypoint."""
    entrypoint_num_gpus: Number | None = None
    """GPUs reserved for the entrypoint."""
    ttl_seconds_after_finished: Annotated[Int32, at_least(0, m.TTL_NEGATIVE)] = 0
    """Seconds after the job ends before its cluster is deleted (with shutdownAfterJobFinishes)."""
    shutdown_after_job_finishes: Bool | None = None
    """Delete the job's cluster once the job ends."""
    suspend: Bool | None = None
    """Delete the cluster and the submitter and run nothing until false again; then the job starts over."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=f"has(self.rayClusterSpec) || ({_SELECTOR})", message=m.JOB_NEEDS_CLUSTER, check=_has_cluster
        ),
        Rule(
            cel=f"!({_SELECTOR}) || ('{c.CLUSTER_SELECTOR_KEY}' in self.clusterSelector && "
            f"self.clusterSelector['{c.CLUSTER_SELECTOR_KEY}'] != '')",
            message=m.CLUSTER_SELECTOR_WITHOUT_NAME,
            check=_selector_names_cluster,
            field_path=".clusterSelector",
        ),
        Rule(
            cel="!has(self.suspend) || !self.suspend || "
            "(has(self.shutdownAfterJobFinishes) && self.shutdownAfterJobFinishes)",
            message=m.SUSPEND_WITHOUT_SHUTDOWN,
            check=_suspend_with_shutdown,
            field_path=".suspend",
        ),
        Rule(
            cel=f"!has(self.suspend) || !self.suspend || !({_SELECTOR})",
            message=m.SUSPEND_WITH_CLUSTER_SELECTOR,
            check=_suspend_without_selector,
            field_path=".suspend",
        ),
        Rule(
            cel="!has(self.ttlSecondsAfterFinished) || self.ttlSecondsAfterFinished <= 0 || "
            "(has(self.shutdownAfterJobFinishes) && self.shutdownAfterJobFinishes)",
            message=m.TTL_WITHOUT_SHUTDOWN,
            check=_ttl_with_shutdown,
            field_path=".ttlSecondsAfterFinished",
        ),
        Rule(
            cel=f"{_MODE} != 'InteractiveMode' || !has(self.backoffLimit) || self.backoffLimit <= 0",
            message=m.BACKOFF_WITH_INTERACTIVE,
            check=_no_backoff_when_interactive,
            field_path=".backoffLimit",
        ),
        Rule(
            cel=f"{_MODE} != 'SidecarMode' || !has(self.submitterPodTemplate)",
            message=m.SIDECAR_WITH_SUBMITTER_TEMPLATE,
            check=_sidecar_without_template,
            field_path=".submitterPodTemplate",
        ),
        Rule(
            cel=f"{_MODE} != 'SidecarMode' || !has(self.submitterConfig)",
            message=m.SIDECAR_WITH_SUBMITTER_CONFIG,
            check=_sidecar_without_config,
            field_path=".submitterConfig",
        ),
        Rule(
            cel=f"{_MODE} != 'SidecarMode' || !({_SELECTOR})",
            message=m.SIDECAR_WITH_CLUSTER_SELECTOR,
            check=_sidecar_without_selector,
            field_path=".clusterSelector",
        ),
        Rule(
            cel=f"{_MODE} == 'InteractiveMode' || "
            f"({_MODE} == 'K8sJobMode' && has(self.submitterPodTemplate)) || "
            "(has(self.entrypoint) && self.entrypoint.trim() != '')",
            message=m.ENTRYPOINT_REQUIRED,
            check=_has_entrypoint,
            field_path=".entrypoint",
        ),
        Rule(
            cel="!has(self.deletionStrategy) || !has(self.deletionStrategy.deletionRules) || "
            "!has(self.shutdownAfterJobFinishes) || !self.shutdownAfterJobFinishes",
            message=m.DELETION_RULES_WITH_SHUTDOWN,
            check=_rules_without_shutdown,
            field_path=".deletionStrategy.deletionRules",
        ),
        managed_by_kept(m.JOB_MANAGED_BY_CHANGED),
    )

    def mode(self) -> SubmissionMode:
        """The submission mode; one outside the enum (refused by the validation) counts as K8sJobMode."""
        return member_or(SubmissionMode, _mode(self), SubmissionMode.K8S_JOB)

    def uses_existing_cluster(self) -> bool:
        return bool(self.cluster_selector)

    def selected_cluster(self) -> str:
        return (self.cluster_selector or {}).get(c.CLUSTER_SELECTOR_KEY, "")

    def is_suspended(self) -> bool:
        return bool(self.suspend)


class RayJobStatusInfo(KubeModel):
    """When the Ray job itself started and ended, as Ray reports it."""

    start_time: Timestamp | None = None
    end_time: Timestamp | None = None


class RayJobStatus(KubeModel):
    """What the operator observed of the job."""

    ray_job_info: RayJobStatusInfo | None = Field(default=None, alias="rayJobInfo")
    """The Ray job's own start and end times."""
    job_id: Str | None = None
    """The submission ID of the Ray job."""
    ray_cluster_name: Str | None = None
    """The RayCluster the job runs on."""
    dashboard_url: Str | None = Field(default=None, alias="dashboardURL")
    """The address of the cluster's dashboard (host:port), where the job is submitted."""
    job_status: Str | None = None
    """The Ray job's status: PENDING, RUNNING, STOPPED, SUCCEEDED or FAILED."""
    job_deployment_status: Str | None = None
    """Initializing, Running, Complete, Failed, ValidationFailed, Suspending, Suspended, Retrying, Waiting."""
    reason: Str | None = None
    """Why the job failed."""
    message: Str | None = None
    """What Ray or the operator said about the job."""
    start_time: Timestamp | None = None
    """When the operator started the job (the activeDeadlineSeconds clock)."""
    end_time: Timestamp | None = None
    """When the job reached Complete or Failed."""
    succeeded: Int32 | None = None
    """Times the job succeeded."""
    failed: Int32 | None = None
    """Times the job failed."""
    ray_cluster_status: RayClusterStatus | None = None
    """The status of the job's RayCluster."""
    observed_generation: Int64 | None = None
    """The generation of the spec this status describes."""

    def deployment(self) -> JobDeploymentStatus:
        return deployment_status_of(self.job_deployment_status)


class RayJob(ApiObject, KubeModel):
    """A Ray program run to completion on Kubernetes, on a RayCluster made for it or one it names."""

    api_version: Str = c.API_VERSION
    kind: Str = c.JOB_KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RayJobSpec = Field(default_factory=RayJobSpec)
    """The desired state of the job."""
    status: RayJobStatus | None = None
    """The observed state of the job."""

    admission_rules: ClassVar[tuple[Rule, ...]] = name_rules(
        c.MAX_JOB_NAME_LENGTH, m.JOB_NAME_TOO_LONG, m.JOB_NAME_NOT_DNS1035
    )

    @property
    def uid(self) -> str:
        return self.metadata.uid or ""

    def current_status(self) -> RayJobStatus:
        return self.status or RayJobStatus()
