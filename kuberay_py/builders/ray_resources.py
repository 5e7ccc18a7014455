"""Ray's resource flags (`--num-cpus`, `--num-gpus`, `--memory`, `--resources`) derived from a group.

Ray would otherwise count the resources of the whole Kubernetes node it runs on. The Ray container's limits
(its CPU request when it has no CPU limit) say what the pod may use; the group's `resources` map overrides
them, and a flag the user set in `rayStartParams` overrides both. TPUs and AWS Neuron cores in the Ray
container's limits are added to `--resources` unless it already names one of them, as KubeRay adds them.
"""

import json
import math
import re
import shlex
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from kuberay_py.api.quantities import QuantityError, parse_quantity, whole_units
from kuberay_py.builders.errors import BuildError

NUM_CPUS: Final = "num-cpus"
NUM_GPUS: Final = "num-gpus"
MEMORY: Final = "memory"
CUSTOM_RESOURCES: Final = "resources"

# Keys of a group's `resources` map that have flags of their own; every other key is a custom resource.
_GROUP_RESOURCE_FLAGS: Final = {"CPU": NUM_CPUS, "GPU": NUM_GPUS, "memory": MEMORY}
# Kubernetes resources of accelerators that Ray counts as custom resources, by their Ray names.
ACCELERATOR_RESOURCES: Final = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}
# NVIDIA's multi-instance GPU slices, as "nvidia.com/mig-2g.32gb", count as GPUs.
_MIG: Final = re.compile(r"nvidia\.com/mig-[0-9]+g\.[0-9]+gb\Z")
# What KubeRay trims from around a `rayStartParams.resources` value before reading it as JSON.
_QUOTES: Final = "'\"` "


def is_gpu_resource(name: str) -> bool:
    """Whether a container resource counts toward `--num-gpus`: any vendor's `.../gpu`, or a MIG slice."""
    return name.endswith("gpu") or _MIG.search(name) is not None


def _requirements(container: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    resources = container.get("resources")
    values = resources.get(kind) if isinstance(resources, Mapping) else None
    return values if isinstance(values, Mapping) else {}


def _quantity(value: object, where: str) -> Fraction:
    try:
        return parse_quantity(value)
    except QuantityError as error:
        raise BuildError(f"{where}: {error}") from None


def container_resource_params(container: Mapping[str, Any], where: str) -> dict[str, str]:
    """Flags from the Ray container's requests and limits; `where` names the container in errors."""
    limits = _requirements(container, "limits")
    requests = _requirements(container, "requests")
    params: dict[str, str] = {}

    for source, kind in ((limits, "limits"), (requests, "requests")):
        if "cpu" in source and (cpu := _quantity(source["cpu"], f"{where}.resources.{kind}.cpu")) > 0:
            params[NUM_CPUS] = str(whole_units(cpu))
            break

    if "memory" in limits and (memory := _quantity(limits["memory"], f"{where}.resources.limits.memory")) > 0:
        params[MEMORY] = str(whole_units(memory))

    # Any vendor's GPUs: nvidia.com/gpu, amd.com/gpu, ...; sorted so that the choice is stable.
    for key in sorted(k for k in limits if is_gpu_resource(str(k))):
        gpus = _quantity(limits[key], f"{where}.resources.limits.{key}")
        if gpus > 0:
            params[NUM_GPUS] = str(whole_units(gpus))
            break
    return params


def group_resource_params(resources: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """Flags from a group's `resources` map: CPU, GPU and memory, and every other key as a custom resource."""
    params: dict[str, str] = {}
    custom: dict[str, float] = {}
    for key, value in sorted((resources or {}).items()):
        amount = _quantity(value, f"{where}.resources.{key}")
        flag = _GROUP_RESOURCE_FLAGS.get(key)
        if flag is None:
            custom[key] = float(amount)
        else:
            params[flag] = str(whole_units(amount))
    if custom:
        params[CUSTOM_RESOURCES] = custom_resources_flag(custom)
    return params


def custom_resources_flag(resources: Mapping[str, float]) -> str:
    """The value of `--resources`: a JSON object written as KubeRay's Go code writes it, shell-quoted.

    Quoted because the flag ends up inside a `bash -c` command line.
    """
    return shlex.quote(_go_json_object(resources))


def _go_json_object(values: Mapping[str, float]) -> str:
    """Keys sorted, no spaces, numbers as Go's encoding/json writes a float64 ("4", "0.5", "1e+21")."""
    return (
        "{" + ",".join(f"{_go_json_string(k)}:{_go_json_float(v)}" for k, v in sorted(values.items())) + "}"
    )


def _go_json_string(text: str) -> str:
    # Go escapes these for HTML safety and writes other non-ASCII characters as they are.
    quoted = json.dumps(text, ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        quoted = quoted.replace(char, escape)
    return quoted


def _go_json_float(value: float) -> str:
    magnitude = abs(value)
    if magnitude == 0 or 1e-6 <= magnitude < 1e21:
        # The shortest digits that read back as the value, in plain decimal notation.
        return format(Decimal(repr(value)).normalize(), "f")
    # Exponent notation, where Go drops a leading zero of a negative exponent.
    return re.sub(r"e-0([0-9])\Z", r"e-\1", repr(value))


def _read_custom_resources(text: str) -> dict[str, float] | None:
    """A `rayStartParams.resources` value as KubeRay reads it: quotes around it trimmed, a JSON object of
    numbers; None when it is not one."""

    def refuse(constant: str) -> float:
        raise ValueError(constant)

    try:
        values = json.loads(text.strip(_QUOTES), parse_constant=refuse)
    except ValueError:
        return None
    if not isinstance(values, dict):
        return None
    read: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            number = float(value)
        except OverflowError:
            return None
        if not math.isfinite(number):
            return None
        read[key] = number
    return read


def add_accelerator_resources(params: dict[str, str], container: Mapping[str, Any], where: str) -> None:
    """Add the Ray container's TPUs or Neuron cores (by its limits) to `--resources`, as KubeRay does.

    Only the first such accelerator in sorted order, and only when `--resources` names none of them yet;
    a `--resources` value that is not a JSON object of numbers is left as written. `where` names the
    container in errors.
    """
    limits = _requirements(container, "limits")
    present = _read_custom_resources(params[CUSTOM_RESOURCES]) if CUSTOM_RESOURCES in params else {}
    if not limits or present is None or any(name in present for name in ACCELERATOR_RESOURCES.values()):
        return
    for key in sorted(str(k) for k in limits):
        ray_name = ACCELERATOR_RESOURCES.get(key)
        if ray_name is None:
            continue
        amount = _quantity(limits[key], f"{where}.resources.limits.{key}")
        if amount != 0:
            params[CUSTOM_RESOURCES] = custom_resources_flag({**present, ray_name: float(amount)})
            return


def resource_params(
    container: Mapping[str, Any], group_resources: Mapping[str, str] | None, group_path: str
) -> dict[str, str]:
    """The resource flags of a Ray node: the container's, overridden by the group's `resources`.

    `group_path` locates the group in the RayCluster (`spec.workerGroupSpecs[0]`) for error messages.
    """
    from_container = container_resource_params(container, f"{group_path}.template.spec.containers[0]")
    return {**from_container, **group_resource_params(group_resources, group_path)}
