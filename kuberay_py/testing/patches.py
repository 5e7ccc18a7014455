"""Applying JSON merge patches (RFC 7386) and JSON patches (RFC 6902) to JSON data.

Used by the in-memory backend.
"""

from __future__ import annotations

from typing import Any

from kuberay_py.runtime.objects import clone


class PatchError(ValueError):
    """The patch cannot be applied (bad path, failed ``test`` operation, malformed operation)."""


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """The result of merging ``patch`` into ``target``; neither argument is modified."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_json_patch(target: Any, operations: list[dict[str, Any]]) -> Any:
    """The result of applying RFC 6902 ``operations`` to a copy of ``target``."""
    document = clone(target)
    for op in operations:
        kind = op.get("op")
        path = _pointer(op.get("path"))
        if kind == "add":
            document = _add(document, path, clone(op.get("value")))
        elif kind == "remove":
            document = _remove(document, path)
        elif kind == "replace":
            document = _remove(document, path)
            document = _add(document, path, clone(op.get("value")))
        elif kind == "move":
            source = _pointer(op.get("from"))
            value = _get(document, source)
            document = _add(_remove(document, source), path, value)
        elif kind == "copy":
            document = _add(document, path, clone(_get(document, _pointer(op.get("from")))))
        elif kind == "test":
            if _get(document, path) != op.get("value"):
                raise PatchError(f"test failed at {op.get('path')!r}")
        else:
            raise PatchError(f"unknown patch operation {kind!r}")
    return document


def _pointer(text: Any) -> list[str]:
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"invalid JSON pointer {text!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in text.split("/")[1:]]


def _get(document: Any, path: list[str]) -> Any:
    current = document
    for part in path:
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
    return current


def _add(document: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(document, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last, len(parent) + 1)
        parent.insert(index, value)
    else:
        raise PatchError(f"cannot add at /{'/'.join(path)}")
    return document


def _remove(document: Any, path: list[str]) -> Any:
    if not path:
        return None
    parent = _get(document, path[:-1])
    last = path[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(last, len(parent))]
    else:
        raise PatchError(f"path /{'/'.join(path)} does not exist")
    return document


def _index(text: str, limit: int) -> int:
    if not text.isdigit() or int(text) >= limit:
        raise PatchError(f"invalid array index {text!r}")
    return int(text)
