"""`kuberay-py demo` as a user runs it: a process of its own that comes up, shows a ready cluster and what to
try, does what it says, and leaves no process and no file behind when interrupted."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kuberay_py.testing.binaries import find_kubectl

STARTUP_TIMEOUT = 300.0


class Demo:
    """The demo process, its output collected line by line as it comes."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        clean = {k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith("KUBERAY_PY_")}
        env = {**clean, **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kuberay_py", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_line(self, match: Callable[[str], bool], timeout: float = 60.0, start: int = 0) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((line for line in self.lines[start:] if match(line)), None)
                if found is not None:
                    return found
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"demo exited with {self.proc.returncode}:\n{self.output}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no such line after {timeout:.0f}s:\n{self.output}")
                self._changed.wait(0.5)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def workdir(self) -> Path:
        line = self.wait_line(lambda line: line.startswith("kuberay-py demo: working directory "))
        return Path(line.rsplit(" ", 1)[1])

    def finish(self, timeout: float = 120.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    started: list[Demo] = []
    yield started
    for demo in started:
        demo.kill()


def processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line contains `text` (the demo's directory is in every child's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def assert_nothing_left(workdir: Path) -> None:
    assert processes_mentioning(str(workdir)) == []
    assert not workdir.exists()


def printed_command(demo: Demo, fragment: str) -> list[str]:
    line = demo.wait_line(lambda line: line.strip().startswith("kubectl") and fragment in line)
    return shlex.split(line.split("  #")[0].strip())


def run_printed(demo: Demo, kubeconfig: str, command: list[str]) -> None:
    assert command[0] == "kubectl"
    subprocess.run(
        [find_kubectl(), f"--kubeconfig={kubeconfig}", *command[1:]], check=True, capture_output=True
    )


def test_demo_comes_up_does_what_it_says_and_ctrl_c_removes_everything(demos: list[Demo]) -> None:
    demo = Demo()
    demos.append(demo)
    workdir = demo.workdir
    ready = demo.wait_line(lambda line: line.endswith("is ready"), timeout=STARTUP_TIMEOUT)
    startup = float(ready.split("s", 1)[0])
    print(f"demo ready {startup:.1f}s after it started")
    demo.wait_line(lambda line: "Press Ctrl-C" in line)

    assert "$ kubectl get rayclusters,pods,svc -n default" in demo.output
    assert re.search(r"raycluster\.ray\.io/raycluster-heterogeneous +4 +4 .* ready", demo.output)
    assert len(re.findall(r"^pod/raycluster-heterogeneous-\S+ +1/1 +Running", demo.output, re.M)) == 5
    assert "service/raycluster-heterogeneous-head-svc" in demo.output
    kubeconfig = demo.wait_line(lambda line: "export KUBECONFIG=" in line).split("=", 1)[1]
    assert Path(kubeconfig).is_file() and kubeconfig.startswith(str(workdir))
    assert "kubectl get rayclusters -w" in demo.output

    # The commands it prints work as printed, and the demo shows their effect.
    mark = len(demo.lines)
    run_printed(demo, kubeconfig, printed_command(demo, '"value":5'))
    demo.wait_line(lambda line: "small-group 5/5" in line, start=mark)
    removal = printed_command(demo, "workersToDelete")
    victim = re.search(r'"workersToDelete":\["([^"]+)"\]', removal[-1])
    assert victim is not None and victim.group(1).startswith("raycluster-heterogeneous-small-group-worker-")
    mark = len(demo.lines)
    run_printed(demo, kubeconfig, removal)
    demo.wait_line(lambda line: "small-group 2/2" in line and "pods: 4 created" in line, start=mark)
    gone = subprocess.run(
        [find_kubectl(), f"--kubeconfig={kubeconfig}", "get", "pod", victim.group(1)],
        capture_output=True,
        text=True,
    )
    assert "NotFound" in gone.stderr

    demo.proc.send_signal(signal.SIGINT)
    assert demo.finish() == 0, demo.output
    assert demo.lines[-1] == f"stopped; removed {workdir}"
    assert "Traceback" not in demo.output
    assert_nothing_left(workdir)


def test_sigterm_while_the_control_plane_starts_stops_what_had_started(demos: list[Demo]) -> None:
    demo = Demo()
    demos.append(demo)
    workdir = demo.workdir
    demo.wait_line(lambda line: line.startswith("starting the local control plane"))
    time.sleep(1.0)  # etcd and kube-apiserver are up or on their way
    assert processes_mentioning(str(workdir)), "the control plane had not started any process yet"
    demo.proc.send_signal(signal.SIGTERM)
    assert demo.finish() == 128 + signal.SIGTERM.value, demo.output
    assert "SIGTERM received: shutting down" in demo.output
    assert "Traceback" not in demo.output
    assert_nothing_left(workdir)


def test_exit_when_ready(demos: list[Demo]) -> None:
    demo = Demo(
        "--exit-when-ready",
        "--sample",
        str(Path(__file__).parents[2] / "config/samples/ray-cluster.mini.yaml"),
    )
    demos.append(demo)
    workdir = demo.workdir
    assert demo.finish(timeout=STARTUP_TIMEOUT) == 0, demo.output
    assert "RayCluster raycluster-mini is ready" in demo.output
    assert_nothing_left(workdir)


def test_an_operator_that_fails_at_start_is_explained_by_its_log(demos: list[Demo]) -> None:
    # The operator inherits the demo's environment, and a bad KUBERAY_PY_* value is a usage error at once.
    demo = Demo(env={"KUBERAY_PY_WORKERS": "0"})
    demos.append(demo)
    workdir = demo.workdir
    assert demo.finish(timeout=STARTUP_TIMEOUT) == 1, demo.output
    log = workdir / "operator.log"
    failed = demo.lines.index(f"kuberay-py demo: the operator exited with 2; see {log}")
    heading = next(
        i for i, line in enumerate(demo.lines) if line.endswith(f"lines of the operator log ({log}):")
    )
    stopping = demo.lines.index("stopping the operator and the control plane")
    assert failed < heading < stopping  # printed while the log still existed
    tail = demo.lines[heading + 1 : stopping]
    assert tail[0].startswith("  usage: kuberay-py operator ")
    assert any("expected a whole number of at least 1, got '0'" in line for line in tail)
    assert demo.lines[-1] == f"stopped; removed {workdir}"
    assert "Traceback" not in demo.output
    assert_nothing_left(workdir)


def test_an_invalid_sample_fails_at_once_naming_the_step(demos: list[Demo], tmp_path: Path) -> None:
    sample = tmp_path / "invalid.yaml"
    sample.write_text(
        "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: bad}\nspec: {headGroupSpec: 7}\n"
    )
    demo = Demo("--sample", str(sample))
    demos.append(demo)
    workdir = demo.workdir
    demo.wait_line(lambda line: "creating RayCluster bad" in line, timeout=STARTUP_TIMEOUT)
    assert demo.finish() == 1, demo.output
    failure = next(
        line for line in demo.lines if line.startswith("kuberay-py demo: creating RayCluster bad failed")
    )
    assert "headGroupSpec" in failure and "after" not in failure  # not retried: one attempt
    assert "trying again" not in demo.output
    stopping = demo.lines.index("stopping the operator and the control plane")
    assert demo.lines.index(failure) < stopping
    assert any(line.startswith("last ") and "lines of the operator log" in line for line in demo.lines)
    assert "Traceback" not in demo.output
    assert_nothing_left(workdir)


def ray_processes() -> list[str]:
    """Ray's own daemons anywhere on the machine: none may outlive a demo."""
    names = {"raylet", "gcs_server"}
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() in names:
                found.append(entry.name)
    return found


def test_ray_demo_runs_a_job_that_scales_the_cluster_and_exits_when_it_succeeded(demos: list[Demo]) -> None:
    mount_point = Path("/var/run/secrets/kubernetes.io")  # the autoscaler's token is mounted below it
    had_mount_point = mount_point.exists()
    demo = Demo("--ray", "--exit-when-ready")
    demos.append(demo)
    workdir = demo.workdir
    demo.wait_line(lambda line: line.startswith("Ray dashboard: http://127.0.0.1:"), timeout=STARTUP_TIMEOUT)
    # The command it prints works from this machine while the demo's own job runs.
    line = demo.wait_line(
        lambda line: line.strip().startswith(f"{Path(sys.executable).parent}/ray job submit")
    )
    printed = subprocess.run(
        shlex.split(line),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert "'CPU'" in printed.stdout and "succeeded" in printed.stdout

    assert demo.finish(timeout=STARTUP_TIMEOUT) == 0, demo.output
    assert "scale up: small-group replicas 1 -> 3" in demo.output
    assert "3 worker(s) ran the job's tasks" in demo.output
    assert "the Ray job succeeded" in demo.output
    assert "Traceback" not in demo.output
    assert_nothing_left(workdir)
    assert ray_processes() == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "krpk-" not in netns
    assert mount_point.exists() == had_mount_point, "a mount point the kubelet made is left on the machine"
