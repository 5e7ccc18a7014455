"""The job server stand-in: Ray's Jobs API shapes, scripted entrypoints, faults, and the submitter it plays
(against the in-memory API server, so no Kubernetes)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from kuberay_py.runtime.resources import PODS, SERVICES
from kuberay_py.testing.jobserver import (
    RAY_COMMIT,
    SKIP_ANNOTATION,
    JobServer,
    check_loopback,
    parse_entrypoint,
    parse_submitter,
    submitter_script,
)
from kuberay_py.testing.kubelet import FAIL_ANNOTATION, SUCCEED_ANNOTATION
from kuberay_py.testing.memory_client import InMemoryClient
from tests.waiting import eventually

ADDRESS = "127.0.0.1"


@pytest.fixture
async def server() -> AsyncIterator[JobServer]:
    async with JobServer(pending_seconds=0.02) as job_server:
        yield job_server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as response:
        text = await response.text()
        if response.content_type == "application/json":
            return response.status, json.loads(text)
        return response.status, text


async def until_status(server: JobServer, ip: str, submission_id: str, status: str) -> None:
    await eventually(
        lambda: (job := server.job(ip, submission_id)) is not None and job.status == status,
        timeout=5.0,
        interval=0.005,
    )


# -- the API -------------------------------------------------------------------------------------------------
async def test_version_and_health(server: JobServer, http: aiohttp.ClientSession) -> None:
    url = await server.serve_at(ADDRESS, 0)
    status, body = await call(http, "GET", url + "/api/version")
    assert status == 200
    assert body["version"] == "4" and body["ray_version"] == "2.60.0"
    assert set(body) == {"version", "ray_version", "ray_commit", "session_name"}
    assert body["session_name"].startswith("session_")
    assert await call(http, "GET", url + "/api/gcs_healthz") == (200, "success")


async def test_submit_get_list_logs_stop_delete(server: JobServer, http: aiohttp.ClientSession) -> None:
    url = await server.serve_at(ADDRESS, 0)
    request = {
        "entrypoint": "python my_script.py; hang",
        "submission_id": "job-1",
        "runtime_env": {"env_vars": {"A": "1"}},
        "metadata": {"owner": "me"},
        "entrypoint_num_cpus": 1,
        "entrypoint_resources": {"custom": 2},
    }
    assert await call(http, "POST", url + "/api/jobs/", request) == (
        200,
        {"job_id": "job-1", "submission_id": "job-1"},
    )
    status, pending = await call(http, "GET", url + "/api/jobs/job-1")
    assert status == 200
    assert list(pending) == [
        "type",
        "job_id",
        "submission_id",
        "driver_info",
        "status",
        "entrypoint",
        "message",
        "error_type",
        "start_time",
        "end_time",
        "metadata",
        "runtime_env",
        "driver_agent_http_address",
        "driver_node_id",
        "driver_exit_code",
    ]
    assert pending["type"] == "SUBMISSION" and pending["status"] == "PENDING"
    assert pending["job_id"] is None and pending["driver_info"] is None and pending["end_time"] is None
    assert pending["message"] == (
        "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, custom resources) to "
        "become available. It may be waiting for the runtime environment to be set up."
    )
    assert pending["metadata"] == {"owner": "me"} and pending["runtime_env"] == {"env_vars": {"A": "1"}}
    assert abs(pending["start_time"] - time.time() * 1000) < 5000
    assert await call(http, "GET", url + "/api/jobs/job-1/logs") == (200, {"logs": ""})

    await until_status(server, ADDRESS, "job-1", "RUNNING")
    _, running = await call(http, "GET", url + "/api/jobs/job-1")
    assert running["message"] == "Job is currently running."
    assert running["job_id"] == "02000000"
    assert running["driver_info"] == {"id": "02000000", "node_ip_address": ADDRESS, "pid": "1002"}
    assert running["driver_agent_http_address"] == f"http://{ADDRESS}:52365"
    # A job is found by its driver's Ray JobID too, as in Ray.
    assert (await call(http, "GET", url + "/api/jobs/02000000"))[1]["submission_id"] == "job-1"
    _, logs = await call(http, "GET", url + "/api/jobs/job-1/logs")
    assert logs["logs"].endswith(
        "Running entrypoint for job job-1: python my_script.py; hang\nran: python my_script.py\n"
    )
    assert "Runtime env is setting up." in logs["logs"].splitlines()[0]

    status, listed = await call(http, "GET", url + "/api/jobs/")
    assert status == 200 and [j["submission_id"] for j in listed] == ["job-1"]

    status, text = await call(http, "DELETE", url + "/api/jobs/job-1")
    assert (
        status == 500
        and "Attempted to delete job 'job-1', but it is in a non-terminal state RUNNING." in text
    )

    assert await call(http, "POST", url + "/api/jobs/job-1/stop") == (200, {"stopped": True})
    _, stopped = await call(http, "GET", url + "/api/jobs/job-1")
    assert stopped["status"] == "STOPPED" and stopped["message"] == "Job was intentionally stopped."
    assert stopped["end_time"] >= stopped["start_time"] and stopped["driver_exit_code"] is None
    assert await call(http, "POST", url + "/api/jobs/job-1/stop") == (200, {"stopped": False})

    assert await call(http, "DELETE", url + "/api/jobs/job-1") == (200, {"deleted": True})
    assert await call(http, "GET", url + "/api/jobs/job-1") == (404, "Job job-1 does not exist")


async def test_unknown_ids_and_bad_requests(server: JobServer, http: aiohttp.ClientSession) -> None:
    url = await server.serve_at(ADDRESS, 0)
    for method, path in (("GET", ""), ("POST", "/stop"), ("DELETE", ""), ("GET", "/logs")):
        assert await call(http, method, f"{url}/api/jobs/nope{path}") == (404, "Job nope does not exist")
    status, text = await call(http, "POST", url + "/api/jobs/", {"submission_id": "x"})
    assert status == 400 and "missing 1 required positional argument: 'entrypoint'" in text
    status, text = await call(http, "POST", url + "/api/jobs/", {"entrypoint": "x", "metadata": {"a": 1}})
    assert status == 400 and "metadata values must be strings" in text
    status, text = await call(http, "POST", url + "/api/jobs/", {"entrypoint": "x", "colour": "red"})
    assert status == 400 and "unexpected keyword argument 'colour'" in text


async def test_duplicate_submission_is_refused_as_ray_refuses_it(
    server: JobServer, http: aiohttp.ClientSession
) -> None:
    url = await server.serve_at(ADDRESS, 0)
    assert (await call(http, "POST", url + "/api/jobs/", {"entrypoint": "hang", "submission_id": "d"}))[
        0
    ] == 200
    status, text = await call(http, "POST", url + "/api/jobs/", {"entrypoint": "echo", "submission_id": "d"})
    assert status == 500
    assert "RuntimeError: Request failed with status code 400: " in text
    assert (
        "ValueError: Job with submission_id d already exists. Please use a different submission_id." in text
    )
    assert server.submissions("d") == 1 and server.refused("d") == 1
    assert server.submissions("d", ip=ADDRESS) == 1 and server.submissions("d", ip="127.0.0.9") == 0
    # Without an id, Ray makes one up.
    _, body = await call(http, "POST", url + "/api/jobs/", {"entrypoint": "hang"})
    assert body["submission_id"].startswith("raysubmit_") and len(body["submission_id"]) == 26


async def test_scripted_entrypoints(server: JobServer) -> None:
    await server.serve_at(ADDRESS, 0)
    assert (
        server.submit(ADDRESS, {"entrypoint": "echo one && sleep 0.1 && echo two", "submission_id": "ok"})[0]
        == 200
    )
    server.submit(ADDRESS, {"entrypoint": "echo boom; exit 3; echo never", "submission_id": "bad"})
    server.submit(ADDRESS, {"entrypoint": "hang", "submission_id": "hangs"})
    await until_status(server, ADDRESS, "bad", "FAILED")
    bad = server.job(ADDRESS, "bad")
    assert bad is not None and bad.driver_exit_code == 3 and bad.error_type == "JOB_ENTRYPOINT_COMMAND_ERROR"
    assert bad.message.startswith(
        "Job entrypoint command failed with exit code 3, last available logs (truncated to 20,000 chars):\n"
    )
    assert bad.message.endswith("boom\n") and bad.logs.endswith("boom\n")  # nothing after the exit
    ok = server.job(ADDRESS, "ok")
    assert ok is not None and ok.status == "RUNNING"  # still sleeping
    await until_status(server, ADDRESS, "ok", "SUCCEEDED")
    assert ok.message == "Job finished successfully." and ok.driver_exit_code == 0
    assert ok.logs.endswith("one\ntwo\n")
    hangs = server.job(ADDRESS, "hangs")
    assert hangs is not None and hangs.status == "RUNNING"
    assert server.finish(ADDRESS, "hangs", 0) and hangs.status == "SUCCEEDED"
    assert not server.finish(ADDRESS, "hangs", 1)
    assert [j.submission_id for j in server.jobs()] == ["ok", "bad", "hangs"]


def test_entrypoint_parsing() -> None:
    statements = parse_entrypoint("sleep 0.5; echo 'a; b' && python -c \"import ray; ray.init()\"\nexit 256")
    assert [(s.verb, s.text) for s in statements] == [
        ("sleep", "sleep 0.5"),
        ("echo", "a; b"),
        ("run", "python -c import ray; ray.init()"),
        ("exit", "exit 256"),
    ]
    assert statements[0].seconds == 0.5 and statements[-1].code == 0
    assert [s.verb for s in parse_entrypoint("sleep soon; exit x; hang")] == ["run", "run", "hang"]
    assert [(s.verb, s.code) for s in parse_entrypoint("echo 'unbalanced")][-1] == ("exit", 2)


async def test_delay_and_down(server: JobServer, http: aiohttp.ClientSession) -> None:
    url = await server.serve_at(ADDRESS, 0)
    server.submit(ADDRESS, {"entrypoint": "hang", "submission_id": "keeps"})
    server.set_delay(ADDRESS, 0.3)
    began = time.monotonic()
    assert (await call(http, "GET", url + "/api/version"))[0] == 200
    assert time.monotonic() - began >= 0.3
    # The request takes effect before its slow reply: a client that gives up has still submitted.
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            url + "/api/jobs/",
            json={"entrypoint": "hang", "submission_id": "late"},
            timeout=aiohttp.ClientTimeout(total=0.1),
        ):
            pass
    assert server.job(ADDRESS, "late") is not None
    server.set_delay(ADDRESS, 0)

    before = server.requests(ADDRESS)
    server.set_down(ADDRESS, True)
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, "GET", url + "/api/jobs/keeps")
    assert server.requests(ADDRESS) == before
    server.set_down(ADDRESS, False)
    status, body = await call(http, "GET", url + "/api/jobs/keeps")
    assert status == 200 and body["status"] == "RUNNING"  # the cluster went on without its dashboard
    assert server.request_counts(ADDRESS)["GET /api/jobs/{id}"] == 1
    assert server.requests(ADDRESS) == before + 1


async def test_a_dashboard_going_down_drops_its_open_connections(
    server: JobServer, http: aiohttp.ClientSession
) -> None:
    url = await server.serve_at(ADDRESS, 0)
    server.set_delay(ADDRESS, 5)
    reply = asyncio.ensure_future(call(http, "GET", url + "/api/version"))
    await eventually(lambda: server.requests(ADDRESS) == 1, timeout=5.0, interval=0.005)
    server.set_down(ADDRESS)
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(reply, 2)


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "192.168.1.2", "localhost", "::1", "::"])
async def test_refuses_to_listen_outside_loopback(server: JobServer, host: str) -> None:
    with pytest.raises(ValueError, match=r"loopback|127\.0\.0\.0/8"):
        await server.serve_at(host, 0)
    with pytest.raises(ValueError):
        check_loopback(host)
    check_loopback("127.16.0.1")


# -- the submitter's line ------------------------------------------------------------------------------------
KUBERAY_LINE = " ".join(
    [
        'until python3 -c "import urllib.request; urllib.request.urlopen(',
        "'http://rc-head-svc.ns.svc.cluster.local:8265/api/gcs_healthz', timeout=5)\" >/dev/null 2>&1 ;",
        'do echo "Waiting for Ray Dashboard GCS ..." ; sleep 2 ; done ;',
        "if ! ray job status --address http://{address} {id} >/dev/null 2>&1 ; then",
        "ray job submit --address http://{address} --no-wait",
        '--runtime-env-json "{{\\"pip\\":[\\"requests\\"]}}" --metadata-json "{{\\"owner\\":\\"me\\"}}"',
        '--submission-id {id} --entrypoint-num-cpus 1.000000 --entrypoint-resources "{{\\"custom\\":1}}"',
        "-- {entrypoint} ; fi ; ray job logs --address http://{address} --follow {id}",
    ]
)


def test_parses_kuberays_submitter_line() -> None:
    line = KUBERAY_LINE.format(address="10.1.2.3:8265", id="rj-abc", entrypoint="echo hi; exit 0")
    command = parse_submitter(line)
    assert command is not None
    assert command.waits_for_dashboard and command.checks_status and command.submits and command.follows
    assert command.no_wait and command.blocks and command.submission_id == "rj-abc"
    assert command.entrypoint == "echo hi; exit 0"
    assert command.request == {
        "entrypoint": "echo hi; exit 0",
        "runtime_env": {
            "pip": {"packages": ["requests"], "pip_check": False},
            "_ray_commit": RAY_COMMIT,
        },
        "metadata": {"owner": "me"},
        "entrypoint_num_cpus": 1.0,
        "entrypoint_resources": {"custom": 1},
    }
    bare = parse_submitter("ray job submit --address=http://a:1 --submission-id x -- python run.py")
    assert (
        bare is not None and not bare.checks_status and not bare.no_wait and not bare.follows and bare.blocks
    )
    assert (
        bare.entrypoint == "python run.py"
        and bare.request["runtime_env"] == {}
        and bare.request["metadata"] == {}
    )
    assert parse_submitter("echo nothing to do") is None
    container = {"command": ["/bin/bash", "-ce", "--"], "args": [line]}
    assert submitter_script(container) == line
    assert submitter_script({"command": ["ray", "job", "logs", "-f", "x"]}) == "ray job logs -f x"


# -- the submitter it plays, on the in-memory API server -----------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((ADDRESS, 0))
        return int(sock.getsockname()[1])


def random_ip() -> str:
    return f"127.{random.randint(17, 31)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def add_head(
    client: InMemoryClient, name: str, ip: str, port: int, **annotations: str
) -> dict[str, Any]:
    pod = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {"ray.io/node-type": "head", "ray.io/cluster": "rc"},
            "annotations": annotations,
        },
        "spec": {
            "containers": [{"name": "ray-head", "ports": [{"name": "dashboard", "containerPort": port}]}]
        },
    }
    await client.create(PODS, pod)
    status = {"phase": "Running", "podIP": ip, "containerStatuses": [_running("ray-head")]}
    return await client.patch_status(PODS, name, {"status": status}, "ns")


def _running(name: str, restarts: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "restartCount": restarts,
        "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}},
    }


async def add_submitter(
    client: InMemoryClient, name: str, address: str, submission_id: str, line: str, **annotations: str
) -> None:
    env = [
        {"name": "RAY_DASHBOARD_ADDRESS", "value": address},
        {"name": "RAY_JOB_SUBMISSION_ID", "value": submission_id},
    ]
    pod = {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {"batch.kubernetes.io/job-name": name.rsplit("-", 1)[0]},
            "annotations": annotations,
        },
        "spec": {
            "containers": [
                {"name": "ray-job-submitter", "command": ["/bin/sh", "-c"], "args": [line], "env": env}
            ]
        },
    }
    await client.create(PODS, pod)
    await client.patch_status(PODS, name, {"status": {"phase": "Running"}}, "ns")


async def annotations_of(client: InMemoryClient, name: str) -> dict[str, str]:
    return dict((await client.get(PODS, name, "ns"))["metadata"].get("annotations") or {})


@dataclass
class Kube:
    server: JobServer
    client: InMemoryClient


@pytest.fixture
async def kube() -> AsyncIterator[Kube]:
    client = InMemoryClient()
    # Rounds are driven by the test (poll_once), never by the timer.
    async with JobServer(client=client, pending_seconds=0.02, poll_interval=3600) as job_server:
        yield Kube(job_server, client)


async def test_plays_kuberays_submitter(kube: Kube, http: aiohttp.ClientSession) -> None:
    server, client = kube.server, kube.client
    ip, port = random_ip(), free_port()
    await add_head(client, "rc-head", ip, port)
    address = f"{ip}:{port}"
    line = KUBERAY_LINE.format(address=address, id="rj", entrypoint="echo hi; exit 1")
    await add_submitter(client, "rj-1", address, "rj", line)
    await server.poll_once()
    assert server.heads() == [ip] and server.submissions("rj") == 1
    job = server.job(ip, "rj")
    assert job is not None and job.entrypoint == "echo hi; exit 1" and job.entrypoint_num_cpus == 1.0
    assert job.metadata == {"owner": "me"} and job.entrypoint_resources == {"custom": 1}
    # The operator sees it over HTTP at the head's IP.
    status, body = await call(http, "GET", f"http://{address}/api/jobs/rj")
    assert status == 200 and body["submission_id"] == "rj"

    await until_status(server, ip, "rj", "FAILED")
    await server.poll_once()
    # `ray job logs --follow` exits 0 for a failed job.
    assert (await annotations_of(client, "rj-1")).get(SUCCEED_ANNOTATION) == "true"

    # A retried submitter pod checks the status first and does not submit again.
    await add_submitter(client, "rj-2", address, "rj", line)
    await server.poll_once()
    assert server.submissions("rj") == 1 and server.refused("rj") == 0
    assert (await annotations_of(client, "rj-2")).get(SUCCEED_ANNOTATION) == "true"

    # Without the status check, `ray job submit` is refused and the pod fails.
    bare = f"ray job submit --address http://{address} --no-wait --submission-id rj -- echo again"
    await add_submitter(client, "rj-3", address, "rj", bare)
    await server.poll_once()
    assert server.refused("rj") == 1
    assert "already exists" in (await annotations_of(client, "rj-3"))[FAIL_ANNOTATION]


async def test_submitter_outcomes(kube: Kube) -> None:
    server, client = kube.server, kube.client
    ip, port = random_ip(), free_port()
    await add_head(client, "rc-head", ip, port)
    address = f"{ip}:{port}"
    await add_submitter(
        client, "skip-1", address, "skip", "ray job submit --no-wait -- hang", **{SKIP_ANNOTATION: "true"}
    )
    await add_submitter(
        client, "wait-1", address, "wait", f"ray job submit --address http://{address} -- exit 4"
    )
    await server.poll_once()
    assert server.job(ip, "skip") is None and SUCCEED_ANNOTATION not in await annotations_of(client, "skip-1")
    await until_status(server, ip, "wait", "FAILED")
    await server.poll_once()
    # A waiting `ray job submit` exits 1 for a failed job.
    assert "Job 'wait' failed" in (await annotations_of(client, "wait-1"))[FAIL_ANNOTATION]

    server.set_down(ip)
    await add_submitter(client, "down-1", address, "down", "ray job submit --no-wait -- hang")
    waits = KUBERAY_LINE.format(address=address, id="patient", entrypoint="hang")
    await add_submitter(client, "patient-1", address, "patient", waits)
    await server.poll_once()
    failure = (await annotations_of(client, "down-1"))[FAIL_ANNOTATION]
    assert failure == f"ConnectionError: Failed to connect to Ray at address: http://{address}."
    assert await annotations_of(client, "patient-1") == {}  # its line waits for the dashboard
    server.set_down(ip, False)
    await server.poll_once()
    assert server.submissions("patient") == 1
    # A follower whose dashboard dies fails, as the broken log stream and the status call after it would.
    server.set_down(ip)
    await server.poll_once()
    assert "Failed to connect" in (await annotations_of(client, "patient-1"))[FAIL_ANNOTATION]


async def test_a_service_address_and_a_new_head(kube: Kube) -> None:
    server, client = kube.server, kube.client
    ip, port = random_ip(), free_port()
    await add_head(client, "rc-head", ip, port)
    service = {
        "metadata": {"name": "rc-head-svc", "namespace": "ns"},
        "spec": {
            "selector": {"ray.io/cluster": "rc", "ray.io/node-type": "head"},
            "ports": [{"name": "dashboard", "port": 8265, "targetPort": "dashboard"}],
        },
    }
    await client.create(SERVICES, service)
    line = KUBERAY_LINE.format(address="rc-head-svc.ns.svc.cluster.local:8265", id="svc", entrypoint="hang")
    await add_submitter(client, "svc-1", "rc-head-svc.ns.svc.cluster.local:8265", "svc", line)
    await server.poll_once()
    assert server.job(ip, "svc") is not None

    # The head comes back at another IP: a new, empty Ray cluster; the follower's stream broke.
    new_ip = random_ip()
    status = {"phase": "Running", "podIP": new_ip, "containerStatuses": [_running("ray-head")]}
    await client.patch_status(PODS, "rc-head", {"status": status}, "ns")
    await server.poll_once()
    assert server.heads() == [new_ip] and server.job(ip, "svc") is None and server.jobs() == []
    assert FAIL_ANNOTATION in await annotations_of(client, "svc-1")

    # A restart of the Ray container loses the jobs too, unless GCS fault tolerance keeps them.
    server.submit(new_ip, {"entrypoint": "hang", "submission_id": "r"})
    status["containerStatuses"] = [_running("ray-head", restarts=1)]
    await client.patch_status(PODS, "rc-head", {"status": status}, "ns")
    await server.poll_once()
    assert server.job(new_ip, "r") is None
