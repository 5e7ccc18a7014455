"""The RayCluster CRD in a real API server: it installs, it serves both versions and its printer columns, it
accepts every sample and it rejects every invalid manifest of the shared table with the expected message."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.api import validate_manifest
from kuberay_py.api.crd import DEPRECATION_WARNING, build_crd
from kuberay_py.api.messages import CLUSTER_NAME_TOO_LONG
from kuberay_py.testing.controlplane import ControlPlane
from tests.invalid_manifests import CASES, InvalidCase
from tests.invalid_rayjobs import JOB_CASES
from tests.waiting import blocking, eventually

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "config" / "crd" / "ray.io_rayclusters.yaml"
# The RayJob samples of config/samples need the RayJob CRD too.
JOB_CRD_FILE = REPO / "config" / "crd" / "ray.io_rayjobs.yaml"
SAMPLE_FILES = sorted((REPO / "config" / "samples").glob("*.yaml"))


def _established(plane: ControlPlane, name: str) -> bool:
    proc = plane.kubectl("get", "crd", name, "-o", "json", check=False)
    if proc.returncode != 0:
        return False
    conditions = json.loads(proc.stdout).get("status", {}).get("conditions", [])
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _renamed_crd(kind: str) -> dict[str, Any]:
    """The CRD under another kind and group, outside category `all`: a throwaway that kubectl never confuses
    with rayclusters.ray.io, even from a stale discovery cache after it is deleted."""
    crd = build_crd()
    plural = f"{kind.lower()}s"
    crd["metadata"]["name"] = f"{plural}.checks.ray.io"
    crd["spec"]["group"] = "checks.ray.io"
    crd["spec"]["names"] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
    }
    return crd


@pytest.fixture(scope="module")
def crd(control_plane: ControlPlane) -> str:
    """The committed CRD, installed: with `kubectl create` when it is new, then with `kubectl apply`."""
    name = "rayclusters.ray.io"
    if control_plane.kubectl("get", "crd", name, check=False).returncode != 0:
        control_plane.kubectl("create", "-f", str(CRD_FILE))
    control_plane.kubectl("apply", "-f", str(CRD_FILE))
    blocking(eventually(lambda: _established(control_plane, name), what=f"CRD {name} to be established"))
    control_plane.kubectl("apply", "-f", str(JOB_CRD_FILE))
    blocking(
        eventually(
            lambda: _established(control_plane, "rayjobs.ray.io"), what="CRD rayjobs.ray.io to be established"
        )
    )
    # Discovery can trail the Established condition by a moment.
    for plural in ("rayclusters", "rayjobs"):
        blocking(
            eventually(
                lambda plural=plural: control_plane.kubectl("get", plural, "-A", check=False).returncode == 0,
                what=f"{plural} in discovery",
            )
        )
    return name


@pytest.fixture(scope="module")
def namespace(control_plane: ControlPlane, crd: str) -> Iterator[str]:
    name = f"crd-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def test_crd_installs_with_create_and_with_apply(control_plane: ControlPlane, crd: str) -> None:
    # `kubectl create` needs a CRD name that does not exist yet; deleting the shared rayclusters.ray.io would
    # take every RayCluster of other tests with it, so a renamed copy with the same schema and size stands in.
    renamed = _renamed_crd("CreateCheck")
    name = renamed["metadata"]["name"]
    text = yaml.safe_dump(renamed)
    try:
        control_plane.kubectl("create", "-f", "-", input=text)
        blocking(eventually(lambda: _established(control_plane, name), what="the copy"))
        applied = control_plane.kubectl("apply", "-f", "-", input=text)
        assert "configured" in applied.stdout or "unchanged" in applied.stdout
        stored = json.loads(control_plane.kubectl("get", "crd", name, "-o", "json").stdout)
        # Client-side apply keeps the whole CRD in an annotation, which KubeRay's CRD is too large for.
        assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]
    finally:
        control_plane.kubectl("delete", "crd", name, "--ignore-not-found")
    # The real file, installed by the fixture, is established and applying it again changes nothing.
    assert _established(control_plane, crd)
    assert "unchanged" in control_plane.kubectl("apply", "-f", str(CRD_FILE)).stdout


def test_clusters_stored_before_the_name_rules_stay_updatable(
    control_plane: ControlPlane, namespace: str
) -> None:
    # A drop-in replacement meets RayClusters that KubeRay's CRD let through. Install the CRD without its name
    # rules (renamed, as above), store such a cluster, then install the real rules over it.
    lax = _renamed_crd("LegacyCheck")
    name, group, plural = lax["metadata"]["name"], lax["spec"]["group"], lax["spec"]["names"]["plural"]
    for version in lax["spec"]["versions"]:
        version["schema"]["openAPIV3Schema"].pop("x-kubernetes-validations")
    try:
        control_plane.kubectl("create", "-f", "-", input=yaml.safe_dump(lax))
        blocking(eventually(lambda: _established(control_plane, name), what="the lax CRD"))
        legacy = _mini("a" + "-legacy" * 8)  # 57 characters
        legacy["apiVersion"], legacy["kind"] = f"{group}/v1", "LegacyCheck"
        blocking(
            eventually(
                lambda: (
                    control_plane.kubectl(
                        "create", "-n", namespace, "-f", "-", input=json.dumps(legacy), check=False
                    ).returncode
                    == 0
                ),
                what="the legacy cluster to be stored",
            )
        )
        strict = _renamed_crd("LegacyCheck")
        control_plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(strict))
        # A new cluster with such a name is refused ...
        fresh = {**legacy, "metadata": {"name": "b" + "-legacy" * 8}}
        refused = control_plane.kubectl(
            "create", "-n", namespace, "-f", "-", input=json.dumps(fresh), check=False
        )
        assert CLUSTER_NAME_TOO_LONG in refused.stderr
        # ... while the stored one can still be changed (a label here, finalizers or status in real life).
        control_plane.kubectl(
            "label", "-n", namespace, f"{plural}.{group}/{legacy['metadata']['name']}", "migrated=true"
        )
    finally:
        control_plane.kubectl("delete", "crd", name, "--ignore-not-found")


def _with_crd_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    defaults = {"replicas": 0, "minReplicas": 0, "maxReplicas": 2147483647, "numOfHosts": 1, "priority": 0}
    for group in out.get("workerGroupSpecs", []):
        for key, value in defaults.items():
            group.setdefault(key, value)
    return out


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_is_accepted(control_plane: ControlPlane, namespace: str, path: Path) -> None:
    created = control_plane.kubectl("create", "-n", namespace, "-f", str(path), check=False)
    assert created.returncode == 0, created.stderr
    for doc in yaml.safe_load_all(path.read_text()):
        if doc["kind"] != "RayCluster":
            continue
        assert validate_manifest(doc) == []
        name = doc["metadata"]["name"]
        stored = json.loads(
            control_plane.kubectl("get", "rayclusters.v1.ray.io", name, "-n", namespace, "-o", "json").stdout
        )
        # Nothing was pruned: the stored spec is the sample's, plus the CRD's defaults.
        assert stored["spec"] == _with_crd_defaults(doc["spec"])


def _rejection(plane: ControlPlane, namespace: str, case: InvalidCase) -> str:
    """Submit the case to the API server; return its error output, which must be a rejection."""
    manifest = case.manifest()
    old = case.old_manifest()
    if old is None:
        proc = plane.kubectl(
            "create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False
        )
    else:
        name = f"{case.id}-{uuid.uuid4().hex[:6]}"
        old["metadata"]["name"] = manifest["metadata"]["name"] = name
        plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(old))
        proc = plane.kubectl(
            "replace", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False
        )
    assert proc.returncode != 0, f"the API server accepted {case.id}: {proc.stdout}"
    return proc.stderr


@pytest.mark.parametrize("case", [*CASES, *JOB_CASES], ids=lambda c: f"{c.manifest()['kind']}-{c.id}")
def test_api_server_rejects_each_invalid_manifest(
    control_plane: ControlPlane, namespace: str, case: InvalidCase
) -> None:
    stderr = _rejection(control_plane, namespace, case)
    assert case.message in stderr, stderr
    if case.path is not None:
        lines = [line for line in stderr.splitlines() if case.message in line]
        assert any(f"{case.path}:" in line for line in lines), stderr
    # The Python validator gives the same verdict, in the same words, at the same place.
    errors = case.python_errors()
    assert any(case.message in e.message and case.path in (None, e.path) for e in errors), errors


def _mini(name: str) -> dict[str, Any]:
    [doc] = yaml.safe_load_all((REPO / "config" / "samples" / "ray-cluster.mini.yaml").read_text())
    doc["metadata"]["name"] = name
    return dict(doc)


def test_get_shows_the_printer_columns(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(_mini("columns")))
    status = {
        "desiredWorkerReplicas": 3,
        "availableWorkerReplicas": 2,
        "desiredCPU": "4",
        "desiredMemory": "8Gi",
        "desiredGPU": "1",
        "state": "ready",
        "head": {"podIP": "10.244.0.7", "serviceIP": "10.96.0.42"},
    }
    patch = json.dumps({"status": status})
    control_plane.kubectl(
        "patch", "raycluster", "columns", "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )

    table = control_plane.kubectl("get", "rayclusters", "-n", namespace, "columns").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "DESIRED",
        "WORKERS",
        "AVAILABLE",
        "WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "STATUS",
        "AGE",
    ]
    assert table[1].split()[:7] == ["columns", "3", "2", "4", "8Gi", "1", "ready"]

    wide = control_plane.kubectl(
        "get", "rayclusters", "-n", namespace, "columns", "-o", "wide"
    ).stdout.splitlines()
    assert wide[0].split()[-6:] == ["HEAD", "POD", "IP", "HEAD", "SERVICE", "IP"]
    assert wide[1].split()[-2:] == ["10.244.0.7", "10.96.0.42"]


def test_status_is_a_subresource(control_plane: ControlPlane, namespace: str) -> None:
    manifest = _mini("subresource")
    manifest["status"] = {"state": "ready"}
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    stored = json.loads(
        control_plane.kubectl("get", "raycluster", "subresource", "-n", namespace, "-o", "json").stdout
    )
    # Writes to the main resource drop the status.
    assert "status" not in stored


def test_rayclusters_belong_to_category_all(control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(_mini("category")))
    listed = control_plane.kubectl("get", "all", "-n", namespace, "-o", "name").stdout.split()
    assert "raycluster.ray.io/category" in listed


def test_a_v1alpha1_object_reads_back_as_v1(control_plane: ControlPlane, namespace: str) -> None:
    path = REPO / "config" / "samples" / "ray-cluster.v1alpha1.yaml"
    [sample] = yaml.safe_load_all(path.read_text())
    manifest = copy.deepcopy(sample)
    manifest["metadata"]["name"] = "old-shape"
    created = control_plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    assert DEPRECATION_WARNING in created.stderr

    as_v1 = json.loads(
        control_plane.kubectl(
            "get", "rayclusters.v1.ray.io", "old-shape", "-n", namespace, "-o", "json"
        ).stdout
    )
    assert as_v1["apiVersion"] == "ray.io/v1"
    assert as_v1["spec"] == _with_crd_defaults(sample["spec"])

    as_v1alpha1 = control_plane.kubectl(
        "get", "rayclusters.v1alpha1.ray.io", "old-shape", "-n", namespace, "-o", "json"
    )
    assert json.loads(as_v1alpha1.stdout)["apiVersion"] == "ray.io/v1alpha1"
    assert DEPRECATION_WARNING in as_v1alpha1.stderr


def test_kubectl_explain_documents_the_fields(control_plane: ControlPlane, crd: str) -> None:
    explained = control_plane.kubectl(
        "explain", "rayclusters.spec.upgradeStrategy.type", "--api-version=ray.io/v1"
    )
    assert "RollingUpdate" in explained.stdout
