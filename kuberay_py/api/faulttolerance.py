"""GCS fault tolerance: the head keeps the cluster's metadata in an external Redis, so a new head finds it."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, ClassVar

from kuberay_py.api import constants as c
from kuberay_py.api import messages as m
from kuberay_py.api.base import KubeModel
from kuberay_py.api.markers import Rule, Schema
from kuberay_py.api.types import KubeObject, Str

if TYPE_CHECKING:
    from kuberay_py.api.spec import RayClusterSpec


class RedisCredential(KubeModel):
    """A Redis username or password: written out, or read from a Secret (`valueFrom.secretKeyRef`)."""

    value_from: KubeObject | None = None
    """Where the kubelet reads it (an EnvVarSource, e.g. `secretKeyRef: {name, key}`)."""
    value: Str | None = None
    """The value itself; prefer a Secret, as this is readable by anyone who can read the RayCluster."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel="!(has(self.value) && has(self.valueFrom))",
            message=m.REDIS_CREDENTIAL_TWICE,
            check=lambda c: c.value is None or c.value_from is None,
        ),
    )


RedisAddress = Annotated[
    Str,
    Schema(rules=(Rule(cel="self != ''", message=m.REDIS_ADDRESS_EMPTY, check=bool),)),
]


class GcsFaultToleranceOptions(KubeModel):
    """Where the head's GCS keeps its state, so that a head restart loses no job, actor or placement group."""

    redis_address: RedisAddress
    """host:port of Redis (or a redis:// or rediss:// URI)."""
    redis_username: RedisCredential | None = None
    """The Redis username (Ray 2.41 and later)."""
    redis_password: RedisCredential | None = None
    """The Redis password."""
    external_storage_namespace: Str | None = None
    """The key prefix of this cluster's state in Redis. Default: the RayCluster's UID, so that two clusters
    never share state."""


def fault_tolerance_enabled(spec: "RayClusterSpec", annotations: Mapping[str, str] | None) -> bool:
    """Whether GCS fault tolerance is asked for, as KubeRay decides it: `gcsFaultToleranceOptions` is set, or
    the RayCluster's `ray.io/ft-enabled` annotation is "true"."""
    legacy = (annotations or {}).get(c.FT_ENABLED_ANNOTATION, "").lower() == "true"
    return legacy or spec.gcs_fault_tolerance_options is not None
