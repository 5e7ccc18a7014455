"""Invalid RayCluster manifests, as data: a valid base manifest, a few edits, and what the rejection must say.

The unit tests run every case through the Python validator and the integration tests through the real API
server; both must reject it with the expected message at the expected path.
"""

import copy
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

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

    @classmethod
    def of(cls, id: str, message: str, path: str | None, *edits: Edit) -> Self:
        return cls(id=id, edits=edits, message=message, path=path)

    @classmethod
    def setting(
        cls, id: str, message: str, path: str, value: Any = _DELETE, before: tuple[Edit, ...] | None = None
    ) -> Self:
        """The case of one edit, setting `path` to `value` (deleting it when `value` is left out), rejected
        at that path."""
        return cls(id=id, edits=(Edit(path, value),), message=message, path=path, before=before)

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


_case, _set = InvalidCase.of, InvalidCase.setting


def _twice(id: str, message: str, group: str, field: str, value: Any, params: dict[str, str]) -> InvalidCase:
    """A group's `field` set, and the same again in its rayStartParams: rejected at the field."""
    at = f"{group}.{field}"
    return _case(id, message, at, Edit(at, value), Edit(f"{group}.rayStartParams", params))


CASES: tuple[InvalidCase, ...] = (
    # The cluster's name.
    _set("name-too-long", m.CLUSTER_NAME_TOO_LONG, "metadata.name", "r" * 54),
    _set("name-starts-with-digit", m.CLUSTER_NAME_NOT_DNS1035, "metadata.name", "1-ray"),
    _set("name-with-dot", m.CLUSTER_NAME_NOT_DNS1035, "metadata.name", "ray.cluster"),
    # Worker group names.
    _case(
        "duplicate-group-names",
        m.GROUP_NAMES_NOT_UNIQUE,
        "spec.workerGroupSpecs",
        Edit(f"{W1}.groupName", "small-group"),
    ),
    _set("group-name-not-dns-label", m.GROUP_NAME_NOT_DNS_LABEL, f"{W0}.groupName", "Small_Group"),
    _set("group-name-headgroup", m.GROUP_NAME_RESERVED, f"{W0}.groupName", "headgroup"),
    _set("group-name-too-long", m.TOO_LONG, f"{W0}.groupName", "g" * 64),
    _set("group-name-missing", m.REQUIRED, f"{W0}.groupName"),
    # Counts.
    _set("min-above-max", m.MIN_ABOVE_MAX, f"{W0}.minReplicas", 4),
    _set("negative-replicas", m.REPLICAS_NEGATIVE, f"{W0}.replicas", -1),
    _set("negative-min-replicas", m.MIN_REPLICAS_NEGATIVE, f"{W0}.minReplicas", -1),
    _set("negative-max-replicas", m.MAX_REPLICAS_NEGATIVE, f"{W1}.maxReplicas", -2),
    _set("zero-hosts", m.NUM_OF_HOSTS_TOO_SMALL, f"{W0}.numOfHosts", 0),
    _set("replicas-as-string", m.MUST_BE_INTEGER, f"{W0}.replicas", "3"),
    _set("negative-group-idle-timeout", m.IDLE_TIMEOUT_NEGATIVE, f"{W1}.idleTimeoutSeconds", -1),
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
    _set("worker-template-empty", m.TEMPLATE_WITHOUT_CONTAINERS, f"{W1}.template", {}),
    _case(
        "ray-container-without-image",
        m.RAY_CONTAINER_WITHOUT_IMAGE,
        f"{W0}.template",
        Edit(f"{W0}.template.spec.containers[0].image"),
    ),
    # Ray start parameters, resources and labels.
    _twice(
        "head-resources-twice", m.RESOURCES_IN_BOTH_PLACES, HEAD, "resources", {"CPU": "1"}, {"num-cpus": "1"}
    ),
    _twice(
        "worker-memory-twice",
        m.RESOURCES_IN_BOTH_PLACES,
        W1,
        "resources",
        {"memory": "1Gi"},
        {"memory": "1000000000"},
    ),
    _twice("labels-twice", m.LABELS_IN_BOTH_PLACES, W0, "labels", {"zone": "a"}, {"labels": "zone=b"}),
    _set(
        "ray-start-param-with-dashes",
        m.RAY_START_PARAM_WITH_DASHES,
        f"{HEAD}.rayStartParams",
        {"--num-cpus": "0"},
    ),
    _case(
        "ray-start-param-not-string",
        m.MUST_BE_STRING,
        f"{HEAD}.rayStartParams.num-cpus",
        Edit(f"{HEAD}.rayStartParams", {"num-cpus": 0}),
    ),
    _set("resource-not-quantity", m.RESOURCE_NOT_QUANTITY, f"{W0}.resources", {"CPU": "two"}),
    _set("resource-quantity-bomb", m.RESOURCE_NOT_QUANTITY, f"{W0}.resources", {"CPU": "1e30000000"}),
    _set("label-key-invalid", m.LABEL_KEY_INVALID, f"{HEAD}.labels", {"bad key": "x"}),
    _set("label-value-invalid", m.LABEL_VALUE_INVALID, f"{W1}.labels", {"example.com/zone": "-west"}),
    _set("service-type-unknown", m.SERVICE_TYPE_UNKNOWN, f"{HEAD}.serviceType", "Internal"),
    # Autoscaler.
    _case(
        "suspended-group-with-autoscaler",
        m.SUSPENDED_GROUP_WITH_AUTOSCALER,
        "spec.workerGroupSpecs",
        Edit("spec.enableInTreeAutoscaling", True),
        Edit(f"{W1}.suspend", True),
    ),
    _set("upscaling-mode-unknown", m.UPSCALING_MODE_UNKNOWN, "spec.autoscalerOptions.upscalingMode", "Fast"),
    _set("autoscaler-version-unknown", m.AUTOSCALER_VERSION_UNKNOWN, "spec.autoscalerOptions.version", "v3"),
    _set(
        "pull-policy-unknown",
        m.IMAGE_PULL_POLICY_UNKNOWN,
        "spec.autoscalerOptions.imagePullPolicy",
        "Sometimes",
    ),
    _set(
        "negative-autoscaler-idle-timeout",
        m.IDLE_TIMEOUT_NEGATIVE,
        "spec.autoscalerOptions.idleTimeoutSeconds",
        -5,
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
    _set("managed-by-unknown", m.MANAGED_BY_UNKNOWN, "spec.managedBy", "someone-else"),
    # Updates: managedBy changed, or set after creation.
    _set(
        "managed-by-changed",
        m.MANAGED_BY_CHANGED,
        "spec.managedBy",
        "kueue.x-k8s.io/multikueue",
        before=(Edit("spec.managedBy", "ray.io/kuberay-operator"),),
    ),
    _set("managed-by-added", m.MANAGED_BY_CHANGED, "spec.managedBy", "kueue.x-k8s.io/multikueue", before=()),
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
    _set(
        "redis-username-in-params",
        m.REDIS_USERNAME_IN_PARAMS,
        f"{HEAD}.rayStartParams",
        {"redis-username": "ray"},
    ),
    # Token authentication.
    _set("auth-mode-unknown", m.AUTH_MODE_UNKNOWN, "spec.authOptions.mode", "jwt"),
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
    _set("head-group-missing", m.REQUIRED, HEAD),
    _case(
        "unknown-field", f'{m.UNKNOWN_FIELD} "spec.workerGroupSpec"', None, Edit("spec.workerGroupSpec", [])
    ),
)
