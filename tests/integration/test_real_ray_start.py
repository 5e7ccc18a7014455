"""The `ray start` commands the builders generate, run with the real Ray (the `ray` package) on loopback.

A pod has its own network namespace and cluster DNS; one test machine has neither, so exactly these things are
substituted and nothing else: the head Service's DNS name becomes a loopback address, the dashboard binds to
it instead of 0.0.0.0, each node is told to use it as its IP (127.0.0.2: Ray swaps the literal 127.0.0.1 for
the machine's routable address, and this test must stay on loopback), and the worker's two fixed ports
(dashboard agent, metrics), which would clash with the head's on a shared machine, move to free ones.
The test then asks Ray itself what it sees, and stops everything with the preStop hook's own command.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from kuberay_py.api import RayCluster
from kuberay_py.builders import BuildOptions, build_head_pod, build_worker_pod, head_service_host
from tests.waiting import blocking, eventually

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "samples" / "ray-cluster.heterogeneous.yaml"
RAY = str(Path(sys.executable).parent / "ray")
NODE_IP = "127.0.0.2"

STATUS_SCRIPT = f"""
import json, ray
ray.init(address="{NODE_IP}:6379", _node_ip_address="{NODE_IP}", logging_level="ERROR", log_to_driver=False)
nodes = [n for n in ray.nodes() if n["Alive"]]
print(json.dumps({{"nodes": [n["NodeManagerAddress"] for n in nodes], "resources": ray.cluster_resources()}}))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((NODE_IP, 0))
        port: int = sock.getsockname()[1]
        return port


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """The container's literal env values."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def generated_command(container: dict[str, Any]) -> list[str]:
    return shlex.split(env_of(container)["KUBERAY_GEN_RAY_START_CMD"])


def replace_flag(args: list[str], flag: str, value: str) -> list[str]:
    assert any(a.startswith(f"{flag}=") for a in args), f"{flag} missing from {args}"
    return [f"{flag}={value}" if a.startswith(f"{flag}=") else a for a in args]


@pytest.fixture
def ray_env() -> Iterator[dict[str, str]]:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    yield env
    subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_generated_ray_start_commands_form_a_real_ray_cluster(
    ray_env: dict[str, str], tmp_path: Path
) -> None:
    manifest = next(d for d in yaml.safe_load_all(SAMPLE.read_text()) if d and d["kind"] == "RayCluster")
    cluster = RayCluster.from_manifest(manifest)
    head_container = build_head_pod(cluster)["spec"]["containers"][0]
    group = cluster.spec.worker_groups()[0]
    worker_container = build_worker_pod(cluster, group)["spec"]["containers"][0]

    head_args = generated_command(head_container)
    assert head_args[:3] == ["ray", "start", "--head"] and "--block" in head_args
    head_args = replace_flag(head_args, "--dashboard-host", NODE_IP)
    head_args = [RAY, *head_args[1:], f"--node-ip-address={NODE_IP}"]

    worker_args = generated_command(worker_container)
    assert f"--address={head_service_host(cluster, BuildOptions())}:6379" in worker_args
    worker_args = replace_flag(worker_args, "--address", f"{NODE_IP}:6379")
    worker_args = replace_flag(worker_args, "--dashboard-agent-listen-port", str(free_port()))
    worker_args = replace_flag(worker_args, "--metrics-export-port", str(free_port()))
    worker_args = [RAY, *worker_args[1:], f"--node-ip-address={NODE_IP}"]

    head_env = {
        **ray_env,
        **env_of(head_container),
        "RAY_CLOUD_INSTANCE_ID": "head",
        "RAY_NODE_TYPE_NAME": "headgroup",
    }
    worker_env = {
        **ray_env,
        **env_of(worker_container),
        "RAY_ADDRESS": f"{NODE_IP}:6379",
        "RAY_CLOUD_INSTANCE_ID": "worker",
        "RAY_NODE_TYPE_NAME": group.group_name,
    }
    logs: list[IO[bytes]] = [(tmp_path / "head.log").open("wb"), (tmp_path / "worker.log").open("wb")]
    head = subprocess.Popen(head_args, env=head_env, stdout=logs[0], stderr=subprocess.STDOUT)
    worker: subprocess.Popen[bytes] | None = None

    def status() -> dict[str, Any] | None:
        proc = subprocess.run(
            [sys.executable, "-c", STATUS_SCRIPT], env=ray_env, capture_output=True, text=True, timeout=60
        )
        return (
            json.loads(proc.stdout.strip().splitlines()[-1])
            if proc.returncode == 0 and proc.stdout.strip()
            else None
        )

    try:
        assert blocking(
            eventually(
                status, timeout=90, interval=1, what=f"the head to answer (log: {tmp_path / 'head.log'})"
            )
        )
        worker = subprocess.Popen(worker_args, env=worker_env, stdout=logs[1], stderr=subprocess.STDOUT)
        seen = blocking(
            eventually(
                lambda: s if (s := status()) and len(s["nodes"]) == 2 else None,
                timeout=90,
                interval=1,
                what="2 nodes",
            )
        )
        assert set(seen["nodes"]) == {NODE_IP}
        # The resources Ray registered are the ones the builders derived from the pod templates.
        assert seen["resources"]["CPU"] == 1 + 1
        assert seen["resources"]["memory"] == 2 * 1024**3 + 1 * 1024**3
        assert head.poll() is None and worker.poll() is None, "ray start --block exited early"
    finally:
        # Stop the way a pod does: the injected preStop hook's command.
        hook = head_container["lifecycle"]["preStop"]["exec"]["command"]
        assert hook[-1] == "ray stop"
        subprocess.run([*hook[:-1], f"{RAY} stop"], env=ray_env, capture_output=True, timeout=120)
        # Then, as a kubelet does after the hook, SIGTERM to the container's main process.
        for proc in (head, worker):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for log in logs:
            log.close()
    assert head.returncode is not None and worker is not None and worker.returncode is not None
