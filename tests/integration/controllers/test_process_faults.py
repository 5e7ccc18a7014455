"""The process-fault helpers: the operator (talking through the fault proxy) stopped by SIGTERM and SIGKILL at
random moments, and the API server restarted under the proxy and the pod observer."""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

from kuberay_py.runtime import PODS, AlreadyExists, ApiError, KubeClient, connect
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.faultproxy import FaultProxy
from kuberay_py.testing.faultrules import RequestClass
from kuberay_py.testing.observer import PodObserver, is_ready
from kuberay_py.testing.operator_process import OperatorProcess
from kuberay_py.testing.processfaults import (
    restart_apiserver_at_random_moment,
    signal_operator_at_random_moment,
)
from tests.waiting import eventually


async def test_operator_through_the_proxy_stops_on_sigterm_and_restarts_after_sigkill(
    control_plane: ControlPlane, crd: None, tmp_path: Path
) -> None:
    rng = random.Random(3)
    async with FaultProxy.for_control_plane(control_plane) as proxy:
        process = OperatorProcess(proxy.write_kubeconfig(tmp_path / "proxy.kubeconfig"), tmp_path / "op.log")
        await asyncio.to_thread(process.start)
        try:
            assert proxy.requests[RequestClass.WATCH] > 0, "the operator watches through the proxy"
            await signal_operator_at_random_moment(
                process, rng, within=(0.0, 0.5), sig=signal.SIGTERM, restart=False
            )
            assert process.proc is not None and process.proc.returncode == 0, process.log_tail()
            process.start(wait_ready=False)
            await asyncio.to_thread(process.wait_ready)
            killed = process.proc
            await signal_operator_at_random_moment(process, rng, within=(0.0, 0.5))
            assert killed is not None and killed.returncode == -signal.SIGKILL
            assert process.proc is not killed
            await asyncio.to_thread(process.wait_ready)
        finally:
            code = await asyncio.to_thread(process.stop)
        assert code == 0, process.log_tail()


async def test_proxy_and_observer_carry_on_after_an_api_server_restart(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    async with (
        FaultProxy.for_control_plane(control_plane) as proxy,
        PodObserver(kube, namespace) as observer,
    ):
        through = await connect(proxy.write_kubeconfig(), request_timeout=10.0)
        try:
            await through.create(PODS, _pod("before"), namespace)
            await restart_apiserver_at_random_moment(control_plane, random.Random(4), within=(0.0, 0.3))

            async def created() -> bool:
                try:
                    await through.create(PODS, _pod("after"), namespace)
                except AlreadyExists:  # an earlier try took effect but lost its answer
                    return True
                except ApiError:  # the proxy's pooled connection to the old server may fail once
                    return False
                return True

            await eventually(created, timeout=30, what="a create through the proxy after the restart")
            await eventually(
                lambda: sorted(p["metadata"]["name"] for p in observer.ready()) == ["after", "before"],
                timeout=60,
                what="the observer to see both pods ready",
            )
            assert all(is_ready(p) for p in observer.active())
            observer.assert_no_overshoot("rc", "g", 2)
        finally:
            await through.close()


def _pod(name: str) -> dict[str, object]:
    labels = {"ray.io/cluster": "rc", "ray.io/group": "g", "ray.io/node-type": "worker"}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "ray", "image": "rayproject/ray"}]},
    }
