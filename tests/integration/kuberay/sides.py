"""One side of a side-by-side run: a control plane, the CRDs its operator expects, the operator, and how to
read back what the operator made in a namespace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kuberay_py.testing.binaries import KubeRay
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import KubeRayProcess, OperatorProcess
from kuberay_py.testing.parity import Made

REPO = Path(__file__).resolve().parents[3]
OUR_CRD = REPO / "config" / "crd" / "ray.io_rayclusters.yaml"
OUR_SAMPLES = REPO / "config" / "samples"
# Room for every sample at once (some ask for dozens of CPUs and several GPUs per pod), so where a pod lands
# never depends on what else one side happens to run.
PARITY_KUBELET = ["--cpu=512", "--memory=4Ti", "--gpus-per-node=16", "--pods-per-node=500"]


def parity_plane() -> ControlPlane:
    return ControlPlane(nodes=4, kubelet_args=PARITY_KUBELET, log=lambda _message: None)


@dataclass
class Side:
    label: str
    plane: ControlPlane
    operator: OperatorProcess

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, input=input, check=check)

    def snapshot(self) -> Snapshot:
        """Everything the comparison reads, in every namespace, in one request."""
        kinds = "rayclusters,pods,services,serviceaccounts,roles,rolebindings,events"
        items = json.loads(self.kubectl("get", kinds, "-A", "-o", "json").stdout)["items"]
        return Snapshot(items)


class Snapshot:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.by_namespace: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            self.by_namespace.setdefault(str(item["metadata"].get("namespace")), []).append(item)

    def versions(self) -> list[tuple[str, str, str]]:
        """Every object's resourceVersion (Events left out: they come and go on their own)."""
        return sorted(
            (ns, f"{i.get('kind')}/{i['metadata']['name']}", str(i["metadata"].get("resourceVersion")))
            for ns, items in self.by_namespace.items()
            for i in items
            if i.get("kind") != "Event"
        )

    def of(self, namespace: str, kind: str) -> list[dict[str, Any]]:
        return [i for i in self.by_namespace.get(namespace, []) if i.get("kind") == kind]

    def cluster(self, namespace: str, name: str) -> dict[str, Any] | None:
        return next((c for c in self.of(namespace, "RayCluster") if c["metadata"]["name"] == name), None)

    def made(self, namespace: str, name: str) -> Made | None:
        cluster = self.cluster(namespace, name)
        if cluster is None:
            return None
        return Made(
            namespace=namespace,
            cluster=cluster,
            pods=self.of(namespace, "Pod"),
            services=self.of(namespace, "Service"),
            service_accounts=[
                s for s in self.of(namespace, "ServiceAccount") if s["metadata"]["name"] != "default"
            ],
            roles=self.of(namespace, "Role"),
            role_bindings=self.of(namespace, "RoleBinding"),
            event_reasons=frozenset(
                str(e.get("reason"))
                for e in self.of(namespace, "Event")
                if (e.get("involvedObject") or {}).get("kind") == "RayCluster"
            ),
        )


def install_crds(plane: ControlPlane, crds: list[Path]) -> None:
    for crd in crds:
        # Server-side: KubeRay's CRDs are too large for the last-applied annotation of a client-side apply.
        plane.kubectl("apply", "--server-side", "-f", str(crd))
    plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")


def start_kuberay(
    kuberay: KubeRay, log_dir: Path, *, extra_args: tuple[str, ...] = ()
) -> tuple[ControlPlane, KubeRayProcess]:
    plane = parity_plane()
    plane.start()
    try:
        install_crds(plane, kuberay.crds)
        operator = KubeRayProcess(
            kuberay.binary, plane.kubeconfig, log_dir / "kuberay.log", extra_args=extra_args
        )
        operator.start()
    except BaseException:
        plane.stop()
        raise
    return plane, operator


def documents(path: Path) -> Iterator[dict[str, Any]]:
    for doc in yaml.safe_load_all(path.read_text()):
        if isinstance(doc, dict):
            yield doc


def rayclusters_of(path: Path) -> list[dict[str, Any]]:
    return [
        d
        for d in documents(path)
        if d.get("kind") == "RayCluster" and str(d.get("apiVersion", "")).startswith("ray.io/")
    ]
