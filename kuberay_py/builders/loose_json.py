"""Reading the loosely typed Kubernetes objects of a template safely."""

from typing import Any


def as_dict(value: object) -> dict[str, Any]:
    """`value` when it is a mapping as parsed from YAML or JSON, else an empty dict."""
    return value if isinstance(value, dict) else {}
