"""The closed sets of string values the RayCluster API accepts."""

from enum import StrEnum
from typing import TypeVar


class UpscalingMode(StrEnum):
    DEFAULT = "Default"
    AGGRESSIVE = "Aggressive"
    CONSERVATIVE = "Conservative"


class AutoscalerVersion(StrEnum):
    V1 = "v1"
    V2 = "v2"


class UpgradeType(StrEnum):
    NONE = "None"
    RECREATE = "Recreate"
    ROLLING_UPDATE = "RollingUpdate"


class ServiceType(StrEnum):
    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"
    EXTERNAL_NAME = "ExternalName"


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class ManagedBy(StrEnum):
    KUBERAY_OPERATOR = "ray.io/kuberay-operator"
    MULTIKUEUE = "kueue.x-k8s.io/multikueue"


class AuthMode(StrEnum):
    TOKEN = "token"
    DISABLED = "disabled"


class ClusterState(StrEnum):
    READY = "ready"
    SUSPENDED = "suspended"
    # Written by old KubeRay versions; kept so that stored objects still parse as documented values.
    FAILED = "failed"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in enum)


_Member = TypeVar("_Member", bound=StrEnum)


def member_or(enum: type[_Member], value: str, default: _Member) -> _Member:
    """The member of `enum` whose value is `value`; `default` for a value this version does not know."""
    try:
        return enum(value)
    except ValueError:
        return default
