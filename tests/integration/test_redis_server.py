"""The test Redis server, and Ray's own GCS storage in it: what a head node writes for its storage namespace,
and what Ray's cleanup (the function KubeRay's Redis cleanup Job calls) deletes.

Ray runs in a network namespace of its own with only loopback up, Redis beside it: on the host, Ray's gRPC
servers listen on every interface whatever `--node-ip-address` says. It is stopped by killing what is in that
namespace, never by `ray stop`, which ends every Ray process on the machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberay_py.testing.controlplane import die_with_parent
from kuberay_py.testing.redis import RedisServer
from tests.integration.processes import process_state
from tests.waiting import blocking, eventually

RAY = str(Path(sys.executable).parent / "ray")
# Ray's default GCS port; free in a network namespace nothing else uses.
GCS_PORT = 6379
NAMESPACE = "ns1"
# Not a prefix of NAMESPACE's keys, though NAMESPACE is a prefix of it: Ray's keys end the namespace with "@".
OTHER = "ns10"

CLEANUP = """
import sys
from ray._private.gcs_utils import cleanup_redis_storage
print(cleanup_redis_storage(host="127.0.0.1", port=int(sys.argv[1]), password=sys.argv[2], use_ssl=False,
                            storage_namespace=sys.argv[3]))
"""

ONE_TASK = f"""
import ray
ray.init(address="127.0.0.1:{GCS_PORT}", logging_level="ERROR", log_to_driver=False)
print(ray.get(ray.remote(lambda: "done").remote()))
"""


def test_a_command_needs_the_password() -> None:
    with RedisServer() as redis:
        assert redis.cli("PING", auth=False).startswith("NOAUTH")
        assert redis.cli("PING") == "PONG"
        assert redis.cli("CONFIG", "GET", "bind").splitlines() == ["bind", "127.0.0.1"]
        assert redis.cli("SET", "a:1", "one") == "OK"
        assert redis.cli("GET", "a:1") == "one"
        assert redis.keys() == ["a:1"]
        assert redis.url == f"redis://:{redis.password}@127.0.0.1:{redis.port}"
        assert redis.address == f"127.0.0.1:{redis.port}"
        assert redis.proc is not None
        pid = redis.proc.pid
        work_dir = redis.log_path.parent
    assert not work_dir.exists()
    assert not _is_running(pid)


def test_it_dies_with_the_process_that_started_it() -> None:
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from kuberay_py.testing.redis import RedisServer\n"
            "import time\nr = RedisServer()\nr.start()\nprint(r.proc.pid, r.log_path.parent, flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )
    try:
        assert starter.stdout is not None
        pid_text, _, work_dir = starter.stdout.readline().strip().partition(" ")
        pid = int(pid_text)
        assert _is_running(pid)
    finally:
        starter.kill()
        starter.wait()
    try:
        blocking(
            eventually(
                lambda: not _is_running(pid),
                timeout=10,
                interval=0.1,
                what="redis-server to die with its starter",
            )
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def test_rays_cleanup_deletes_its_namespace_and_nothing_else() -> None:
    assert os.geteuid() == 0, "Ray runs in a network namespace of its own here, which needs root"
    with _network_namespace() as (holder, prefix), RedisServer(exec_prefix=prefix) as redis:
        _run_a_head(redis, prefix, holder)
        written = redis.keys()
        ours = [key for key in written if key.startswith(f"RAY{NAMESPACE}@")]
        assert ours == written, "a Ray head writes only keys named RAY<namespace>@<table>"
        for table in ("KV", "NODE", "JOB", "JobCounter"):
            assert f"RAY{NAMESPACE}@{table}" in ours, ours
        assert redis.cli("TYPE", f"RAY{NAMESPACE}@NODE") == "hash"
        assert redis.cli("TYPE", f"RAY{NAMESPACE}@JobCounter") == "string"

        assert redis.cli("HSET", f"RAY{OTHER}@KV", "k", "v") == "1"
        assert redis.cli("SET", f"RAY{OTHER}@JobCounter", "3") == "OK"
        assert redis.cli("SET", "unrelated", "x") == "OK"
        kept = sorted([f"RAY{OTHER}@KV", f"RAY{OTHER}@JobCounter", "unrelated"])

        cleanup = subprocess.run(
            [*prefix, sys.executable, "-c", CLEANUP, str(redis.port), redis.password, NAMESPACE],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cleanup.returncode == 0, cleanup.stderr
        assert cleanup.stdout.strip() == "True", cleanup.stdout + cleanup.stderr
        assert redis.keys() == kept
        assert redis.cli("HGET", f"RAY{OTHER}@KV", "k") == "v"


def _run_a_head(redis: RedisServer, prefix: list[str], holder: int) -> None:
    """A Ray head with its GCS in `redis` under NAMESPACE, one task run on it, then the head stopped."""
    temp_dir = tempfile.mkdtemp(prefix="krr-")  # short: Ray's Unix socket paths live under it
    env = {
        **os.environ,
        # As KubeRay sets them for a RayCluster with gcsFaultToleranceOptions.
        "RAY_REDIS_ADDRESS": redis.address,
        "REDIS_PASSWORD": redis.password,
        "RAY_external_storage_namespace": NAMESPACE,
        "RAY_USAGE_STATS_ENABLED": "0",
        # SIGTERM stops the head at once instead of draining it first.
        "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
    }
    argv = [
        *prefix, RAY, "start", "--head", "--block", f"--port={GCS_PORT}", "--node-ip-address=127.0.0.1",
        "--include-dashboard=false", "--num-cpus=1", f"--redis-password={redis.password}",
        f"--temp-dir={temp_dir}", "--disable-usage-stats",
    ]  # fmt: skip
    log_path = Path(temp_dir) / "ray-start.log"
    with open(log_path, "wb") as log:
        head = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
    try:
        blocking(
            eventually(
                lambda: {f"RAY{NAMESPACE}@KV", f"RAY{NAMESPACE}@NODE"} <= set(redis.keys()),
                timeout=120,
                interval=0.5,
                what=f"the head's GCS to write to Redis (see {log_path})",
            )
        )
        task = subprocess.run(
            [*prefix, sys.executable, "-c", ONE_TASK], env=env, capture_output=True, text=True
        )
        assert task.stdout.strip().splitlines()[-1:] == ["done"], task.stdout + task.stderr
    finally:
        head.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(30)
        assert redis.proc is not None
        _kill_namespace(holder, keep={holder, redis.proc.pid})
        head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@contextlib.contextmanager
def _network_namespace() -> Iterator[tuple[int, list[str]]]:
    """A new network namespace with loopback up, held by a sleeping process: its PID and the command prefix
    that runs a program in it. Everything left in it is killed on exit."""
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"], preexec_fn=die_with_parent)
    try:
        mine = os.readlink("/proc/self/ns/net")
        blocking(
            eventually(
                lambda: _netns(holder.pid) not in (None, mine), timeout=10, interval=0.01, what="unshare"
            )
        )
        prefix = ["nsenter", "-t", str(holder.pid), "-n", "--"]
        subprocess.run([*prefix, "ip", "link", "set", "lo", "up"], check=True, timeout=30)
        yield holder.pid, prefix
    finally:
        _kill_namespace(holder.pid, keep={holder.pid})
        holder.kill()
        holder.wait()


def _kill_namespace(holder: int, keep: set[int]) -> None:
    """SIGKILL every process in `holder`'s network namespace but those in `keep`, and wait until they are
    gone: only this test's processes are there."""
    netns = _netns(holder)
    if netns is None:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = [pid for pid in _pids() if pid not in keep and _netns(pid) == netns and not _is_zombie(pid)]
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    pytest.fail(f"processes left in the test's network namespace: {left}")


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _netns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def _is_zombie(pid: int) -> bool:
    return process_state(pid) == "Z"


def _is_running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and not _is_zombie(pid)
