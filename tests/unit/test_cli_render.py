"""`kuberay-py render`: every object of a manifest's RayClusters as YAML, and one clear line on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "config" / "samples"


def _render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["render", *args])
    out, err = capsys.readouterr()
    return code, [doc for doc in yaml.safe_load_all(out) if doc], err


def _summary(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, name or generateName) of each object."""
    return [(o["kind"], o["metadata"].get("name") or o["metadata"]["generateName"]) for o in objects]


def test_heterogeneous_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, objects, err = _render(capsys, "-f", str(SAMPLES / "ray-cluster.heterogeneous.yaml"))
    assert (code, err) == (0, "")
    # The ConfigMap in the same file is not the operator's to create.
    assert _summary(objects) == [
        ("Service", "raycluster-heterogeneous-head-svc"),
        ("Pod", "raycluster-heterogeneous-head-"),
        ("Pod", "raycluster-heterogeneous-small-group-worker-"),
        ("Pod", "raycluster-heterogeneous-medium-group-worker-"),
    ]


def test_autoscaler_sample_adds_the_sidecar_and_rbac(capsys: pytest.CaptureFixture[str]) -> None:
    code, objects, _ = _render(capsys, "-f", str(SAMPLES / "ray-cluster.autoscaler.yaml"))
    assert code == 0
    assert _summary(objects) == [
        ("ServiceAccount", "raycluster-autoscaler"),
        ("Role", "raycluster-autoscaler"),
        ("RoleBinding", "raycluster-autoscaler"),
        ("Service", "raycluster-autoscaler-head-svc"),
        ("Pod", "raycluster-autoscaler-head-"),
        ("Pod", "raycluster-autoscaler-small-group-worker-"),
    ]
    head = objects[4]
    assert [c["name"] for c in head["spec"]["containers"]] == ["ray-head", "autoscaler"]
    assert head["spec"]["serviceAccountName"] == "raycluster-autoscaler"


def test_cluster_domain_and_namespace_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, objects, _ = _render(
        capsys,
        "-f",
        str(SAMPLES / "ray-cluster.heterogeneous.yaml"),
        "--cluster-domain",
        "k8s.corp",
        "-n",
        "ray",
    )
    assert code == 0
    assert {o["metadata"]["namespace"] for o in objects} == {"ray"}
    worker_env = {e["name"]: e.get("value") for e in objects[2]["spec"]["containers"][0]["env"]}
    assert worker_env["FQ_RAY_IP"] == "raycluster-heterogeneous-head-svc.ray.svc.k8s.corp"


def test_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO((SAMPLES / "ray-cluster.mini.yaml").read_text()))
    code, objects, _ = _render(capsys, "-f", "-")
    assert code == 0 and [o["kind"] for o in objects] == ["Service", "Pod"]


BAD_INPUTS = {
    "not yaml": "spec: [",
    "no raycluster": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
    "invalid raycluster": (
        "apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {name: demo}\n"
        "spec: {headGroupSpec: {template: {spec: {containers: []}}}}\n"
    ),
    "too long a name": (
        f"apiVersion: ray.io/v1\nkind: RayCluster\nmetadata: {{name: {'x' * 54}}}\n"
        "spec: {headGroupSpec: {template: {spec: {containers: [{name: r, image: ray}]}}}}\n"
    ),
    "a list": "- 1\n- 2\n",
}


@pytest.mark.parametrize("text", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_one_line_on_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, objects, err = _render(capsys, "-f", str(path))
    assert code == 1 and objects == []
    assert err.startswith(f"kuberay-py render: {path}: ") and err.count("\n") == 1


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _render(capsys, "-f", str(tmp_path / "absent.yaml"))
    assert code == 1 and err == f"kuberay-py render: {tmp_path / 'absent.yaml'}: No such file or directory\n"


def test_python_dash_m_entry_point_exits_non_zero_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_INPUTS["invalid raycluster"])
    proc = subprocess.run(
        [sys.executable, "-m", "kuberay_py", "render", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and "needs at least one container" in proc.stderr
