"""Scalar and Kubernetes core types shared by the RayCluster models.

Kubernetes core objects (pod templates, Services, env vars, ...) stay plain mappings: the API server keeps
them unchecked (`x-kubernetes-preserve-unknown-fields`) and Kubernetes validates them where they are used,
when the operator creates the pod or Service. A full model of them would add nothing but size.
"""

from typing import Annotated, Any

from pydantic import PlainValidator, StrictBool, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from kuberay_py.api import messages as m
from kuberay_py.api.markers import Rule, Schema

Int32 = Annotated[StrictInt, Schema(format="int32")]
Int64 = Annotated[StrictInt, Schema(format="int64")]
Bool = StrictBool
Str = StrictStr
StrMap = dict[str, StrictStr]


def _int_or_string(value: Any) -> int | str:
    # bool is an int in Python but not in JSON.
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise PydanticCustomError("int_or_string_type", "must be an integer or a string")


# A count or a percentage, e.g. 1 or "25%".
IntOrString = Annotated[int | str, PlainValidator(_int_or_string)]
# A resource quantity as written by users ("500m", "2Gi", 4).
Quantity = IntOrString
Timestamp = Annotated[StrictStr, Schema(format="date-time")]

KubeObject = dict[str, Any]
"""Any Kubernetes core object, kept as it was written."""


def _containers(template: dict[str, Any]) -> list[Any] | None:
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return None
    containers = spec.get("containers")
    return containers if isinstance(containers, list) else None


def _has_container(template: dict[str, Any]) -> bool:
    containers = _containers(template)
    return bool(containers)


def _ray_container_has_image(template: dict[str, Any]) -> bool:
    containers = _containers(template)
    if not containers:
        return True  # reported by the rule above
    first = containers[0]
    return isinstance(first, dict) and isinstance(first.get("image"), str) and first["image"] != ""


_PRESERVED = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

# Just enough of a PodTemplateSpec for the rules: `spec.containers[*].name|image`.
_POD_TEMPLATE_PROPERTIES = {
    "spec": {
        **_PRESERVED,
        "properties": {
            "containers": {
                "type": "array",
                "items": {
                    **_PRESERVED,
                    "properties": {"name": {"type": "string"}, "image": {"type": "string"}},
                },
            },
        },
    },
}

PodTemplateSpec = Annotated[
    dict[str, Any],
    Schema(
        properties=_POD_TEMPLATE_PROPERTIES,
        rules=(
            Rule(
                cel="has(self.spec) && has(self.spec.containers) && size(self.spec.containers) > 0",
                message=m.TEMPLATE_WITHOUT_CONTAINERS,
                check=_has_container,
            ),
            Rule(
                cel=(
                    "!has(self.spec) || !has(self.spec.containers) || size(self.spec.containers) == 0 || "
                    "(has(self.spec.containers[0].image) && self.spec.containers[0].image != '')"
                ),
                message=m.RAY_CONTAINER_WITHOUT_IMAGE,
                check=_ray_container_has_image,
            ),
        ),
    ),
]
"""A Kubernetes PodTemplateSpec (`metadata` and `spec`), kept as written."""
