"""Token authentication with real Ray: the dashboard's Jobs API refuses a request without the cluster's token
(and with a wrong one) and takes it with the token; a job that needs a worker the cluster does not have yet
gets one from the autoscaler sidecar, which must itself present the token to Ray."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from kuberay_py.testing.podaccess import PortForward
from tests.integration.realray.cluster import RayStack, is_head, sample

CLUSTER = "raycluster-token-auth"
RAY = str(Path(sys.executable).parent / "ray")


def status_of(url: str, token: str | None) -> int:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def test_the_jobs_api_needs_the_token_and_the_autoscaler_still_scales(stack: RayStack) -> None:
    namespace = stack.namespace()
    await stack.apply(namespace, sample("ray-cluster.token-auth.yaml"))
    await stack.wait_ready(namespace, CLUSTER, 1)
    secret = await stack.get("secret", "-n", namespace, CLUSTER)
    token = base64.b64decode(secret["data"]["auth_token"]).decode()

    head = await stack.head(namespace, CLUSTER)
    async with PortForward(f"{namespace}/{head['metadata']['name']}", 8265) as dashboard:
        address = f"http://127.0.0.1:{dashboard.local_port}"
        jobs = f"{address}/api/jobs/"
        assert await asyncio.to_thread(status_of, jobs, None) == 401
        assert await asyncio.to_thread(status_of, jobs, "0" * 64) == 403
        assert await asyncio.to_thread(status_of, jobs, token) == 200

        # The head has no CPUs and the group no workers: the job runs only once the autoscaler adds one.
        env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
        }
        command = [RAY, "job", "submit", "--address", address, "--entrypoint-num-cpus", "1", "--"]
        command += ["python", "-c", "import socket; print('RAN' + '_ON=' + socket.gethostname())"]
        submitted = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, env=env, timeout=420
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert "succeeded" in submitted.stdout

        refused_env = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
        refused = await asyncio.to_thread(
            subprocess.run, [RAY, "job", "list", "--address", address],
            capture_output=True, text=True, env=refused_env, timeout=120,
        )  # fmt: skip
        assert refused.returncode != 0 and "Missing authentication token" in refused.stdout + refused.stderr

    workers = [p for p in await stack.pods(namespace, CLUSTER) if not is_head(p)]
    # The marker is split in the command, so only the job's own output line matches.
    ran_on = re.search(r"^RAN_ON=(\S+)", submitted.stdout, re.MULTILINE)
    assert ran_on is not None, submitted.stdout
    assert ran_on[1] in {p["metadata"]["name"] for p in workers}, (ran_on[1], workers)
    cluster = await stack.cluster(namespace, CLUSTER)
    assert cluster["spec"]["workerGroupSpecs"][0]["replicas"] >= 1
