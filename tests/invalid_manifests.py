"""Invalid RayCluster manifests, as data: a valid base manifest, a few edits, and what the rejection must say.

The unit tests run every case through the Python validator and the integration tests through the real API
server; both must reject it with the expected message at the expected path.
"""

import copy
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kuberay_py.api import FieldError, validate_manifest
from kuberay_py.api import messages as m

IMAGE = "rayproject/ray:2.60.0"


def _container(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "image": IMAGE,
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    }


BASE_MANIFEST: dict[str, Any] = {
    "apiVersion": "ray.io/v1",
    "kind": "RayCluster",
    "metadata": {"name": "raycluster-invalid"},
    "spec": {
        "rayVersion": "2.60.0",
        "headGroupSpec": {
            "rayStartParams": {},
            "template": {"spec": {"containers": [_container("ray-head")]}},
        },
        "workerGroupSpecs": [
            {
                "groupName": "small-group",
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 3,
                "rayStartParams": {},
                "template": {"spec": {"containers": [_container("ray-worker")]}},
            },
            {
                "groupName": "medium-group",
                "replicas": 1,
                "minReplicas": 1,
                "maxReplicas": 2,
                "template": {"spec": {"containers": [_container("ray-worker")]}},
            },
        ],
    },
}

_DELETE = object()


@dataclass(frozen=True)
class Edit:
    """Set the value at a path such as `spec.workerGroupSpecs[0].replicas` (creating mappings on the way),
    or delete it when `value` is left out."""

    path: str
    value: Any = _DELETE


@dataclass(frozen=True)
class InvalidCase:
    # The valid manifest the edits apply to, and the Python validator of its kind.
    base: ClassVar[dict[str, Any]] = BASE_MANIFEST
    validate = staticmethod(validate_manifest)

    id: str
    edits: tuple[Edit, ...]
    # A substring of the rejection, and the path it is reported at (None: the API server names no path).
    message: str
    path: str | None
    # Edits giving the stored object when the case is an update rather than a create.
    before: tuple[Edit, ...] | None = field(default=None)

    def manifest(self) -> dict[str, Any]:
        return apply_edits(self.base, self.edits)

    def old_manifest(self) -> dict[str, Any] | None:
        return None if self.before is None else apply_edits(self.base, self.before)

    def python_errors(self) -> list[FieldError]:
        """The Python validator's verdict on the case."""
        return self.validate(self.manifest(), old=self.old_manifest())


def _parts(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]


def apply_edits(base: dict[str, Any], edits: tuple[Edit, ...]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for edit in edits:
        *parents, last = _parts(edit.path)
        node: Any = out
        for part in parents:
            node = node[part] if isinstance(part, int) else node.setdefault(part, {})
        if edit.value is _DELETE:
            del node[last]
        else:
            node[last] = copy.deepcopy(edit.value)
    return out


W0 = "spec.workerGroupSpecs[0]"
W1 = "spec.workerGroupSpecs[1]"
HEAD = "spec.headGroupSpec"


def _case(id: str, message: str, path: str | None, *edits: Edit) -> InvalidCase:
    return InvalidCase(id=id, edits=edits, message=message, path=path)


CASES: tuple[InvalidCase, ...] = (
    # The cluster's name.
    _case("name-too-long", m.CLUSTER_NAME_TOO_LONG, "metadata.name", Edit("metadata.name", "r" * 54)),
    _case(
        "name-starts-with-digit", m.CLUSTER_NAME_NOT_DNS1035, "metadata.name", Edit("metadata.name", "1-ray")
    ),
    _case("name-with-dot", m.CLUSTER_NAME_NOT_DNS1035, "metadata.name", Edit("metadata.name", "ray.cluster")),
    # Worker group names.
    _case(
        "duplicate-group-names",
        m.GROUP_NAMES_NOT_UNIQUE,
        "spec.workerGroupSpecs",
        Edit(f"{W1}.groupName", "small-group"),
    ),
    _case(
        "group-name-not-dns-label",
        m.GROUP_NAME_NOT_DNS_LABEL,
        f"{W0}.groupName",
        Edit(f"{W0}.groupName", "Small_Group"),
    ),
    _case(
        "group-name-headgroup", m.GROUP_NAME_RESERVED, f"{W0}.groupName", Edit(f"{W0}.groupName", "headgroup")
    ),
    _case("group-name-too-long", m.TOO_LONG, f"{W0}.groupName", Edit(f"{W0}.groupName", "g" * 64)),
    _case("group-name-missing", m.REQUIRED, f"{W0}.groupName", Edit(f"{W0}.groupName")),
    # Counts.
    _case("min-above-max", m.MIN_ABOVE_MAX, f"{W0}.minReplicas", Edit(f"{W0}.minReplicas", 4)),
    _case("negative-replicas", m.REPLICAS_NEGATIVE, f"{W0}.replicas", Edit(f"{W0}.replicas", -1)),
    _case(
        "negative-min-replicas", m.MIN_REPLICAS_NEGATIVE, f"{W0}.minReplicas", Edit(f"{W0}.minReplicas", -1)
    ),
    _case(
        "negative-max-replicas", m.MAX_REPLICAS_NEGATIVE, f"{W1}.maxReplicas", Edit(f"{W1}.maxReplicas", -2)
    ),
    _case("zero-hosts", m.NUM_OF_HOSTS_TOO_SMALL, f"{W0}.numOfHosts", Edit(f"{W0}.numOfHosts", 0)),
    _case("replicas-as-string", m.MUST_BE_INTEGER, f"{W0}.replicas", Edit(f"{W0}.replicas", "3")),
    _case(
        "negative-group-idle-timeout",
        m.IDLE_TIMEOUT_NEGATIVE,
        f"{W1}.idleTimeoutSeconds",
        Edit(f"{W1}.idleTimeoutSeconds", -1),
    ),
    _case(
        "empty-worker-to-delete",
        m.WORKER_TO_DELETE_EMPTY,
        f"{W0}.scaleStrategy.workersToDelete[1]",
        Edit(f"{W0}.scaleStrategy", {"workersToDelete": ["raycluster-invalid-small-group-worker-abcde", ""]}),
    ),
    # Pod templates.
    _case(
        "head-without-containers",
        m.TEMPLATE_WITHOUT_CONTAINERS,
        f"{HEAD}.template",
        Edit(f"{HEAD}.template.spec.containers", []),
    ),
    _case(
        "worker-template-empty", m.TEMPLATE_WITHOUT_CONTAINERS, f"{W1}.template", Edit(f"{W1}.template", {})
    ),
    _case(
        "ray-container-without-image",
        m.RAY_CONTAINER_WITHOUT_IMAGE,
        f"{W0}.template",
        Edit(f"{W0}.template.spec.containers[0].image"),
    ),
    # Ray start parameters, resources and labels.
    _case(
        "head-resources-twice",
        m.RESOURCES_IN_BOTH_PLACES,
        f"{HEAD}.resources",
        Edit(f"{HEAD}.resources", {"CPU": "1"}),
        Edit(f"{HEAD}.rayStartParams", {"num-cpus": "1"}),
    ),
    _case(
        "worker-memory-twice",
        m.RESOURCES_IN_BOTH_PLACES,
        f"{W1}.resources",
        Edit(f"{W1}.resources", {"memory": "1Gi"}),
        Edit(f"{W1}.rayStartParams", {"memory": "1000000000"}),
    ),
    _case(
        "labels-twice",
        m.LABELS_IN_BOTH_PLACES,
        f"{W0}.labels",
        Edit(f"{W0}.labels", {"zone": "a"}),
        Edit(f"{W0}.rayStartParams", {"labels": "zone=b"}),
    ),
    _case(
        "ray-start-param-with-dashes",
        m.RAY_START_PARAM_WITH_DASHES,
        f"{HEAD}.rayStartParams",
        Edit(f"{HEAD}.rayStartParams", {"--num-cpus": "0"}),
    ),
    _case(
        "ray-start-param-not-string",
        m.MUST_BE_STRING,
        f"{HEAD}.rayStartParams.num-cpus",
        Edit(f"{HEAD}.rayStartParams", {"num-cpus": 0}),
    ),
    _case(
        "resource-not-quantity",
        m.RESOURCE_NOT_QUANTITY,
        f"{W0}.resources",
        Edit(f"{W0}.resources", {"CPU": "two"}),
    ),
    _case(
        "resource-quantity-bomb",
        m.RESOURCE_NOT_QUANTITY,
        f"{W0}.resources",
        Edit(f"{W0}.resources", {"CPU": "1e30000000"}),
    ),
    _case(
        "label-key-invalid",
        m.LABEL_KEY_INVALID,
        f"{HEAD}.labels",
        Edit(f"{HEAD}.labels", {"bad key": "x"}),
    ),
    _case(
        "label-value-invalid",
        m.LABEL_VALUE_INVALID,
        f"{W1}.labels",
        Edit(f"{W1}.labels", {"example.com/zone": "-west"}),
    ),
    _case(
        "service-type-unknown",
        m.SERVICE_TYPE_UNKNOWN,
        f"{HEAD}.serviceType",
        Edit(f"{HEAD}.serviceType", "Internal"),
    ),
    # Autoscaler.
    _case(
        "suspended-group-with-autoscaler",
        m.SUSPENDED_GROUP_WITH_AUTOSCALER,
        "spec.workerGroupSpecs",
        Edit("spec.enableInTreeAutoscaling", True),
        Edit(f"{W1}.suspend", True),
    ),
    _case(
        "upscaling-mode-unknown",
        m.UPSCALING_MODE_UNKNOWN,
        "spec.autoscalerOptions.upscalingMode",
        Edit("spec.autoscalerOptions.upscalingMode", "Fast"),
    ),
    _case(
        "autoscaler-version-unknown",
        m.AUTOSCALER_VERSION_UNKNOWN,
        "spec.autoscalerOptions.version",
        Edit("spec.autoscalerOptions.version", "v3"),
    ),
    _case(
        "pull-policy-unknown",
        m.IMAGE_PULL_POLICY_UNKNOWN,
        "spec.autoscalerOptions.imagePullPolicy",
        Edit("spec.autoscalerOptions.imagePullPolicy", "Sometimes"),
    ),
    _case(
        "negative-autoscaler-idle-timeout",
        m.IDLE_TIMEOUT_NEGATIVE,
        "spec.autoscalerOptions.idleTimeoutSeconds",
        Edit("spec.autoscalerOptions.idleTimeoutSeconds", -5),
    ),
    # Upgrade strategy.
    _case(
        "upgrade-type-unknown",
        m.UPGRADE_TYPE_UNKNOWN,
        "spec.upgradeStrategy.type",
        Edit("spec.upgradeStrategy", {"type": "BlueGreen"}),
    ),
    _case(
        "rolling-update-with-recreate",
        m.ROLLING_UPDATE_WITHOUT_TYPE,
        "spec.upgradeStrategy.rollingUpdate",
        Edit("spec.upgradeStrategy", {"type": "Recreate", "rollingUpdate": {"maxUnavailable": 1}}),
    ),
    _case(
        "max-unavailable-zero",
        m.MAX_UNAVAILABLE_INVALID,
        "spec.upgradeStrategy.rollingUpdate.maxUnavailable",
        Edit("spec.upgradeStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}),
    ),
    _case(
        "max-unavailable-zero-percent",
        m.MAX_UNAVAILABLE_INVALID,
        "spec.upgradeStrategy.rollingUpdate.maxUnavailable",
        Edit("spec.upgradeStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "0%"}}),
    ),
    _case(
        "max-unavailable-over-100-percent",
        m.MAX_UNAVAILABLE_INVALID,
        "spec.upgradeStrategy.rollingUpdate.maxUnavailable",
        Edit("spec.upgradeStrategy", {"rollingUpdate": {"maxUnavailable": "150%"}}),
    ),
    _case(
        "max-unavailable-not-a-number",
        m.MAX_UNAVAILABLE_INVALID,
        "spec.upgradeStrategy.rollingUpdate.maxUnavailable",
        Edit("spec.upgradeStrategy", {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "a few"}}),
    ),
    # managedBy.
    _case(
        "managed-by-unknown", m.MANAGED_BY_UNKNOWN, "spec.managedBy", Edit("spec.managedBy", "someone-else")
    ),
    InvalidCase(
        id="managed-by-changed",
        before=(Edit("spec.managedBy", "ray.io/kuberay-operator"),),
        edits=(Edit("spec.managedBy", "kueue.x-k8s.io/multikueue"),),
        message=m.MANAGED_BY_CHANGED,
        path="spec.managedBy",
    ),
    InvalidCase(
        id="managed-by-added",
        before=(),
        edits=(Edit("spec.managedBy", "kueue.x-k8s.io/multikueue"),),
        message=m.MANAGED_BY_CHANGED,
        path="spec.managedBy",
    ),
    # GCS fault tolerance.
    _case(
        "redis-address-missing",
        m.REQUIRED,
        "spec.gcsFaultToleranceOptions.redisAddress",
        Edit("spec.gcsFaultToleranceOptions", {"externalStorageNamespace": "ns"}),
    ),
    _case(
        "redis-address-empty",
        m.REDIS_ADDRESS_EMPTY,
        "spec.gcsFaultToleranceOptions.redisAddress",
        Edit("spec.gcsFaultToleranceOptions", {"redisAddress": ""}),
    ),
    _case(
        "redis-password-value-and-secret",
        m.REDIS_CREDENTIAL_TWICE,
        "spec.gcsFaultToleranceOptions.redisPassword",
        Edit(
            "spec.gcsFaultToleranceOptions",
            {
                "redisAddress": "redis:6379",
                "redisPassword": {"value": "pw", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            },
        ),
    ),
    _case(
        "redis-password-in-options-and-params",
        m.REDIS_PASSWORD_TWICE,
        f"{HEAD}.rayStartParams",
        Edit(
            "spec.gcsFaultToleranceOptions", {"redisAddress": "redis:6379", "redisPassword": {"value": "a"}}
        ),
        Edit(f"{HEAD}.rayStartParams", {"redis-password": "b"}),
    ),
    _case(
        "redis-username-in-params",
        m.REDIS_USERNAME_IN_PARAMS,
        f"{HEAD}.rayStartParams",
        Edit(f"{HEAD}.rayStartParams", {"redis-username": "ray"}),
    ),
    # Token authentication.
    _case(
        "auth-mode-unknown",
        m.AUTH_MODE_UNKNOWN,
        "spec.authOptions.mode",
        Edit("spec.authOptions.mode", "jwt"),
    ),
    _case(
        "k8s-token-auth-without-token-mode",
        m.K8S_TOKEN_AUTH_WITHOUT_TOKEN_MODE,
        "spec.authOptions.enableK8sTokenAuth",
        Edit("spec.authOptions", {"mode": "disabled", "enableK8sTokenAuth": True}),
    ),
    _case(
        "k8s-token-auth-with-secret",
        m.K8S_TOKEN_AUTH_WITH_SECRET,
        "spec.authOptions.secretName",
        Edit("spec.authOptions", {"mode": "token", "enableK8sTokenAuth": True, "secretName": "mine"}),
    ),
    # Schema.
    _case("head-group-missing", m.REQUIRED, HEAD, Edit(HEAD)),
    _case(
        "unknown-field", f'{m.UNKNOWN_FIELD} "spec.workerGroupSpec"', None, Edit("spec.workerGroupSpec", [])
    ),
)
