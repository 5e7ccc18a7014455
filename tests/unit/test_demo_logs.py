"""When the demo fails, the end of the log that explains why is printed before the working directory goes."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kuberay_py.demo import Demo, DemoError, DemoOptions, print_log_tail, run_demo
from kuberay_py.testing import controlplane
from kuberay_py.testing.controlplane import ControlPlane, ControlPlaneError, last_lines


def write_lines(path: Path, count: int, prefix: str = "line") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{prefix} {i}\n" for i in range(count)))


def test_print_log_tail_prints_the_last_lines_under_a_heading(tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    write_lines(log, 100)
    out = io.StringIO()
    print_log_tail("the operator log", log, stream=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"last 30 lines of the operator log ({log}):"
    assert lines[1:] == [f"  line {i}" for i in range(70, 100)]


def test_print_log_tail_says_when_there_is_nothing_to_print(tmp_path: Path) -> None:
    out = io.StringIO()
    print_log_tail("the operator log", tmp_path / "missing.log", stream=out)
    assert out.getvalue().startswith(f"the operator log: cannot read {tmp_path / 'missing.log'}: ")
    empty = tmp_path / "empty.log"
    empty.write_text("")
    out = io.StringIO()
    print_log_tail("the operator log", empty, stream=out)
    assert out.getvalue() == f"the operator log ({empty}) is empty\n"


def test_last_lines_reads_only_the_end_and_drops_a_cut_line(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i:04d}\n" for i in range(1000)))  # ten bytes a line
    assert last_lines(log, 500, max_bytes=105) == [f"line {i:04d}" for i in range(990, 1000)]
    assert last_lines(log, 3) == ["line 0997", "line 0998", "line 0999"]


def stand_in_operator(code: str, wait: bool = False) -> subprocess.Popen[bytes]:
    """A Python process in the operator's place, running `code`."""
    proc = subprocess.Popen([sys.executable, "-c", code])
    if wait:
        proc.wait()
    return proc


@dataclass
class Observed:
    """What run_demo had printed, and which logs still existed, when teardown began."""

    code: int | None = None
    stderr: str = ""
    workdir: Path = Path()
    logs: list[str] = field(default_factory=list)


RunStep = Callable[[Demo], Coroutine[Any, Any, None]]
RunFailing = Callable[[RunStep], Observed]


@pytest.fixture
def run_failing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunFailing:
    """run_demo with `Demo.run` replaced by a step that fails; no server is started."""
    observed = Observed()
    teardown = Demo.teardown

    async def observing_teardown(self: Demo) -> None:
        observed.stderr = capsys.readouterr().err
        observed.workdir = self.workdir
        observed.logs = sorted(str(p.relative_to(self.workdir)) for p in self.workdir.rglob("*.log"))
        await teardown(self)

    monkeypatch.setattr(Demo, "teardown", observing_teardown)

    def run(step: RunStep) -> Observed:
        monkeypatch.setattr(Demo, "run", step)
        try:
            observed.code = asyncio.run(run_demo(DemoOptions()))
        except KeyError:
            observed.code = None
        return observed

    return run


def test_an_operator_exit_prints_its_log_tail_before_the_directory_is_removed(
    run_failing: RunFailing,
) -> None:
    async def operator_dies(self: Demo) -> None:
        write_lines(self.operator.log_path, 50, prefix="operator says")
        self.operator.proc = stand_in_operator("raise SystemExit(2)")
        await self._while_operator_runs(asyncio.Event().wait())  # following the cluster, forever

    observed = run_failing(operator_dies)
    assert observed.code == 1
    log = observed.workdir / "operator.log"
    lines = observed.stderr.splitlines()
    assert lines[0] == f"kuberay-py demo: the operator exited with 2; see {log}"
    assert lines[1] == f"last 30 lines of the operator log ({log}):"
    assert lines[2:] == [f"  operator says {i}" for i in range(20, 50)]
    assert observed.logs == ["operator.log"]
    assert not observed.workdir.exists()


def test_a_control_plane_failure_prints_the_components_log_tail(run_failing: RunFailing) -> None:
    async def apiserver_dies(self: Demo) -> None:
        log = self.plane.log_dir / "kube-apiserver.log"
        write_lines(log, 40, prefix="apiserver says")
        raise ControlPlaneError("kube-apiserver exited with code 1; last log lines:\napiserver says 39", log)

    observed = run_failing(apiserver_dies)
    assert observed.code == 1
    log = observed.workdir / "control-plane" / "logs" / "kube-apiserver.log"
    lines = observed.stderr.splitlines()
    assert lines[0] == "kuberay-py demo: kube-apiserver exited with code 1; last log lines:"
    assert lines[1] == f"last 30 lines of the kube-apiserver log ({log}):"
    assert lines[2:] == [f"  apiserver says {i}" for i in range(10, 40)]
    assert "operator log" not in observed.stderr  # it never started
    assert observed.logs == ["control-plane/logs/kube-apiserver.log"]
    assert not observed.workdir.exists()


def test_an_unexpected_error_still_prints_the_operator_log_first(run_failing: RunFailing) -> None:
    async def bug(self: Demo) -> None:
        write_lines(self.operator.log_path, 3, prefix="operator says")
        self.operator.proc = stand_in_operator("pass", wait=True)
        raise KeyError("bug")

    observed = run_failing(bug)
    assert observed.code is None  # the KeyError went on up, after teardown
    assert observed.stderr.splitlines()[1:] == [f"  operator says {i}" for i in range(3)]
    assert not observed.workdir.exists()


async def test_the_operator_watch_ends_the_work_when_the_operator_exits() -> None:
    demo = Demo(DemoOptions())
    try:
        demo.operator.proc = stand_in_operator("import time; time.sleep(0.3)")
        finished = asyncio.Event()

        async def work() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                finished.set()

        with pytest.raises(DemoError, match="the operator exited with 0"):
            await asyncio.wait_for(demo._while_operator_runs(work()), timeout=10)
        assert finished.is_set()  # the work was cancelled, not left running
    finally:
        await demo.teardown()
    assert not demo.workdir.exists()


async def test_work_that_ends_first_stops_the_operator_watch() -> None:
    demo = Demo(DemoOptions())
    try:
        demo.operator.proc = stand_in_operator("import time; time.sleep(30)")

        async def work() -> None:
            raise DemoError("RayCluster x is not ready")

        with pytest.raises(DemoError, match="is not ready"):
            await demo._while_operator_runs(work())
    finally:
        await demo.teardown()  # stops the sleeping stand-in like the operator


def test_a_failed_control_plane_start_keeps_its_directory_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: ControlPlane) -> None:
        write_lines(self.log_dir / "etcd.log", 3)
        raise ControlPlaneError("etcd exited with code 1", self.log_dir / "etcd.log")

    monkeypatch.setattr(controlplane, "ensure_binaries", lambda: None)
    monkeypatch.setattr(controlplane, "create_local_pki", lambda path: None)
    monkeypatch.setattr(ControlPlane, "_start_components", fail)
    kept = ControlPlane(tmp_path / "kept", keep_failed=True, log=lambda message: None)
    with pytest.raises(ControlPlaneError):
        kept.start()
    assert (tmp_path / "kept" / "logs" / "etcd.log").is_file()
    kept.stop()
    assert not (tmp_path / "kept").exists()
    removed = ControlPlane(tmp_path / "removed", log=lambda message: None)
    with pytest.raises(ControlPlaneError):
        removed.start()
    assert not (tmp_path / "removed").exists()


def test_the_demo_asks_its_control_plane_to_keep_failed_logs() -> None:
    demo = Demo(DemoOptions())
    try:
        assert demo.plane.keep_failed
    finally:
        asyncio.run(demo.teardown())
