"""Typed reads of parsed YAML that fail with the field's path, so bad input never surfaces as a traceback."""

import math
import re
from collections.abc import Collection, Mapping
from typing import Any

from kuberay_py.legacy.findings import Findings, LegacyError

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def join(path: str, key: str) -> str:
    """`path.key`, or `path["key"]` for a key a dotted path would misread."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]'


def warn_unknown(
    source: Mapping[str, Any], known: Collection[str], path: str, what: str, findings: Findings
) -> None:
    """A warning for each key of `source` that is not `known`: it is not `what` and is left out."""
    for key in source:
        if key not in known:
            findings.warn(join(path, key), f"not {what}, left out")


def mapping(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise LegacyError(path, f"must be a mapping, not {_kind(value)}")
    for key in value:
        if not isinstance(key, str):
            raise LegacyError(path, f"keys must be strings, not {_kind(key)} ({key!r})")
    return dict(value)


def optional_mapping(source: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """The mapping under `key`; empty when it is absent or null."""
    value = source.get(key)
    return {} if value is None else mapping(value, join(path, key))


def required_string(source: Mapping[str, Any], key: str, path: str) -> str:
    value = source.get(key)
    where = join(path, key)
    if value is None:
        raise LegacyError(where, "required")
    if not isinstance(value, str) or not value:
        raise LegacyError(where, f"must be a non-empty string, not {_kind(value)}")
    return value


def optional_int(source: Mapping[str, Any], key: str, path: str) -> int | None:
    """A whole number of at least 0; None when absent or null."""
    value = source.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LegacyError(join(path, key), f"must be a whole number of at least 0, not {value!r}")
    return value


def optional_number(
    source: Mapping[str, Any], key: str, path: str, *, positive: bool = False
) -> float | None:
    """A finite number of at least 0 (above 0 with `positive`); None when absent or null."""
    value = source.get(key)
    if value is None:
        return None
    bound = "above 0" if positive else "of at least 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LegacyError(join(path, key), f"must be a number {bound}, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise LegacyError(join(path, key), f"must be a number {bound}, not {value!r}")
    return number


def string_list(source: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    """A list of strings; empty when absent or null."""
    value = source.get(key)
    if value is None:
        return ()
    where = join(path, key)
    if not isinstance(value, list):
        raise LegacyError(where, f"must be a list of strings, not {_kind(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise LegacyError(f"{where}[{index}]", f"must be a string, not {_kind(item)}")
    return tuple(value)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__
