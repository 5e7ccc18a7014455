"""What every top-level API object shares: its metadata, its name rules, reading and writing manifests."""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from kuberay_py.api import patterns as pat
from kuberay_py.api.base import KubeModel
from kuberay_py.api.markers import Rule
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


def name_rules(limit: int, too_long: str, not_dns1035: str) -> tuple[Rule, Rule]:
    """An object's name: at most `limit` characters and a DNS-1035 label, checked on creation only (objects
    stored before a rule existed can still be updated)."""

    def short_enough(obj: Any) -> bool:
        name = obj.metadata.name
        return name is None or len(name) <= limit

    def dns1035(obj: Any) -> bool:
        name = obj.metadata.name
        return name is None or pat.matches(pat.DNS1035_LABEL, name)

    return (
        Rule(
            cel=f"self.metadata.name.size() <= {limit}",
            message=too_long,
            check=short_enough,
            field_path=".metadata.name",
            on_create_only=True,
        ),
        Rule(
            cel=f"self.metadata.name.matches({pat.cel(pat.DNS1035_LABEL)})",
            message=not_dns1035,
            check=dns1035,
            field_path=".metadata.name",
            on_create_only=True,
        ),
    )


class ApiObject:
    """Methods of a top-level object; the model declares `api_version`, `kind` and `metadata` itself, so that
    its fields keep their order."""

    if TYPE_CHECKING:  # declared by the model itself; pydantic must not see them here
        api_version: str
        kind: str
        metadata: ObjectMeta

        @classmethod
        def from_dict(cls, data: Any) -> Self: ...

        def to_dict(self) -> dict[str, Any]: ...

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
