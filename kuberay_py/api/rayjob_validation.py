"""Validation of RayJobs: the CRD's rules in Python, and what only the controller can check.

A RayJob the API server accepted but that fails here ends `ValidationFailed`, with an Event naming the
field: nothing is created for it.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from kuberay_py.api import messages as m
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.api.rayjob import (
    DELETION_ORDER,
    DeletionPolicyType,
    JobDeploymentStatus,
    RayJob,
    SubmissionMode,
    sidecar_head_never_restarts,
)
from kuberay_py.api.spec import ray_release
from kuberay_py.api.validation import FieldError, validate_parsed, walk_rules
from kuberay_py.api.validation import reconcile_errors as cluster_reconcile_errors

# `metadata` is passed to Ray's job server from this release on.
_METADATA_SINCE = (2, 6)
# A runtime environment larger than this is not parsed on the event loop's time.
MAX_RUNTIME_ENV_YAML = 64 * 1024


def validate_job_manifest(
    manifest: Mapping[str, Any], old: Mapping[str, Any] | None = None
) -> list[FieldError]:
    """Every problem of a RayJob manifest; `old` is the stored object when this is an update."""
    return validate_parsed(RayJob, manifest, old, _validate_job)


def _validate_job(job: RayJob, old: RayJob | None) -> list[FieldError]:
    return job_admission_errors(job, old) + _beyond_cel(job)


def job_admission_errors(job: RayJob, old: RayJob | None = None) -> list[FieldError]:
    """What the API server rejects: unknown fields and the CRD's CEL rules."""
    return list(walk_rules(job, old))


def job_reconcile_errors(job: RayJob) -> list[FieldError]:
    """What the controller reports, running nothing: the CRD's rules again (a RayJob stored under another CRD,
    such as KubeRay's, never met them; fields this version does not know are not counted), then the problems
    CEL cannot express."""
    return [e for e in walk_rules(job) if not e.message.startswith(m.UNKNOWN_FIELD)] + _beyond_cel(job)


def _beyond_cel(job: RayJob) -> list[FieldError]:
    spec = job.spec
    errors: list[FieldError] = []
    if not sidecar_head_never_restarts(spec):
        errors.append(
            FieldError(
                "spec.rayClusterSpec.headGroupSpec.template.spec.restartPolicy", m.SIDECAR_HEAD_RESTART_POLICY
            )
        )
    errors.extend(_runtime_env_errors(spec.runtime_env_yaml))
    if spec.metadata and spec.ray_cluster_spec is not None:
        release = ray_release(spec.ray_cluster_spec.ray_version)
        if release is None or release < _METADATA_SINCE:
            errors.append(FieldError("spec.metadata", m.METADATA_NEEDS_NEWER_RAY))
    errors.extend(_deletion_errors(job))
    status = job.current_status()
    if status.deployment() == JobDeploymentStatus.WAITING and spec.mode() != SubmissionMode.INTERACTIVE:
        errors.append(FieldError("status.jobDeploymentStatus", m.WAITING_WITHOUT_INTERACTIVE))
    if spec.ray_cluster_spec is not None and not spec.uses_existing_cluster():
        cluster = RayCluster(metadata=job.metadata, spec=spec.ray_cluster_spec)
        errors += [
            FieldError(error.path.replace("spec.", "spec.rayClusterSpec.", 1), error.message)
            for error in cluster_reconcile_errors(cluster)
        ]
    return errors


def runtime_env(text: str | None) -> dict[str, Any]:
    """The runtime environment as a mapping (empty when unset). Raises ValueError when it is not one."""
    if not text or not text.strip():
        return {}
    if len(text) > MAX_RUNTIME_ENV_YAML:
        raise ValueError(f"runtimeEnvYAML is longer than {MAX_RUNTIME_ENV_YAML} characters")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{m.RUNTIME_ENV_INVALID}: {error}") from error
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(m.RUNTIME_ENV_INVALID)
    return value


def _runtime_env_errors(text: str | None) -> Iterator[FieldError]:
    try:
        runtime_env(text)
    except ValueError as error:
        yield FieldError("spec.runtimeEnvYAML", str(error))


def _deletion_errors(job: RayJob) -> Iterator[FieldError]:
    spec = job.spec
    strategy = spec.deletion_strategy
    if strategy is None:
        return
    autoscaling = spec.ray_cluster_spec is not None and spec.ray_cluster_spec.autoscaling_enabled()
    owns_cluster = not spec.uses_existing_cluster()
    path = "spec.deletionStrategy"
    named: list[tuple[str, str | None]] = []
    if strategy.uses_rules():
        named = [
            (f"{path}.deletionRules[{i}]", r.policy) for i, r in enumerate(strategy.deletion_rules or [])
        ]
    else:
        named = [
            (f"{path}.onSuccess", strategy.on_success.policy if strategy.on_success else None),
            (f"{path}.onFailure", strategy.on_failure.policy if strategy.on_failure else None),
        ]
        for where, policy in named:
            if policy is None:
                yield FieldError(f"{where}.policy", m.DELETION_POLICY_REQUIRED)
    for where, policy in named:
        if not owns_cluster and policy in (
            DeletionPolicyType.DELETE_CLUSTER,
            DeletionPolicyType.DELETE_WORKERS,
        ):
            yield FieldError(f"{where}.policy", m.DELETION_WITH_CLUSTER_SELECTOR)
        if autoscaling and policy == DeletionPolicyType.DELETE_WORKERS:
            yield FieldError(f"{where}.policy", m.DELETE_WORKERS_WITH_AUTOSCALER)
    if not strategy.uses_rules():
        return
    seen: dict[tuple[str, str], int] = {}
    for i, rule in enumerate(strategy.deletion_rules or []):
        key = (rule.condition.job_status, rule.policy)
        if key in seen:
            yield FieldError(f"{path}.deletionRules[{i}]", m.DELETION_RULE_DUPLICATE)
        seen.setdefault(key, rule.condition.ttl_seconds)
    for status in {status for status, _ in seen}:
        ttls = [seen[(status, p)] for p in DELETION_ORDER[1:] if (status, p) in seen]
        if ttls != sorted(ttls):
            yield FieldError(f"{path}.deletionRules", m.DELETION_TTL_ORDER)
