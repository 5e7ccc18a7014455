"""Fixtures for runtime tests against the real local control plane."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from kuberay_py.runtime import NAMESPACES, KubeClient, NotFound, connect
from kuberay_py.testing.controlplane import ControlPlane
from tests.integration.runtime.support import retrying


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = await connect(control_plane.kubeconfig)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    name = f"rt-{uuid.uuid4().hex[:8]}"
    await kube.create(NAMESPACES, {"metadata": {"name": name}})
    try:
        yield name
    finally:
        with contextlib.suppress(NotFound):
            await retrying(lambda: kube.delete(NAMESPACES, name))
