"""The real-Ray part of `kuberay-py demo --ray`: the dashboard on the host, a job, the autoscaler's decisions.

The pods run as real processes under the process kubelet; the head's dashboard port is forwarded to the
host's loopback, and `ray job submit` (the one installed beside this package) sends it a job that needs more
workers than the cluster has, so the autoscaler sidecar scales the cluster up, and later down again.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

SAMPLE = Path(__file__).resolve().parents[1] / "config" / "samples" / "ray-cluster.autoscaler.yaml"
DASHBOARD_PORT = 8265
RAY = str(Path(sys.executable).parent / "ray")
JOB_TIMEOUT = 600.0

# Three one-CPU tasks at once: more than the one worker of the autoscaler sample holds.
JOB = """
import collections, socket, time, ray
ray.init()

@ray.remote(num_cpus=1)
def where():
    time.sleep(20)
    return socket.gethostname()

hosts = collections.Counter(ray.get([where.remote() for _ in range(3)]))
for host, tasks in sorted(hosts.items()):
    print(f"{host}: {tasks} task(s)")
print(f"{len(hosts)} worker(s) ran the job's tasks")
"""


def job_command(address: str, script: str = JOB) -> list[str]:
    return [RAY, "job", "submit", "--address", address, "--", "python", "-c", script]


def scale_lines(old: Obj | None, new: Obj) -> list[str]:
    """What the autoscaler (or anyone) changed in the worker groups' scale fields, one line each."""

    def scale(cluster: Obj | None) -> dict[str, tuple[int, tuple[str, ...]]]:
        groups = ((cluster or {}).get("spec") or {}).get("workerGroupSpecs") or []
        return {
            str(g.get("groupName")): (
                int(g.get("replicas") or 0),
                tuple((g.get("scaleStrategy") or {}).get("workersToDelete") or ()),
            )
            for g in groups
        }

    before, after = scale(old), scale(new)
    lines = []
    for group, (replicas, to_delete) in after.items():
        if group not in before:
            continue
        old_replicas, old_delete = before[group]
        if replicas != old_replicas:
            verb = "up" if replicas > old_replicas else "down"
            lines.append(f"scale {verb}: {group} replicas {old_replicas} -> {replicas}")
        if to_delete != old_delete and to_delete:
            lines.append(f"scale down: {group} workersToDelete {', '.join(to_delete)}")
    return lines


async def submit_job(address: str, say: Callable[[str], None]) -> int:
    """`ray job submit` to `address`, its output printed as it comes; returns its exit status."""
    process = await asyncio.create_subprocess_exec(
        *job_command(address),
        env={"RAY_USAGE_STATS_ENABLED": "0", "PATH": f"{Path(RAY).parent}:/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(JOB_TIMEOUT):
            async for line in process.stdout:
                say(f"  job| {line.decode(errors='replace').rstrip()}")
            return await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
        say(f"  job| no result after {JOB_TIMEOUT:.0f}s")
        return 1


def how_to_submit(address: str) -> str:
    script = "import ray; ray.init(); print(ray.cluster_resources())"
    return shlex.join([RAY, "job", "submit", "--address", address, "--", "python", "-c", script])
