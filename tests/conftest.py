"""Shared fixtures. `control_plane` is a real local Kubernetes control plane with the simulated kubelet,
started once per test session; integration tests talk to it and never to a mock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberay_py.testing.controlplane import ControlPlane

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    plane = ControlPlane(nodes=4)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()
