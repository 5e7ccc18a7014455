"""Helpers shared by the install, CLI and demo tests: the repository's manifests, rendered and adjusted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from kuberay_py.testing.binaries import find_kubectl
from kuberay_py.testing.controlplane import ControlPlane
from tests.waiting import blocking, eventually

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
CHART = REPO / "helm-chart" / "kuberay-py"
SAMPLES = CONFIG / "samples"
CRD_FILE = CONFIG / "crd" / "ray.io_rayclusters.yaml"
JOB_CRD_FILE = CONFIG / "crd" / "ray.io_rayjobs.yaml"
CRD_FILES = (CRD_FILE, JOB_CRD_FILE)
INSTALL_NAMESPACE = "kuberay-system"
OPERATOR = "kuberay-py-operator"

Obj = dict[str, Any]


def kustomize(directory: Path) -> list[Obj]:
    """`kubectl kustomize` of a directory under config/, as parsed objects."""
    out = subprocess.run(
        [find_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(objects: Iterable[Obj], kind: str, name: str) -> Obj:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def renamespace(objects: Iterable[Obj], names: Mapping[str, str]) -> list[Obj]:
    """Copies of `objects` moved between namespaces (`{old: new}`), binding subjects and Namespaces too."""
    moved = []
    for obj in objects:
        obj = json.loads(json.dumps(obj))
        meta = obj["metadata"]
        if obj["kind"] == "Namespace":
            meta["name"] = names.get(meta["name"], meta["name"])
        if "namespace" in meta:
            meta["namespace"] = names.get(meta["namespace"], meta["namespace"])
        for subject in obj.get("subjects") or []:
            if "namespace" in subject:
                subject["namespace"] = names.get(subject["namespace"], subject["namespace"])
        moved.append(obj)
    return moved


def apply(plane: ControlPlane, objects: Iterable[Obj], *extra: str) -> None:
    plane.kubectl("apply", *extra, "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))


def ensure_crd(plane: ControlPlane) -> None:
    """The RayCluster and RayJob CRDs on the shared control plane (applying them again changes nothing)."""
    for crd in CRD_FILES:
        plane.kubectl("apply", "-f", str(crd))
    established = "jsonpath={.status.conditions[?(@.type=='Established')].status}"
    for name in ("rayclusters.ray.io", "rayjobs.ray.io"):
        blocking(
            eventually(
                lambda name=name: (
                    plane.kubectl("get", f"crd/{name}", "-o", established, check=False).stdout == "True"
                ),
                what=f"the CRD {name} to be established",
            )
        )


def new_namespace(plane: ControlPlane, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", name)
    blocking(
        eventually(
            lambda: (
                plane.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0
            ),
            what=f"the default ServiceAccount of {name}",
        )
    )
    return name


def cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """`python -m kuberay_py ...` with no KUBECONFIG or KUBERAY_PY_* settings leaking in from outside."""
    clean = {k: v for k, v in os.environ.items() if k != "KUBECONFIG" and not k.startswith("KUBERAY_PY_")}
    return subprocess.run(
        [sys.executable, "-m", "kuberay_py", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


def manager_container(deployment: Obj) -> Obj:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    container: Obj = next(c for c in containers if c["name"] == "manager")
    return container


def deployment_settings(deployment: Obj, namespace: str) -> tuple[list[str], dict[str, str]]:
    """The operator's options as the Deployment sets them: its args (less the command and the addresses,
    which the test process chooses) and its environment, with the pod's own namespace filled in."""
    container = manager_container(deployment)
    args = [a for a in container["args"][1:] if not a.startswith(("--metrics-addr", "--health-addr"))]
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = namespace
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[var["name"]] = f"{OPERATOR}-test"
    return args, env
