"""The RayCluster object itself."""

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import Field

from kuberay_py.api import constants as c
from kuberay_py.api import messages as m
from kuberay_py.api import patterns as pat
from kuberay_py.api.base import KubeModel
from kuberay_py.api.faulttolerance import fault_tolerance_enabled
from kuberay_py.api.markers import Rule
from kuberay_py.api.spec import RayClusterSpec
from kuberay_py.api.status import RayClusterStatus
from kuberay_py.api.types import Int64, Str, StrMap, Timestamp


class ObjectMeta(KubeModel):
    """Standard object metadata; the API server validates it, and every field is kept as written."""

    # The API server owns the metadata schema: a CRD may not describe it.
    openapi_override: ClassVar[dict[str, Any] | None] = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
    }
    # Fields not declared here (ownerReferences, managedFields, ...) are normal, not unknown.
    report_unknown_fields: ClassVar[bool] = False

    name: Str | None = None
    generate_name: Str | None = None
    namespace: Str | None = None
    uid: Str | None = None
    resource_version: Str | None = None
    generation: Int64 | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None
    labels: StrMap | None = None
    annotations: StrMap | None = None


def _name_short_enough(cluster: "RayCluster") -> bool:
    name = cluster.metadata.name
    return name is None or len(name) <= c.MAX_CLUSTER_NAME_LENGTH


def _name_is_dns1035(cluster: "RayCluster") -> bool:
    name = cluster.metadata.name
    return name is None or pat.matches(pat.DNS1035_LABEL, name)


class RayCluster(KubeModel):
    """A Ray cluster on Kubernetes: a head pod and groups of worker pods, kept at the size its spec asks."""

    api_version: Str = c.API_VERSION
    kind: Str = c.KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RayClusterSpec
    """The desired state of the cluster."""
    status: RayClusterStatus | None = None
    """The observed state of the cluster."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=f"self.metadata.name.size() <= {c.MAX_CLUSTER_NAME_LENGTH}",
            message=m.CLUSTER_NAME_TOO_LONG,
            check=_name_short_enough,
            field_path=".metadata.name",
            on_create_only=True,
        ),
        Rule(
            cel=f"self.metadata.name.matches({pat.cel(pat.DNS1035_LABEL)})",
            message=m.CLUSTER_NAME_NOT_DNS1035,
            check=_name_is_dns1035,
            field_path=".metadata.name",
            on_create_only=True,
        ),
    )

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> Self:
        """Parse a manifest (a mapping as read from YAML or JSON). Raises pydantic.ValidationError."""
        return cls.from_dict(manifest)

    def to_manifest(self) -> dict[str, Any]:
        """The manifest: every field that was set, under its JSON name; apiVersion and kind always."""
        return {"apiVersion": self.api_version, "kind": self.kind, **self.to_dict()}

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        return self.metadata.namespace or ""

    def annotation(self, key: str) -> str | None:
        return (self.metadata.annotations or {}).get(key)

    def fault_tolerance_enabled(self) -> bool:
        """GCS fault tolerance: by `gcsFaultToleranceOptions` or the older `ray.io/ft-enabled: "true"`."""
        return fault_tolerance_enabled(self.spec, self.metadata.annotations)
