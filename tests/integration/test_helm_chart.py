"""The Helm chart renders the objects config/ renders, for the same settings, and the API server accepts them.
`helm` is built from its Go module at the version pinned in kuberay_py/testing/versions.env."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kuberay_py.cli import build_parser
from kuberay_py.testing.binaries import ensure_helm, pinned_versions
from kuberay_py.testing.controlplane import ControlPlane
from tests.integration.install_support import (
    CHART,
    CONFIG,
    CRD_FILES,
    INSTALL_NAMESPACE,
    OPERATOR,
    Obj,
    apply,
    ensure_crd,
    find,
    kustomize,
    manager_container,
    new_namespace,
    renamespace,
)

Key = tuple[str, str | None, str]


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm()


def template(helm: Path, *settings: str, namespace: str = INSTALL_NAMESPACE) -> list[Obj]:
    out = subprocess.run(
        [
            str(helm),
            "template",
            "kuberay-py",
            str(CHART),
            f"--namespace={namespace}",
            "--include-crds",
            *settings,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_key(objects: list[Obj]) -> dict[Key, Obj]:
    keyed = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}
    assert len(keyed) == len(objects), "two objects with the same kind, namespace and name"
    return keyed


def test_helm_is_the_pinned_version(helm: Path) -> None:
    version = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith(pinned_versions()["HELM_VERSION"])


def test_chart_passes_helm_lint(helm: Path) -> None:
    for settings in ([], ["--set", "watchNamespace=ray"], ["--set", "leaderElection.enabled=false"]):
        lint = subprocess.run([str(helm), "lint", str(CHART), *settings], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr


@pytest.mark.parametrize(
    ("overlay", "settings"),
    [("default", []), ("single-namespace", ["--set", "watchNamespace=ray"])],
    ids=["all-namespaces", "single-namespace"],
)
def test_chart_renders_what_kustomize_renders(helm: Path, overlay: str, settings: list[str]) -> None:
    expected = by_key(kustomize(CONFIG / overlay))
    # The one difference: Helm installs into a release namespace it does not own (`--create-namespace`).
    del expected[("Namespace", None, INSTALL_NAMESPACE)]
    rendered = by_key(template(helm, *settings))
    assert sorted(rendered, key=str) == sorted(expected, key=str)
    for key, obj in expected.items():
        assert rendered[key] == obj, f"{key} differs"


def test_chart_crds_are_the_generated_crds() -> None:
    for crd in CRD_FILES:
        chart_crd = CHART / "crds" / crd.name
        assert chart_crd.is_file(), f"copy {crd} to {chart_crd} (make crd)"
        assert chart_crd.read_text() == crd.read_text(), f"copy {crd} to {chart_crd} (make crd)"


def test_chart_without_leader_election_and_with_extra_args(helm: Path) -> None:
    objects = template(
        helm,
        "--set",
        "leaderElection.enabled=false",
        "--set-json",
        'extraArgs=["--workers=32","--log-level=debug"]',
    )
    assert not [o for o in objects if o["metadata"]["name"] == "kuberay-py-leader-election"]
    container = manager_container(find(objects, "Deployment", OPERATOR))
    args = build_parser().parse_args(container["args"])
    assert (args.leader_elect, args.workers, args.log_level) == (False, 32, "debug")


@pytest.fixture
def namespaces(control_plane: ControlPlane) -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    for name in created:
        control_plane.kubectl("delete", "namespace", name, "--wait=false")


@pytest.mark.parametrize("single_namespace", [False, True], ids=["all-namespaces", "single-namespace"])
def test_api_server_accepts_the_rendered_chart(
    control_plane: ControlPlane, helm: Path, namespaces: list[str], single_namespace: bool
) -> None:
    """A server-side dry run: every object passes validation and admission, nothing is stored."""
    ensure_crd(control_plane)
    release = new_namespace(control_plane, "helm")
    namespaces.append(release)
    settings: list[str] = []
    if single_namespace:
        watched = new_namespace(control_plane, "helm-watched")
        namespaces.append(watched)
        settings = ["--set", f"watchNamespace={watched}"]
    objects = template(helm, *settings, namespace=release)
    apply(control_plane, objects, "--dry-run=server", "--server-side")
    assert control_plane.kubectl("get", "deployments", "-n", release, "-o", "name").stdout == ""
    # Cluster-scoped objects have fixed names; check they would be created where kustomize puts them too.
    expected = renamespace(
        kustomize(CONFIG / ("single-namespace" if single_namespace else "default")),
        {INSTALL_NAMESPACE: release, "ray": settings[1].split("=", 1)[1] if settings else "ray"},
    )
    assert {(o["kind"], o["metadata"].get("namespace")) for o in objects} == {
        (o["kind"], o["metadata"].get("namespace")) for o in expected if o["kind"] != "Namespace"
    }
