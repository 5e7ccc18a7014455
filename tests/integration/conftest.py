"""Fixtures every integration test may use, beside the session's control plane (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kuberay_py.testing.controlplane import ControlPlane
from tests.integration.install_support import new_namespace


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    """A fresh namespace with its default ServiceAccount, deleted (without waiting) after the test."""
    name = new_namespace(control_plane, "t")
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")
