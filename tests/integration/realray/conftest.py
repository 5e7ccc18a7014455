"""The real-Ray stack: a control plane whose one Node is the process kubelet, the CRDs, and the operator,
which reaches the pods' dashboards through the pod-network proxy (as an operator outside a cluster's
network would, through a proxy of its own)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kuberay_py.testing.binaries import ensure_redis
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.install_support import CRD_FILES
from tests.integration.realray.cluster import RayStack


@pytest.fixture(scope="package")
def process_plane() -> Iterator[ControlPlane]:
    # Namespaces for pods need root; a machine without it cannot run these tests, and says so.
    assert os.geteuid() == 0, "the process kubelet needs root (network, mount and PID namespaces)"
    plane = ControlPlane(
        kubelet_kind="process",
        # A container whose command is redis-server (KubeRay's external-Redis sample) runs the cached Redis.
        kubelet_args=[
            "--image-env=RAY_USAGE_STATS_ENABLED=0",
            "--restart-backoff=1",
            f"--extra-path={ensure_redis()}",
        ],
        keep_failed=True,
    )
    plane.start()
    try:
        for crd in CRD_FILES:
            plane.kubectl("apply", "-f", str(crd))
        plane.kubectl(
            "wait",
            "--for=condition=Established",
            "crd/rayclusters.ray.io",
            "crd/rayjobs.ray.io",
            "--timeout=60s",
        )
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="package")
def pod_proxy(process_plane: ControlPlane) -> Iterator[str]:
    """`http://127.0.0.1:<port>`: the proxy into the pods' network (kuberay_py.testing.podproxy)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kuberay_py.testing.podproxy"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), line
        yield "http://" + line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="package")
def ray_operator(process_plane: ControlPlane, pod_proxy: str) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        process_plane.kubeconfig,
        process_plane.log_dir / "operator.log",
        extra_args=["--ray-dashboard-address=pod-ip"],
        env={"HTTP_PROXY": pod_proxy, "NO_PROXY": "localhost,127.0.0.1"},
    )
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"operator exited with {code}:\n{process.log_tail()}"


@pytest.fixture
def stack(process_plane: ControlPlane, ray_operator: OperatorProcess) -> Iterator[RayStack]:
    """The stack, for one test; its RayClusters are deleted (and their pods gone) after it."""
    ray_stack = RayStack(process_plane, ray_operator)
    try:
        yield ray_stack
    finally:
        ray_stack.delete_clusters()
