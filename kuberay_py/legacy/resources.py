"""Ray resources: the legacy `rayResources` maps and the resource flags of `ray start`, as the quantity
strings a ray.io/v1 group's `resources` map holds."""

import json
import math
from typing import Final

from kuberay_py.api import patterns as pat
from kuberay_py.api.quantities import QuantityError, parse_quantity
from kuberay_py.legacy.fields import join, mapping
from kuberay_py.legacy.findings import LegacyError

# `ray start` flags that set a Ray resource, and the resource's name in a group's `resources` map.
FLAG_RESOURCES: Final = {"num-cpus": "CPU", "num-gpus": "GPU", "memory": "memory"}
CUSTOM_RESOURCES_FLAG: Final = "resources"
# A Ray resource that a group's `resources` map cannot hold: it has a `ray start` flag of its own.
OBJECT_STORE_MEMORY: Final = "object_store_memory"
OBJECT_STORE_MEMORY_FLAG: Final = "object-store-memory"


def quantity_text(value: object, path: str) -> str:
    """A non-negative amount (a YAML number or a quantity string) as a quantity string."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise LegacyError(path, f"must be a number or a quantity string, not {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LegacyError(path, f"must be a finite number, not {value!r}")
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = str(value).strip()
    if not pat.matches(pat.QUANTITY, text):
        raise LegacyError(path, f'must be an amount of at least 0 (e.g. 1, 0.5, "8Gi"), not {value!r}')
    try:
        parse_quantity(text)
    except QuantityError as error:
        raise LegacyError(path, str(error)) from None
    return text


def read_ray_resources(value: object, path: str) -> dict[str, str]:
    """A `rayResources` map (null or absent: empty)."""
    if value is None:
        return {}
    resources = mapping(value, path)
    out: dict[str, str] = {}
    for name, amount in resources.items():
        if not name:
            raise LegacyError(path, "a resource name may not be empty")
        out[name] = quantity_text(amount, join(path, name))
    return out


def flag_resources(flag: str, value: str, path: str) -> dict[str, str] | None:
    """The Ray resources a resource flag of `ray start` sets, from its unquoted value.

    None when the value is no literal amount (a shell variable, say): only the shell could tell its value.
    """
    if flag == CUSTOM_RESOURCES_FLAG:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            if "$" in value:
                return None
            raise LegacyError(path, f"--resources must be a JSON object, not {value!r}") from None
        if not isinstance(parsed, dict):
            raise LegacyError(path, f"--resources must be a JSON object, not {value!r}")
        return read_ray_resources(parsed, f"{path} (--resources)")
    try:
        return {FLAG_RESOURCES[flag]: quantity_text(value, path)}
    except LegacyError:
        if "$" in value or "`" in value:
            return None
        raise LegacyError(path, f"--{flag} must be an amount of at least 0, not {value!r}") from None
