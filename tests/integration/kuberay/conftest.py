"""Both operators side by side: KubeRay's own (built from its Go module, with its CRDs) on one control plane,
kuberay-py (with its CRD) on another, so neither sees the other's objects or CRD."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberay_py.testing.binaries import KubeRay, ensure_kuberay
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.kuberay.sides import OUR_CRD, Side, install_crds, parity_plane, start_kuberay


@pytest.fixture(scope="session")
def kuberay() -> KubeRay:
    return ensure_kuberay()


@pytest.fixture(scope="package")
def kuberay_side(kuberay: KubeRay, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    plane, operator = start_kuberay(kuberay, tmp_path_factory.mktemp("kuberay"))
    try:
        yield Side("KubeRay", plane, operator)
    finally:
        operator.stop()
        plane.stop()


@pytest.fixture(scope="package")
def ours_side(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    plane = parity_plane()
    plane.start()
    operator = OperatorProcess(plane.kubeconfig, Path(tmp_path_factory.mktemp("ours")) / "operator.log")
    try:
        install_crds(plane, [OUR_CRD])
        operator.start()
        yield Side("kuberay-py", plane, operator)
    finally:
        operator.stop()
        plane.stop()
