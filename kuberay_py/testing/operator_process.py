"""The operator as its own process, for integration tests, the demo and benchmarks.

Running it out of process is what makes crash tests honest: SIGKILL leaves no chance to clean up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from kuberay_py.testing.controlplane import die_with_parent, log_tail


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OperatorProcess:
    """`python -m kuberay_py operator` with its own metrics and health ports on loopback."""

    name = "kuberay-py"

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        *,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.env = env
        self.metrics_port = _free_port()
        self.health_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kuberay_py",
            "operator",
            f"--kubeconfig={self.kubeconfig}",
            f"--metrics-addr=127.0.0.1:{self.metrics_port}",
            f"--health-addr=127.0.0.1:{self.health_port}",
            "--log-format=json",
            *self.extra_args,
        ]

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> None:
        log_file: IO[bytes] = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})},
            preexec_fn=die_with_parent,
        )
        log_file.close()
        if wait_ready:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.get("/readyz", self.health_port) == "ok":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def get(self, path: str, port: int | None = None) -> str | None:
        url = f"http://127.0.0.1:{port or self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body.decode()
        except OSError:
            return None

    def metrics(self) -> str:
        return self.get("/metrics") or ""

    def kill(self) -> None:
        """SIGKILL: the crash the operator must survive without losing or duplicating anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def terminate(self, timeout: float = 45.0) -> int | None:
        """SIGTERM and wait up to `timeout`: the exit code, or None if it is still shutting down. As for
        `stop`, the default outlasts the operator's bound on a graceful shutdown: a drain that takes all of
        its time is slow, not stuck."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        return self.proc.returncode

    def stop(self, timeout: float = 45.0) -> int | None:
        """SIGTERM and wait (then SIGKILL); returns the exit code. The default outlasts the operator's own
        bound on a graceful shutdown (its drain, then its last Events), so a slow drain is not a kill."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def log_records(self) -> list[dict[str, object]]:
        records = []
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))
        return records


class KubeRayProcess(OperatorProcess):
    """KubeRay's own operator (built from its Go module), the reference tests and benchmarks compare
    against: the same ports on loopback, no leader election, its own metrics on. Its three CRDs must be
    installed first (`KubeRay.crds`)."""

    name = "kuberay"

    def __init__(
        self,
        binary: Path,
        kubeconfig: Path,
        log_path: Path,
        *,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(kubeconfig, log_path, extra_args=extra_args, env=env)
        self.binary = binary

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            "--enable-leader-election=false",
            f"--metrics-addr=127.0.0.1:{self.metrics_port}",
            f"--health-probe-bind-address=127.0.0.1:{self.health_port}",
            "--enable-metrics",
            "--log-stdout-encoder=json",
            *self.extra_args,
        ]
