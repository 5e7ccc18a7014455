"""The Dockerfile, checked without a container engine: its instructions, its build context, and that the files
it copies are enough to build the package with its `kuberay-py` command."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
NONROOT = "65532"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), " ".join(rest.split())))
    return pairs


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def copied_sources() -> list[str]:
    sources = []
    for word, args in stages()[0]:
        if word == "COPY":
            sources += args.split()[:-1]
    return sources


def _matches(pattern: str, path: str) -> bool:
    """Whether a .dockerignore pattern covers `path` (a pattern matching a directory covers its contents)."""
    parts = path.split("/")
    spans = [(j, i) for i in range(len(parts)) for j in range(i + 1)]
    if pattern.startswith("**/"):  # at any depth
        return any(fnmatch.fnmatchcase("/".join(parts[j : i + 1]), pattern[3:]) for j, i in spans)
    return any(fnmatch.fnmatchcase("/".join(parts[: i + 1]), pattern) for i in range(len(parts)))


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context: the last matching line decides."""
    result = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and _matches(line.lstrip("!").rstrip("/"), path):
            result = not line.startswith("!")
    return result


def test_two_stages_on_python_311_slim() -> None:
    builder, final = stages()
    assert builder[0] == ("FROM", "python:3.11-slim AS builder")
    assert final[0] == ("FROM", "python:3.11-slim")
    assert not [a for w, a in instructions() if w == "ADD"]  # COPY only: nothing fetched at build time


def test_builder_installs_pyproject_and_package_into_a_virtualenv() -> None:
    builder, final = stages()
    assert copied_sources() == ["pyproject.toml", "README.md", "kuberay_py"]
    runs = " ".join(a for w, a in builder if w == "RUN")
    assert "python -m venv /opt/kuberay-py" in runs and "/opt/kuberay-py/bin/pip install ." in runs
    assert ("COPY", "--from=builder /opt/kuberay-py /opt/kuberay-py") in final
    assert not [a for w, a in final if w == "RUN"]  # nothing built or installed in the final image


def test_runs_the_operator_as_non_root() -> None:
    final = stages()[-1]
    users = [a for w, a in final if w == "USER"]
    assert users and users[-1] == f"{NONROOT}:{NONROOT}"
    assert [a for w, a in final if w == "ENTRYPOINT"] == [json.dumps(["kuberay-py"])]
    assert [a for w, a in final if w == "CMD"] == [json.dumps(["operator"])]
    env = " ".join(a for w, a in final if w == "ENV")
    assert "PATH=/opt/kuberay-py/bin:$PATH" in env
    deployment = yaml.safe_load((REPO / "config" / "manager" / "manager.yaml").read_text())
    assert str(deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]) == NONROOT


def test_build_context_holds_what_is_copied_and_nothing_else() -> None:
    for source in copied_sources():
        assert not ignored(source), source
    assert not ignored("kuberay_py/controllers/raycluster/reconciler.py")
    for path in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "kuberay_py/__pycache__/cli.pyc"):
        assert ignored(path), path


def test_the_copied_files_build_the_package_with_its_command(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for source in copied_sources():
        origin = REPO / source
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    out = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = out.glob("kuberay_py-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "kuberay-py = kuberay_py.cli:main" in archive.read(entry_points).decode()
    assert {
        "kuberay_py/cli.py",
        "kuberay_py/operator.py",
        "kuberay_py/controllers/raycluster/reconciler.py",
    } <= names
