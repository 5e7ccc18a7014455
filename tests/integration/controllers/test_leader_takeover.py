"""Two operators with leader election, each talking through its own proxy so that every write it sends is
journaled: kill or stop the leader while it works, and check that the pods never overshoot, a cluster never
has two heads, and a process that gave up leadership wrote nothing after its successor's first write."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kuberay_py.runtime import KubeClient
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.faultproxy import FaultProxy
from kuberay_py.testing.observer import PodObserver
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.controllers.objects import create, kubectl, manifest, scale, wait_state
from tests.waiting import eventually

# Short leases so that a takeover after a SIGKILL takes seconds, not client-go's 15.
LEASE = ("--lease-duration", "3", "--renew-deadline", "2", "--retry-period", "0.5")


@dataclass
class Replica:
    """One operator process and the proxy that journals what it sends."""

    proxy: FaultProxy
    process: OperatorProcess

    def leads(self) -> bool:
        text = self.process.metrics() or ""
        return any(
            line.startswith("leader_election_master_status") and line.rstrip().endswith(" 1.0")
            for line in text.splitlines()
        )

    async def restart(self) -> None:
        await asyncio.to_thread(self.process.start, False)


@pytest.fixture
async def replicas(
    control_plane: ControlPlane, crd: None, namespace: str, tmp_path: Path
) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for index in range(2):
            proxy = FaultProxy.for_control_plane(control_plane, seed=index)
            await proxy.start()
            kubeconfig = proxy.write_kubeconfig(tmp_path / f"proxy-{index}.kubeconfig")
            args = ("--leader-elect", "--leader-election-namespace", namespace, *LEASE)
            process = OperatorProcess(kubeconfig, tmp_path / f"operator-{index}.log", extra_args=args)
            started.append(Replica(proxy, process))
            await asyncio.to_thread(process.start, False)
        yield started
    finally:
        for replica in started:
            await asyncio.to_thread(replica.process.stop)
            await replica.proxy.stop()


async def _leader(replicas: list[Replica]) -> Replica:
    async def find() -> Replica | None:
        leading = [r for r in replicas if await asyncio.to_thread(r.leads)]
        return leading[0] if len(leading) == 1 else None

    return await eventually(find, timeout=60, interval=0.2, what="exactly one leader")


async def test_sigkill_of_the_leader_twenty_times_during_a_scale_up(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, replicas: list[Replica]
) -> None:
    rng = random.Random(20261201)
    rounds, step = 20, 15
    async with PodObserver(kube, namespace) as observer:
        await create(
            control_plane,
            namespace,
            manifest("takeover", {"groupName": "g", "replicas": 0, "maxReplicas": 400}),
        )
        await wait_state(control_plane, namespace, "takeover")
        for round_ in range(1, rounds + 1):
            target = round_ * step
            await scale(control_plane, namespace, "takeover", target)
            leader = await _leader(replicas)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            await asyncio.to_thread(leader.process.kill)
            await leader.restart()
            observer.assert_no_overshoot("takeover", "g", target)
            observer.assert_single_head("takeover")
        total = rounds * step
        await eventually(
            lambda: len(observer.ready("takeover", "g")) == total, timeout=180, what=f"{total} ready"
        )
        await asyncio.sleep(2.0)
        observer.assert_no_overshoot("takeover", "g", total)
        observer.assert_single_head("takeover")
        assert len(observer.active("takeover", "g")) == total


async def test_sigterm_of_the_leader_under_a_backlog_hands_over_without_overlapping_writes(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, replicas: list[Replica]
) -> None:
    clusters = 1000
    leader = await _leader(replicas)
    standby = next(r for r in replicas if r is not leader)
    async with PodObserver(kube, namespace) as observer:
        names = [f"small-{i:04d}" for i in range(clusters)]
        documents = "\n---\n".join(json.dumps(manifest(n, {"groupName": "g", "replicas": 0})) for n in names)
        await kubectl(control_plane, "create", "-n", namespace, "-f", "-", input=documents)
        # Stop the leader while it is still working through the backlog.
        await eventually(lambda: len(observer.heads()) >= 50, timeout=120, what="the backlog to start")
        code = await asyncio.to_thread(leader.process.terminate)
        assert code == 0, leader.process.log_tail()
        await eventually(
            lambda: len(observer.heads()) >= clusters, timeout=300, what="a head for every cluster"
        )
        await asyncio.sleep(2.0)
        for name in names:
            observer.assert_single_head(name)
    assert standby.proxy.writes, "the standby never took over"
    assert leader.proxy.writes, "the leader wrote nothing before it stopped"
    successor_first = min(standby.proxy.writes)
    last_of_old = max(leader.proxy.writes)
    print(f"old leader's last write {successor_first - last_of_old:.2f}s before its successor's first")
    assert last_of_old < successor_first, "the old leader wrote after its successor began"
