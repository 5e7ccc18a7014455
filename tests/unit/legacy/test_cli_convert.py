"""`kuberay-py convert FILE`: YAML on stdout, warnings on stderr a line per field, one line per error."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kuberay_py.api import validate_manifest
from kuberay_py.cli import main
from tests.unit.legacy.support import FIXTURES, fixture_text

PREFIX = "kuberay-py convert: "
OPERATOR_SETTING = "an operator setting, not part of a cluster: left out (install the operator on its own)"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    code = main(["convert", *args])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_a_manifest_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(FIXTURES / "example-cluster.yaml"))
    assert code == 0
    (manifest,) = [doc for doc in yaml.safe_load_all(out) if doc]
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["spec"]["enableInTreeAutoscaling"] is True
    assert validate_manifest(manifest) == []
    assert len(err) == 1 and err[0].startswith(f"{PREFIX}warning: metadata.name: the head Service is now")


def test_every_warning_is_one_line_naming_its_field(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(FIXTURES / "every-warning.yaml"))
    assert code == 0 and out.startswith("---\napiVersion: ray.io/v1\n")
    assert all(line.startswith(f"{PREFIX}warning: ") for line in err)
    fields = [line.removeprefix(f"{PREFIX}warning: ").split(": ", 1)[0] for line in err]
    assert fields == [
        "metadata.finalizers",
        "spec.podTypes[0].podConfig.metadata.namespace",
        "spec.podTypes[0].podConfig.spec.containers[0].command",
        "spec.headStartRayCommands[1]",
        "spec.headStartRayCommands[1]",
        "spec.workerStartRayCommands[0]",
        "spec.workerStartRayCommands[1]",
        "spec.headSetupCommands",
        "spec.workerSetupCommands",
        "spec.podTypes[0].setupCommands",
        "spec.podTypes[0].name",
        "spec.podTypes[1].name",
        "spec.podTypes[1].rayResources.CPU",
        "spec.maxWorkers",
        "spec.upscalingSpeed",
        "metadata.name",
    ]


def test_values_with_a_release_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--name", "ml-release", str(FIXTURES / "values.yaml"))
    assert code == 0
    manifest = yaml.safe_load(out)
    assert manifest["metadata"] == {"name": "ml-release"}
    assert f"{PREFIX}warning: operatorImage: {OPERATOR_SETTING}" in err


def test_values_default_to_the_charts_release_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(FIXTURES / "values.yaml"))
    assert code == 0 and yaml.safe_load(out)["metadata"]["name"] == "example-cluster"


def test_standard_input(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(fixture_text("two-clusters-and-a-service.yaml")))
    code, out, err = run(capsys, "-")
    assert code == 0
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(out) if d] == ["small-a", "small-b"]
    left_out = "document 1: left out: a Service of v1, not a legacy RayCluster (cluster.ray.io/v1)"
    assert err[0] == f"{PREFIX}warning: {left_out}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- not\n- a mapping\n", "not a mapping: expected a legacy RayCluster or legacy Helm values"),
        ("apiVersion: cluster.ray.io/v1\nkind: RayCluster\nmetadata: {name: x}\nspec: {headPodType: h}\n",
         "spec.podTypes: required: the head's and the workers' pod types"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "legacy.yaml"
    path.write_text(text)
    code, out, err = run(capsys, str(path))
    assert (code, out) == (1, "")
    assert err == [f"{PREFIX}{path}: {expected}"]


def test_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, str(tmp_path / "gone.yaml"))
    assert (code, out) == (1, "")
    assert err == [f"{PREFIX}{tmp_path / 'gone.yaml'}: No such file or directory"]


def test_as_a_program_reading_standard_input() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "kuberay_py", "convert", "-"],
        input="apiVersion: ray.io/v1\nkind: RayCluster\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr == (
        f"{PREFIX}standard input: not a legacy manifest: already a ray.io/v1 RayCluster, apply it as it is\n"
    )
