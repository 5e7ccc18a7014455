"""Every object the builders render for a valid RayCluster is accepted by the real API server.

Each drawn RayCluster is rendered and sent to kube-apiserver as a server-side dry run, so the API server runs
its full validation and admission (ServiceAccount, RBAC escalation checks, ...) without storing anything.
The ServiceAccounts the pods run as are created for real first: admission rejects a pod whose ServiceAccount
does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from kuberay_py.api import RayCluster, validate_manifest
from kuberay_py.builders import render_cluster, to_yaml
from kuberay_py.builders.names import MAX_GENERATE_NAME, MAX_LABEL_VALUE
from kuberay_py.testing.controlplane import ControlPlane
from tests.unit.builders.strategies import rayclusters
from tests.waiting import blocking, eventually

NAMESPACE = f"builders-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    control_plane.kubectl("create", "namespace", NAMESPACE)
    blocking(
        eventually(
            lambda: (
                control_plane.kubectl(
                    "get", "serviceaccount", "default", "-n", NAMESPACE, check=False
                ).returncode
                == 0
            ),
            what="the namespace's default ServiceAccount",
        )
    )
    yield NAMESPACE
    control_plane.kubectl("delete", "namespace", NAMESPACE, "--wait=false")


def _ensure_service_account(plane: ControlPlane, namespace: str, name: str) -> None:
    proc = plane.kubectl("create", "serviceaccount", name, "-n", namespace, check=False)
    assert proc.returncode == 0 or "already exists" in proc.stderr, proc.stderr


def _check_names(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        metadata = obj["metadata"]
        assert len(metadata.get("generateName", "")) <= MAX_GENERATE_NAME
        assert len(metadata.get("name", "")) <= 63
        assert all(len(value) <= MAX_LABEL_VALUE for value in metadata.get("labels", {}).values())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=rayclusters(NAMESPACE))
def test_every_rendered_object_passes_server_side_dry_run(
    control_plane: ControlPlane, namespace: str, manifest: dict[str, Any]
) -> None:
    assert validate_manifest(manifest) == []
    objects = render_cluster(RayCluster.from_manifest(manifest))
    _check_names(objects)

    for pod in (obj for obj in objects if obj["kind"] == "Pod"):
        _ensure_service_account(control_plane, namespace, pod["spec"].get("serviceAccountName", "default"))

    # ServiceAccounts may already exist from an earlier example: apply checks them either way. The rest use
    # generateName, which only create supports.
    accounts = [obj for obj in objects if obj["kind"] == "ServiceAccount"]
    others = [obj for obj in objects if obj["kind"] != "ServiceAccount"]
    if accounts:
        applied = control_plane.kubectl(
            "apply", "--dry-run=server", "-f", "-", input=to_yaml(accounts), check=False
        )
        assert applied.returncode == 0, applied.stderr
    created = control_plane.kubectl(
        "create", "--dry-run=server", "-o", "name", "-f", "-", input=to_yaml(others), check=False
    )
    assert created.returncode == 0, f"{created.stderr}\n{to_yaml(others)}"
    assert len(created.stdout.split()) == len(others)
