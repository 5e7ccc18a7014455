"""Two managers in separate processes share a Lease: one reconciles; SIGKILL hands over; SIGTERM releases."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberay_py.runtime import CONFIG_MAPS, LEASES, NAMESPACES, KubeClient, NotFound
from kuberay_py.runtime.objects import parse_time
from kuberay_py.testing.controlplane import ControlPlane, free_port
from tests.integration.runtime.example_controller import CONFIG_MAP_NAME, GROUP_LABEL
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[3]
LEASE_DURATION = 15.0  # the manager's defaults: 15 s lease, 10 s renew deadline, 2 s retry period
RETRY_PERIOD = 2.0


class ManagerProcess:
    def __init__(
        self, plane: ControlPlane, group: str, lease_namespace: str, identity: str, log: Path
    ) -> None:
        self.identity = identity
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "tests.integration.runtime.example_manager",
                "--kubeconfig", str(plane.kubeconfig), "--group", group, "--lease-namespace", lease_namespace,
                "--identity", identity, "--metrics-port", str(self.metrics_port),
                "--health-port", str(self.health_port),
            ],
            cwd=REPO,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip

    def get(self, port: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def metric(self, line_prefix: str) -> float | None:
        _, text = self.get(self.metrics_port, "/metrics")
        for line in text.splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def ready(self) -> bool:
        return self.get(self.health_port, "/readyz")[0] == 200

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


@pytest.fixture
def spawn(control_plane: ControlPlane, tmp_path: Path) -> Iterator:
    started: list[ManagerProcess] = []

    def start(group: str, lease_namespace: str, identity: str) -> ManagerProcess:
        proc = ManagerProcess(control_plane, group, lease_namespace, identity, tmp_path / f"{identity}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


async def holder(kube: KubeClient, name: str, namespace: str) -> str:
    try:
        lease = await kube.get(LEASES, name, namespace)
    except NotFound:
        return ""
    return str(lease["spec"].get("holderIdentity") or "")


async def reconciled_by(kube: KubeClient, namespace: str) -> str:
    try:
        config_map = await kube.get(CONFIG_MAPS, CONFIG_MAP_NAME, namespace)
    except NotFound:
        return ""
    return str(config_map["data"].get("reconciledBy", ""))


async def test_only_the_leader_reconciles_and_sigkill_hands_over_within_the_lease_duration(
    kube: KubeClient, namespace: str, spawn
):
    group = uuid.uuid4().hex[:8]
    lease_name = f"example-{group}"
    watched = f"{namespace}-w"
    await kube.create(NAMESPACES, {"metadata": {"name": watched, "labels": {GROUP_LABEL: group}}})
    try:
        first = spawn(group, namespace, "first")
        await eventually(lambda: holder(kube, lease_name, namespace), timeout=60, interval=0.1)
        assert await holder(kube, lease_name, namespace) == "first"
        await eventually(lambda: reconciled_by(kube, watched), timeout=60, interval=0.1)
        assert await reconciled_by(kube, watched) == "first"

        second = spawn(group, namespace, "second")
        await eventually(second.ready, timeout=60, interval=0.1)
        await asyncio.sleep(2 * RETRY_PERIOD)  # the standby keeps trying, and keeps failing
        assert await holder(kube, lease_name, namespace) == "first"
        assert first.metric(f'leader_election_master_status{{name="{lease_name}"}}') == 1
        assert second.metric(f'leader_election_master_status{{name="{lease_name}"}}') == 0
        reconciled = 'controller_runtime_reconcile_total{controller="namespace-info",result="success"}'
        assert (first.metric(reconciled) or 0) >= 1
        assert second.metric(reconciled) is None, "the standby has not reconciled anything"

        first.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.process.wait()
        last_renewal = parse_time((await kube.get(LEASES, lease_name, namespace))["spec"]["renewTime"])
        await eventually(
            lambda: _is(holder(kube, lease_name, namespace), "second"), timeout=60, interval=0.05
        )
        handover = time.monotonic() - killed_at
        taken_at = parse_time((await kube.get(LEASES, lease_name, namespace))["spec"]["acquireTime"])
        # The standby measures expiry on its own clock from when it saw the last renewal, which its polling
        # sees up to one (jittered) retry period late; it takes the lease at its first retry after that
        # lease_duration, another retry period at most. Never sooner than lease_duration.
        unheld = (taken_at - last_renewal).total_seconds()
        latest = LEASE_DURATION + 2 * RETRY_PERIOD * 1.2
        assert LEASE_DURATION <= unheld <= latest + 0.5, f"lease unheld {unheld:.1f} s"
        assert handover <= latest + 1.0, f"handover took {handover:.1f} s"

        await eventually(lambda: _is(reconciled_by(kube, watched), "second"), timeout=30, interval=0.1)
        assert (second.metric(reconciled) or 0) >= 1
        assert second.metric(f'leader_election_master_status{{name="{lease_name}"}}') == 1

        second.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(second.process.wait, 30) == 0, second.log.read_text()[-3000:]
        assert await holder(kube, lease_name, namespace) == "", "a clean shutdown releases the lease"
        print(f"handover after SIGKILL: {handover:.1f} s; lease unheld for {unheld:.1f} s")  # with pytest -s
    finally:
        with contextlib.suppress(NotFound):
            await kube.delete(NAMESPACES, watched)


async def _is(value, expected: str) -> bool:
    return await value == expected
