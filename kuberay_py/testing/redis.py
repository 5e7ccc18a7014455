"""A real Redis server for tests: Debian's redis-server (unpacked by :func:`ensure_redis`) on loopback.

It listens on 127.0.0.1 only, on a free port, behind a random password, and keeps nothing on disk (no RDB
snapshots, no append-only file); its working directory is a temporary one, removed by `stop()`. It dies
with the process that started it. `exec_prefix` runs it and redis-cli through a command such as
`nsenter -t PID -n --`, so that its loopback is that of another network namespace.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from kuberay_py.testing.binaries import ensure_redis
from kuberay_py.testing.controlplane import die_with_parent, free_port, log_tail

_HOST = "127.0.0.1"
_PING_INTERVAL = 0.05
_CLI_TIMEOUT = 30.0
# Another process may take the free port before Redis binds it; a new port is then tried.
_START_ATTEMPTS = 3


class RedisError(RuntimeError):
    """The server did not start, or redis-cli failed; the message points at the log."""


class RedisServer:
    """`with RedisServer() as redis: ...`, or `start()` and `stop()`."""

    def __init__(
        self,
        *,
        password: str | None = None,
        bin_dir: Path | None = None,
        log_path: Path | None = None,
        exec_prefix: Sequence[str] = (),
    ) -> None:
        self.bin_dir = bin_dir
        self.exec_prefix = list(exec_prefix)
        self._password = password if password is not None else secrets.token_hex(16)
        self._log_path = log_path
        self._port = 0
        self._dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        if not self._port:
            raise RedisError("the Redis server has not been started")
        return self._port

    @property
    def password(self) -> str:
        return self._password

    @property
    def host(self) -> str:
        return _HOST

    @property
    def address(self) -> str:
        return f"{_HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"redis://:{self._password}@{_HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self._log_path is not None:
            return self._log_path
        if self._dir is None:
            raise RedisError("the Redis server has not been started")
        return self._dir / "redis.log"

    def start(self, timeout: float = 30.0) -> None:
        if self.proc is not None:
            raise RedisError("the Redis server is already started")
        if self.bin_dir is None:
            self.bin_dir = ensure_redis()
        self._dir = Path(tempfile.mkdtemp(prefix="kuberay-py-redis-"))
        try:
            for attempt in range(_START_ATTEMPTS):
                self._spawn(free_port())
                if self._wait_ready(timeout):
                    return
                if attempt + 1 == _START_ATTEMPTS or "Address already in use" not in self.log_tail():
                    break
            raise RedisError(f"redis-server did not start; see {self.log_path}:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _spawn(self, port: int) -> None:
        assert self.bin_dir is not None and self._dir is not None
        self._port = port
        argv = [
            *self.exec_prefix,
            str(self.bin_dir / "redis-server"),
            "--bind", _HOST,
            "--port", str(port),
            "--requirepass", self._password,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )

    def _wait_ready(self, timeout: float) -> bool:
        """Whether it answers PING within `timeout`; False (its process reaped) if it exits first."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            with contextlib.suppress(RedisError, subprocess.TimeoutExpired):
                if self._run_cli(["PING"], auth=True, timeout=5.0) == "PONG":
                    return True
            time.sleep(_PING_INTERVAL)
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; then the temporary directory goes. Safe to call twice."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def cli(self, *args: str, auth: bool = True) -> str:
        """redis-cli's stdout for one command (trailing newlines dropped). An error reply is output too
        (redis-cli exits 0 on it), so callers check for it; `auth=False` sends no password."""
        return self._run_cli(list(args), auth=auth, timeout=_CLI_TIMEOUT)

    def keys(self, pattern: str = "*") -> list[str]:
        """The keys matching `pattern`, sorted; found by SCAN, so a large keyspace is not blocked on."""
        output = self._run_cli(["--scan", "--pattern", pattern], auth=True, timeout=_CLI_TIMEOUT)
        return sorted(line for line in output.splitlines() if line)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def _run_cli(self, args: list[str], *, auth: bool, timeout: float) -> str:
        if self.bin_dir is None or not self._port:
            raise RedisError("the Redis server has not been started")
        argv = [*self.exec_prefix, str(self.bin_dir / "redis-cli"), "-h", _HOST, "-p", str(self._port)]
        if auth:
            argv += ["-a", self._password, "--no-auth-warning"]
        proc = subprocess.run([*argv, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        # Values may be binary (Ray's are protobufs): undecodable bytes become U+FFFD rather than an error.
        stdout, stderr = (out.decode(errors="replace") for out in (proc.stdout, proc.stderr))
        if proc.returncode != 0:
            raise RedisError(f"redis-cli {' '.join(args)} exited with {proc.returncode}: {stderr.strip()}")
        return stdout.rstrip("\n")
