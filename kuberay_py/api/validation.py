"""Validation of RayClusters in Python, with structured errors for the controller.

`validate_manifest` gives the verdict the API server gives at admission (types, required and unknown fields,
and the Python twin of every CEL rule in the CRD, with the same messages), plus the checks CEL cannot make,
which the API server does not run and the controller reports instead.
"""

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kuberay_py.api import constants as c
from kuberay_py.api import messages as m
from kuberay_py.api.base import KubeModel
from kuberay_py.api.enums import AutoscalerVersion
from kuberay_py.api.groups import HeadGroupSpec, RayGroupSpec
from kuberay_py.api.introspect import TypeInfo, describe_field
from kuberay_py.api.markers import Rule
from kuberay_py.api.metadata import ApiObject
from kuberay_py.api.quantities import QuantityError, parse_quantity
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.api.spec import ray_release


@dataclass(frozen=True)
class FieldError:
    """One problem: where (a JSON path such as `spec.workerGroupSpecs[0].minReplicas`) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def validate_manifest(manifest: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[FieldError]:
    """Every problem of a RayCluster manifest; `old` is the stored object when this is an update."""
    return validate_parsed(RayCluster, manifest, old, validate)


_Object = TypeVar("_Object", bound=ApiObject)


def validate_parsed(
    model: type[_Object],
    manifest: Mapping[str, Any],
    old: Mapping[str, Any] | None,
    check: Callable[[_Object, _Object | None], list[FieldError]],
) -> list[FieldError]:
    """`check` on the manifest and the stored object parsed as `model`; only the schema's errors when the
    manifest does not parse."""
    try:
        parsed = model.from_manifest(manifest)
    except ValidationError as error:
        return schema_errors(error)
    parsed_old = None
    # A stored object this API cannot read is compared with nothing, as on a create.
    with contextlib.suppress(ValidationError):
        parsed_old = model.from_manifest(old) if old is not None else None
    return check(parsed, parsed_old)


def validate(cluster: RayCluster, old: RayCluster | None = None) -> list[FieldError]:
    """Every problem of a parsed RayCluster: the admission checks, then the reconcile-time ones."""
    return admission_errors(cluster, old) + reconcile_errors(cluster)


def admission_errors(cluster: RayCluster, old: RayCluster | None = None) -> list[FieldError]:
    """What the API server rejects: unknown fields and the CRD's CEL rules."""
    return list(walk_rules(cluster, old))


def walk_rules(obj: KubeModel, old: KubeModel | None = None) -> Iterator[FieldError]:
    """The CEL rules' Python twins and unknown fields, over any API object."""
    return _walk_model(obj, old, "")


def reconcile_errors(cluster: RayCluster) -> list[FieldError]:
    """Problems CEL cannot express; the API server accepts these, so the controller must report them."""
    spec = cluster.spec
    errors: list[FieldError] = []
    groups: list[tuple[str, RayGroupSpec]] = [("spec.headGroupSpec", spec.head_group_spec)]
    groups += [(f"spec.workerGroupSpecs[{i}]", g) for i, g in enumerate(spec.worker_groups())]

    for path, group in groups:
        names = [ctr.get("name") for ctr in group.containers()]
        if len(names) != len(set(map(str, names))):
            errors.append(FieldError(f"{path}.template.spec.containers", m.CONTAINER_NAMES_NOT_UNIQUE))
        errors.extend(_ray_start_number_errors(group, path))
    errors.extend(_head_service_errors(spec.head_group_spec))
    errors.extend(_fault_tolerance_errors(cluster))
    errors.extend(_auth_errors(cluster))

    head_env = _env_value(spec.head_group_spec, "RAY_enable_autoscaler_v2")
    env_path = "spec.headGroupSpec.template.spec.containers[0].env"
    if not spec.autoscaling_enabled():
        if head_env in ("1", "true"):
            errors.append(FieldError(env_path, m.AUTOSCALER_V2_ENV_WITHOUT_AUTOSCALING))
        return errors

    options = spec.autoscaler_options
    if options is not None and options.version is not None and head_env is not None:
        errors.append(FieldError("spec.autoscalerOptions.version", m.AUTOSCALER_VERSION_SET_TWICE))
    if options is not None and options.version == AutoscalerVersion.V2:
        for path, group in groups:
            if not group.restart_policy_never_or_unset():
                errors.append(
                    FieldError(f"{path}.template.spec.restartPolicy", m.RESTART_POLICY_WITH_AUTOSCALER_V2)
                )
    return errors


# rayStartParams whose values Ray reads as numbers: checked here, as the autoscaler would choke on them later.
_NUMERIC_RAY_START_PARAMS = ("num-cpus", "num-gpus", "memory")


def _ray_start_number_errors(group: RayGroupSpec, path: str) -> Iterator[FieldError]:
    params = group.ray_start_params or {}
    for key in _NUMERIC_RAY_START_PARAMS:
        if params.get(key, "") == "":
            continue  # an empty value counts as unset
        try:
            parse_quantity(params[key])
        except QuantityError:
            yield FieldError(f"{path}.rayStartParams.{key}", m.RAY_START_PARAM_NOT_NUMBER)


def _head_service_errors(head: HeadGroupSpec) -> Iterator[FieldError]:
    service_spec = (head.head_service or {}).get("spec")
    if isinstance(service_spec, dict) and service_spec.get("externalIPs"):
        yield FieldError("spec.headGroupSpec.headService.spec.externalIPs", m.HEAD_SERVICE_EXTERNAL_IPS)


_HEAD_ENV = "spec.headGroupSpec.template.spec.containers[0].env"


def _annotation_path(key: str) -> str:
    return f'metadata.annotations["{key}"]'


def _fault_tolerance_errors(cluster: RayCluster) -> Iterator[FieldError]:
    """KubeRay's checks of GCS fault tolerance that read annotations or the head's env (CEL sees neither)."""
    spec, head = cluster.spec, cluster.spec.head_group_spec
    options = spec.gcs_fault_tolerance_options
    legacy = cluster.annotation(c.FT_ENABLED_ANNOTATION)
    if legacy and options is not None:
        yield FieldError(_annotation_path(c.FT_ENABLED_ANNOTATION), m.FT_ANNOTATION_AND_OPTIONS)
    redis_address = _env_value(head, "RAY_REDIS_ADDRESS")
    if not cluster.fault_tolerance_enabled() and redis_address is not None:
        yield FieldError(_HEAD_ENV, m.REDIS_ADDRESS_WITHOUT_FT)
    if options is None and cluster.fault_tolerance_enabled() and not redis_address:
        yield FieldError(_annotation_path(c.FT_ENABLED_ANNOTATION), m.FT_ANNOTATION_WITHOUT_REDIS)
    if options is not None:
        for name in ("REDIS_PASSWORD", "RAY_REDIS_ADDRESS"):
            if _env_value(head, name) is not None:
                yield FieldError(_HEAD_ENV, f"{name} {m.REDIS_ENV_WITH_OPTIONS}")
        if cluster.annotation(c.EXTERNAL_STORAGE_NAMESPACE_ANNOTATION):
            path = _annotation_path(c.EXTERNAL_STORAGE_NAMESPACE_ANNOTATION)
            yield FieldError(path, m.STORAGE_NAMESPACE_ANNOTATION_WITH_OPTIONS)
    if _env_value(head, "REDIS_USERNAME") is not None:
        yield FieldError(_HEAD_ENV, m.REDIS_USERNAME_ENV)
    timeout = cluster.annotation(c.FT_DELETION_TIMEOUT_ANNOTATION)
    if timeout is not None and not timeout.strip().isdigit():
        yield FieldError(_annotation_path(c.FT_DELETION_TIMEOUT_ANNOTATION), m.FT_DELETION_TIMEOUT_INVALID)


def _version_below(version: str | None, minimum: tuple[int, int]) -> bool:
    """Whether a Ray version is older than `minimum`; unknown versions are not."""
    release = ray_release(version)
    return release is not None and release < minimum


def _auth_errors(cluster: RayCluster) -> Iterator[FieldError]:
    options = cluster.spec.auth_options
    if options is None or not options.token_mode():
        return
    version = cluster.spec.ray_version
    if _version_below(version, (2, 52)):
        yield FieldError("spec.rayVersion", m.AUTH_NEEDS_NEWER_RAY)
    elif options.enable_k8s_token_auth and _version_below(version, (2, 55)):
        yield FieldError("spec.rayVersion", m.K8S_TOKEN_AUTH_NEEDS_NEWER_RAY)


def _env_value(group: RayGroupSpec, name: str) -> str | None:
    ray = group.ray_container()
    env = ray.get("env") if ray else None
    for var in env if isinstance(env, list) else []:
        if isinstance(var, dict) and var.get("name") == name:
            return str(var.get("value", ""))
    return None


def _walk_model(obj: BaseModel, old: BaseModel | None, path: str) -> Iterator[FieldError]:
    model = type(obj)
    yield from _apply(getattr(model, "admission_rules", ()), obj, old, path)
    if isinstance(obj, KubeModel) and obj.report_unknown_fields:
        for key in obj.model_extra or {}:
            yield FieldError(path, f'{m.UNKNOWN_FIELD} "{_join(path, key)}"')
    for name, field in model.model_fields.items():
        value = getattr(obj, name)
        if value is None:
            continue  # absent: the API server runs no rule on it either
        old_value = getattr(old, name, None) if old is not None else None
        yield from _walk_value(value, old_value, describe_field(field), _join(path, field.alias or name))


def _walk_value(value: Any, old: Any, info: TypeInfo, path: str) -> Iterator[FieldError]:
    yield from _apply(info.rules, value, old, path)
    if info.kind == "object" and isinstance(value, BaseModel):
        yield from _walk_model(value, old if isinstance(old, BaseModel) else None, path)
    elif info.kind == "array" and info.item is not None:
        for index, item in enumerate(value):
            yield from _walk_value(item, None, info.item, f"{path}[{index}]")
    elif info.kind == "map" and info.item is not None:
        for key, item in value.items():
            yield from _walk_value(item, None, info.item, _join(path, key))


def _apply(rules: tuple[Rule, ...], value: Any, old: Any, path: str) -> Iterator[FieldError]:
    for rule in rules:
        if rule.on_create_only and old is not None:
            continue
        if rule.check is not None:
            valid = rule.check(value)
        elif rule.transition is not None and old is not None:
            valid = rule.transition(value, old)
        else:
            continue  # a transition rule on a create
        if not valid:
            yield FieldError(_join(path, (rule.field_path or "").lstrip(".")), rule.message)


def _join(path: str, key: str) -> str:
    if not key:
        return path
    return f"{path}.{key}" if path else key


_TYPE_MESSAGES = {
    "string_type": m.MUST_BE_STRING,
    "int_type": m.MUST_BE_INTEGER,
    "bool_type": m.MUST_BE_BOOLEAN,
    "dict_type": m.MUST_BE_OBJECT,
    "model_type": m.MUST_BE_OBJECT,
    "model_attributes_type": m.MUST_BE_OBJECT,
    "list_type": m.MUST_BE_ARRAY,
    "missing": m.REQUIRED,
}


def schema_errors(error: ValidationError) -> list[FieldError]:
    """pydantic's errors, worded as the API server words the same schema violations."""
    out: list[FieldError] = []
    for item in error.errors():
        path = ""
        for part in item["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
        kind = item["type"]
        ctx = item.get("ctx", {})
        if kind == "string_too_long":
            message = f"{m.TOO_LONG}: may not be more than {ctx.get('max_length')} bytes"
        elif kind == "too_long":
            message = (
                f"{m.TOO_MANY}: {ctx.get('actual_length')}: must have at most {ctx.get('max_length')} items"
            )
        else:
            message = _TYPE_MESSAGES.get(kind, item["msg"])
        out.append(FieldError(path, message))
    return out
