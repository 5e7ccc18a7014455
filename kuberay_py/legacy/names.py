"""Worker group names from legacy pod type names, which could be anything a YAML key can be."""

import re
from collections.abc import Iterable
from typing import Final

from kuberay_py.api import patterns as pat
from kuberay_py.api.constants import HEAD_GROUP_NAME, MAX_GROUP_NAME_LENGTH

_WORD_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_ALLOWED: Final = re.compile(r"[^a-z0-9]+")


def dns_label(name: str, fallback: str) -> str:
    """`name` as a DNS-1123 label: camelCase split into words, lower case, anything else a dash.

    `rayWorkerType` -> `ray-worker-type`, `worker_nodes` -> `worker-nodes`, `GPU.Node` -> `gpu-node`;
    `fallback` when nothing usable is left.
    """
    words = _WORD_BOUNDARY.sub("-", name).lower()
    label = _NOT_ALLOWED.sub("-", words).strip("-")[:MAX_GROUP_NAME_LENGTH].rstrip("-")
    return label if label and pat.matches(pat.DNS1123_LABEL, label) else fallback


def group_names(type_names: Iterable[str]) -> list[str]:
    """A distinct, valid worker group name for each pod type name, in order."""
    names: list[str] = []
    for index, type_name in enumerate(type_names):
        base = dns_label(type_name, f"group-{index}")
        if base == HEAD_GROUP_NAME:
            base = f"{base}-workers"  # the head's group name is reserved
        candidate, number = base, 1
        while candidate in names:
            number += 1
            suffix = f"-{number}"
            candidate = base[: MAX_GROUP_NAME_LENGTH - len(suffix)].rstrip("-") + suffix
        names.append(candidate)
    return names
