"""The base of every RayCluster model: camelCase on the wire, nothing lost in a round trip."""

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ModelWrapValidatorHandler, model_validator
from pydantic.alias_generators import to_camel

from kuberay_py.api.markers import Rule


class KubeModel(BaseModel):
    """A part of a Kubernetes object.

    Fields use their camelCase JSON names on the wire and snake_case names in Python. Fields the model does
    not declare are kept (`extra="allow"`) so that parsing and dumping never drops anything; the validator
    reports them as unknown, as the API server does.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        use_attribute_docstrings=True,
    )

    # Rules about the whole object (fields compared with each other); field rules sit on the field types.
    admission_rules: ClassVar[tuple[Rule, ...]] = ()
    # The model's OpenAPI schema when it must not be derived from its fields.
    openapi_override: ClassVar[dict[str, Any] | None] = None
    # Whether the validator reports fields the model does not declare.
    report_unknown_fields: ClassVar[bool] = True

    @model_validator(mode="wrap")
    @classmethod
    def _extras_are_not_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # An unknown key that happens to be a field's Python name (`num_of_hosts`) is kept as an extra;
        # pydantic would also count the field as set, and a dump would then add the field's default.
        model = handler(data)
        extra = model.model_extra or {}
        if isinstance(data, Mapping) and extra:
            for name, field in cls.model_fields.items():
                if name in extra and (field.alias or name) not in data:
                    model.__pydantic_fields_set__.discard(name)
        return model

    def to_dict(self) -> dict[str, Any]:
        """The fields that were set, under their JSON names."""
        return self.model_dump(by_alias=True, exclude_unset=True)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        # Only JSON names: a snake_case key in a manifest is an unknown field, as the API server sees it.
        return cls.model_validate(data, by_alias=True, by_name=False)
