"""Fixtures for the RayCluster controller: the real control plane, and the operator as its own process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kuberay_py.runtime import KubeClient, connect
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import OperatorProcess

REPO = Path(__file__).resolve().parents[3]
CRDS = {
    "rayclusters.ray.io": REPO / "config" / "crd" / "ray.io_rayclusters.yaml",
    "rayjobs.ray.io": REPO / "config" / "crd" / "ray.io_rayjobs.yaml",
}


@pytest.fixture(scope="session")
def crd(control_plane: ControlPlane) -> None:
    for path in CRDS.values():
        control_plane.kubectl("apply", "-f", str(path))
    control_plane.kubectl(
        "wait", "--for=condition=Established", *(f"crd/{name}" for name in CRDS), "--timeout=60s"
    )


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, crd: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(control_plane.kubeconfig, log)
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"operator exited with {code}:\n{process.log_tail()}"


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    client = await connect(control_plane.kubeconfig)
    yield client
    await client.close()
