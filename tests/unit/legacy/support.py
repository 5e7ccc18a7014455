"""Fixtures and helpers shared by the converter's unit tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from kuberay_py.legacy import Conversion, convert_text

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(fixture_text(name))
    return document


def convert(document: dict[str, Any] | str, name: str | None = None) -> Conversion:
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    return convert_text(text) if name is None else convert_text(text, name)


def converted(document: dict[str, Any] | str, name: str | None = None) -> dict[str, Any]:
    """The single RayCluster the document converts to."""
    result = convert(document, name)
    assert len(result.manifests) == 1
    return result.manifests[0]


def warnings_about(document: dict[str, Any] | str, path: str) -> list[str]:
    """The warnings whose field is `path` exactly."""
    return [w for w in convert(document).warnings if w.startswith(f"{path}: ")]


def example() -> dict[str, Any]:
    """A fresh copy of the legacy example cluster, to change one field at a time."""
    return copy.deepcopy(fixture("example-cluster.yaml"))


def values() -> dict[str, Any]:
    return copy.deepcopy(fixture("values.yaml"))


def minimal_pod() -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "ray-node", "image": "rayproject/ray:2.60.0"}]}}
