"""Invalid RayJob manifests, as data, like `invalid_manifests` for RayClusters: every CEL rule of the RayJob
CRD has a case, run through the Python twin in the unit tests and through the API server in the integration
tests, with the same message at the same path."""

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from kuberay_py.api import messages as m
from kuberay_py.api.rayjob_validation import validate_job_manifest
from tests.invalid_manifests import BASE_MANIFEST, Edit, InvalidCase

JOB_BASE: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayJob",
    "metadata": {"name": "rayjob-invalid"},
    "spec": {"entrypoint": "python my_script.py", "rayClusterSpec": copy.deepcopy(BASE_MANIFEST["spec"])},
}


@dataclass(frozen=True)
class JobCase(InvalidCase):
    base: ClassVar[dict[str, Any]] = JOB_BASE
    validate = staticmethod(validate_job_manifest)


_case, _set = JobCase.of, JobCase.setting


SELECTOR = Edit("spec.clusterSelector", {"ray.io/cluster": "shared"})
NO_CLUSTER_SPEC = Edit("spec.rayClusterSpec")
RULES = "spec.deletionStrategy.deletionRules"
RULE = {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED"}}

JOB_CASES: tuple[JobCase, ...] = (
    _set("job-name-too-long", m.JOB_NAME_TOO_LONG, "metadata.name", "j" * 48),
    _set("job-name-not-dns1035", m.JOB_NAME_NOT_DNS1035, "metadata.name", "1-job"),
    _case("no-cluster", m.JOB_NEEDS_CLUSTER, "spec", NO_CLUSTER_SPEC),
    _case(
        "selector-without-name",
        m.CLUSTER_SELECTOR_WITHOUT_NAME,
        "spec.clusterSelector",
        NO_CLUSTER_SPEC,
        Edit("spec.clusterSelector", {"team": "ml"}),
    ),
    _set("suspend-without-shutdown", m.SUSPEND_WITHOUT_SHUTDOWN, "spec.suspend", True),
    _case(
        "suspend-with-selector",
        m.SUSPEND_WITH_CLUSTER_SELECTOR,
        "spec.suspend",
        NO_CLUSTER_SPEC,
        SELECTOR,
        Edit("spec.suspend", True),
        Edit("spec.shutdownAfterJobFinishes", True),
    ),
    _set("ttl-without-shutdown", m.TTL_WITHOUT_SHUTDOWN, "spec.ttlSecondsAfterFinished", 10),
    _case(
        "ttl-negative",
        m.TTL_NEGATIVE,
        "spec.ttlSecondsAfterFinished",
        Edit("spec.ttlSecondsAfterFinished", -1),
        Edit("spec.shutdownAfterJobFinishes", True),
    ),
    _set("deadline-zero", m.ACTIVE_DEADLINE_NOT_POSITIVE, "spec.activeDeadlineSeconds", 0),
    _set("backoff-negative", m.BACKOFF_LIMIT_NEGATIVE, "spec.backoffLimit", -1),
    _case(
        "submitter-backoff-negative",
        m.SUBMITTER_BACKOFF_LIMIT_NEGATIVE,
        "spec.submitterConfig.backoffLimit",
        Edit("spec.submitterConfig", {"backoffLimit": -1}),
    ),
    _case(
        "backoff-with-interactive",
        m.BACKOFF_WITH_INTERACTIVE,
        "spec.backoffLimit",
        Edit("spec.submissionMode", "InteractiveMode"),
        Edit("spec.backoffLimit", 2),
    ),
    _set("unknown-mode", m.SUBMISSION_MODE_UNKNOWN, "spec.submissionMode", "Batch"),
    _case(
        "sidecar-with-template",
        m.SIDECAR_WITH_SUBMITTER_TEMPLATE,
        "spec.submitterPodTemplate",
        Edit("spec.submissionMode", "SidecarMode"),
        Edit("spec.submitterPodTemplate", {"spec": {"containers": [{"name": "s", "image": "x"}]}}),
    ),
    _case(
        "sidecar-with-config",
        m.SIDECAR_WITH_SUBMITTER_CONFIG,
        "spec.submitterConfig",
        Edit("spec.submissionMode", "SidecarMode"),
        Edit("spec.submitterConfig", {"backoffLimit": 1}),
    ),
    _case(
        "sidecar-with-selector",
        m.SIDECAR_WITH_CLUSTER_SELECTOR,
        "spec.clusterSelector",
        Edit("spec.submissionMode", "SidecarMode"),
        NO_CLUSTER_SPEC,
        SELECTOR,
    ),
    _set("no-entrypoint", m.ENTRYPOINT_REQUIRED, "spec.entrypoint", "  "),
    _case(
        "rules-with-shutdown",
        m.DELETION_RULES_WITH_SHUTDOWN,
        RULES,
        Edit("spec.deletionStrategy", {"deletionRules": [RULE]}),
        Edit("spec.shutdownAfterJobFinishes", True),
    ),
    # The one update: managedBy set after creation.
    _set(
        "managed-by-changed",
        m.JOB_MANAGED_BY_CHANGED,
        "spec.managedBy",
        "kueue.x-k8s.io/multikueue",
        before=(),
    ),
    _set("managed-by-unknown", m.MANAGED_BY_UNKNOWN, "spec.managedBy", "someone-else"),
    _set(
        "strategy-mixed",
        m.DELETION_STRATEGY_MIXED,
        "spec.deletionStrategy",
        {
            "onSuccess": {"policy": "DeleteCluster"},
            "onFailure": {"policy": "DeleteNone"},
            "deletionRules": [RULE],
        },
    ),
    _set(
        "strategy-incomplete",
        m.DELETION_STRATEGY_INCOMPLETE,
        "spec.deletionStrategy",
        {"onSuccess": {"policy": "DeleteCluster"}},
    ),
    _case("rules-empty", m.DELETION_RULES_EMPTY, RULES, Edit("spec.deletionStrategy", {"deletionRules": []})),
    _case(
        "policy-unknown",
        m.DELETION_POLICY_UNKNOWN,
        f"{RULES}[0].policy",
        Edit("spec.deletionStrategy", {"deletionRules": [{**RULE, "policy": "DeleteAll"}]}),
    ),
    _case(
        "rule-status-unknown",
        m.DELETION_JOB_STATUS_UNKNOWN,
        f"{RULES}[0].condition.jobStatus",
        Edit("spec.deletionStrategy", {"deletionRules": [{**RULE, "condition": {"jobStatus": "RUNNING"}}]}),
    ),
    _case(
        "rule-ttl-negative",
        m.DELETION_TTL_NEGATIVE,
        f"{RULES}[0].condition.ttlSeconds",
        Edit(
            "spec.deletionStrategy",
            {"deletionRules": [{**RULE, "condition": {"jobStatus": "FAILED", "ttlSeconds": -5}}]},
        ),
    ),
)
