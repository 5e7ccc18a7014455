"""Crash safety (SIGKILL mid scale-up) and template rollouts, observed at every moment through an informer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberay_py.runtime import KubeClient
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.controllers.objects import (
    kubectl,
    manifest,
    patch,
    raycluster,
    ready,
    scale,
    wait_state,
)
from tests.waiting import eventually

TEMPLATE_HASH = "kuberay-py.io/template-hash"


@pytest.fixture
def operator_process(control_plane: ControlPlane, crd: None, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(control_plane.kubeconfig, tmp_path / "operator.log")
    process.start()
    yield process
    process.stop()


async def test_sigkill_during_scale_up_never_overshoots(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, operator_process: OperatorProcess
) -> None:
    rng = random.Random(20261121)
    target = 50
    for round_ in range(10):
        name = f"chaos-{round_}"
        rc = manifest(name, {"groupName": "g", "replicas": 0})
        async with ready(control_plane, kube, namespace, rc) as pods:
            await scale(control_plane, namespace, name, target)
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            created_before_kill = len(pods.active("g"))
            operator_process.kill()
            operator_process.start(wait_ready=False)
            await eventually(
                lambda: len(pods.ready("g")) == target,
                timeout=120,
                what=f"{target} ready workers (round {round_})",
            )
            await asyncio.sleep(1.0)  # a duplicate create from a confused restart would show up by now
            assert len(pods.active("g")) == target
            assert pods.max_active["g"] == target, (
                f"round {round_}: {pods.max_active['g']} workers existed at once"
            )
            assert pods.max_active["headgroup"] == 1
            print(f"round {round_}: killed at {created_before_kill} workers; ended with exactly {target}")
        await kubectl(control_plane, "delete", "raycluster", name, "-n", namespace, "--wait=false")


async def test_rolling_update_replaces_pods_within_max_unavailable(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, operator_process: OperatorProcess
) -> None:
    rc = manifest(
        "roll",
        {"groupName": "g", "replicas": 6},
        upgradeStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
    )
    async with ready(control_plane, kube, namespace, rc) as pods:
        original = {p["metadata"]["name"] for p in pods.active("g")}
        head = {p["metadata"]["name"] for p in pods.active("headgroup")}

        # Changing replicas alone replaces nothing.
        await scale(control_plane, namespace, "roll", 7)
        await eventually(lambda: len(pods.ready("g")) == 7, what="7 workers")
        assert original <= {p["metadata"]["name"] for p in pods.active("g")}
        await scale(control_plane, namespace, "roll", 6)
        await eventually(lambda: len(pods.active("g")) == 6, what="back to 6 workers")
        await wait_state(control_plane, namespace, "roll")
        before = {p["metadata"]["name"] for p in pods.active("g")}
        old_hash = {p["metadata"]["annotations"][TEMPLATE_HASH] for p in pods.active("g")}

        pods.start_tracking_ready()
        env = [{"name": "MODEL_VERSION", "value": "2"}]
        await patch(
            control_plane,
            namespace,
            "roll",
            [{"op": "add", "path": "/spec/workerGroupSpecs/0/template/spec/containers/0/env", "value": env}],
            kind="json",
        )

        def rolled() -> bool:
            active = pods.active("g")
            return (
                len(active) == 6
                and len(pods.ready("g")) == 6
                and not ({p["metadata"]["name"] for p in active} & before)
                and all(p["metadata"]["annotations"][TEMPLATE_HASH] not in old_hash for p in active)
            )

        await eventually(rolled, timeout=120, what="every worker replaced")
        assert pods.min_ready["g"] >= 6 - 2, f"{6 - pods.min_ready['g']} workers were unavailable at once"
        assert pods.max_active["g"] <= 7
        status = (await wait_state(control_plane, namespace, "roll"))["status"]
        assert status["outdatedPods"] == 0
        # The head's template did not change, so the head stays.
        assert {p["metadata"]["name"] for p in pods.active("headgroup")} == head


async def test_without_strategy_nothing_is_replaced_but_status_counts_outdated_pods(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, operator_process: OperatorProcess
) -> None:
    cluster = manifest("stay", {"groupName": "g", "replicas": 3})
    async with ready(control_plane, kube, namespace, cluster) as pods:
        names = {p["metadata"]["name"] for p in pods.active()}
        await patch(
            control_plane,
            namespace,
            "stay",
            [
                {
                    "op": "add",
                    "path": "/spec/workerGroupSpecs/0/template/spec/containers/0/env",
                    "value": [{"name": "A", "value": "1"}],
                }
            ],
            kind="json",
        )

        async def counted() -> bool:
            return ((await raycluster(control_plane, namespace, "stay")).get("status") or {}).get(
                "outdatedPods"
            ) == 3

        await eventually(counted, what="outdatedPods == 3")
        await asyncio.sleep(2)
        assert {p["metadata"]["name"] for p in pods.active()} == names
        rc = await raycluster(control_plane, namespace, "stay")
        condition = next(c for c in rc["status"]["conditions"] if c["type"] == "PodsUpToDate")
        assert condition["status"] == "False" and "3 pod(s)" in condition["message"]
        # New pods (a scale-up) get the new template; the old ones are still counted.
        await scale(control_plane, namespace, "stay", 4)
        await eventually(lambda: len(pods.ready("g")) == 4, what="4 workers")
        assert names <= {p["metadata"]["name"] for p in pods.active()}
