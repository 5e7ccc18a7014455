"""Ray's resource flags (`--num-cpus`, `--num-gpus`, `--memory`, `--resources`) derived from a group.

Ray would otherwise count the resources of the whole Kubernetes node it runs on. The Ray container's limits
(its CPU request when it has no CPU limit) say what the pod may use; the group's `resources` map overrides
them, and a flag the user set in `rayStartParams` overrides both.
"""

import json
import shlex
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, Final

from kuberay_py.api.quantities import QuantityError, json_number, parse_quantity, whole_units
from kuberay_py.builders.errors import BuildError

NUM_CPUS: Final = "num-cpus"
NUM_GPUS: Final = "num-gpus"
MEMORY: Final = "memory"
CUSTOM_RESOURCES: Final = "resources"

# Keys of a group's `resources` map that have flags of their own; every other key is a custom resource.
_GROUP_RESOURCE_FLAGS: Final = {"CPU": NUM_CPUS, "GPU": NUM_GPUS, "memory": MEMORY}


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
    for key in sorted(k for k in limits if str(k).lower().endswith("gpu")):
        gpus = _quantity(limits[key], f"{where}.resources.limits.{key}")
        if gpus > 0:
            params[NUM_GPUS] = str(whole_units(gpus))
            break
    return params


def group_resource_params(resources: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """Flags from a group's `resources` map: CPU, GPU and memory, and every other key as a custom resource."""
    params: dict[str, str] = {}
    custom: dict[str, int | float] = {}
    for key, value in sorted((resources or {}).items()):
        amount = _quantity(value, f"{where}.resources.{key}")
        flag = _GROUP_RESOURCE_FLAGS.get(key)
        if flag is None:
            custom[key] = json_number(amount)
        else:
            params[flag] = str(whole_units(amount))
    if custom:
        # Quoted: the flag ends up inside a `bash -c` command line.
        params[CUSTOM_RESOURCES] = shlex.quote(json.dumps(custom, separators=(",", ":"), sort_keys=True))
    return params


def resource_params(
    container: Mapping[str, Any], group_resources: Mapping[str, str] | None, group_path: str
) -> dict[str, str]:
    """The resource flags of a Ray node: the container's, overridden by the group's `resources`.

    `group_path` locates the group in the RayCluster (`spec.workerGroupSpecs[0]`) for error messages.
    """
    from_container = container_resource_params(container, f"{group_path}.template.spec.containers[0]")
    return {**from_container, **group_resource_params(group_resources, group_path)}
