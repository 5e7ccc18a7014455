"""A move from KubeRay to kuberay-py that restarts nothing: KubeRay's own operator makes the clusters, it is
stopped, the RayCluster CRD is replaced by kuberay-py's and kuberay-py starts. No pod may be created or
deleted by the switch (the API server's own request counts say so), status carries on, and then the usual
edits (replicas, workersToDelete, upgradeStrategy, suspend) work on the adopted pods."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kuberay_py.testing.binaries import KubeRay
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import KubeRayProcess, OperatorProcess
from tests.integration.kuberay.sides import OUR_CRD, OUR_SAMPLES, install_crds, start_kuberay
from tests.waiting import blocking, eventually

NAMESPACE = "moved"
MULTI_HOST = """
apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: multi-host
spec:
  rayVersion: "2.60.0"
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
        - name: ray-head
          image: rayproject/ray:2.60.0
          resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 500m, memory: 1Gi}}
  workerGroupSpecs:
  - groupName: hosts
    replicas: 2
    minReplicas: 0
    maxReplicas: 4
    numOfHosts: 2
    rayStartParams: {}
    template:
      spec:
        containers:
        - name: ray-worker
          image: rayproject/ray:2.60.0
          resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: 500m, memory: 1Gi}}
"""
CLUSTERS = {"raycluster-heterogeneous": 5, "raycluster-autoscaler": 2, "multi-host": 5}


@dataclass
class Moved:
    """KubeRay's control plane with KubeRay running, and where the logs go."""

    plane: ControlPlane
    kuberay: KubeRayProcess
    log_dir: Path


@pytest.fixture
def moved(kuberay: KubeRay, tmp_path: Path) -> Iterator[Moved]:
    plane, operator = start_kuberay(kuberay, tmp_path)
    try:
        yield Moved(plane, operator, tmp_path)
    finally:
        operator.stop()
        plane.stop()


def _pods(plane: ControlPlane) -> dict[str, dict[str, Any]]:
    items = json.loads(plane.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json").stdout)["items"]
    return {p["metadata"]["name"]: p for p in items}


def _cluster(plane: ControlPlane, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        plane.kubectl("get", "raycluster", name, "-n", NAMESPACE, "-o", "json").stdout
    )
    return found


def _pod_writes(plane: ControlPlane) -> dict[str, float]:
    """Pod creates and deletes the API server has answered since it started, whoever sent them."""
    counts = {"POST": 0.0, "DELETE": 0.0}
    pattern = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
    for line in plane.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        if (
            labels.get("resource") == "pods"
            and not labels.get("subresource")
            and labels.get("verb") in ("POST", "CREATE", "DELETE")
        ):
            verb = "DELETE" if labels["verb"] == "DELETE" else "POST"
            counts[verb] += float(match.group("value"))
    return counts


def _headless_services(plane: ControlPlane) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        plane.kubectl(
            "get", "services", "-n", NAMESPACE, "-l", "ray.io/headless-worker-svc=multi-host", "-o", "json"
        ).stdout
    )["items"]
    return items


def _ready(plane: ControlPlane) -> bool:
    for name in CLUSTERS:
        status = _cluster(plane, name).get("status") or {}
        if status.get("state") != "ready":
            return False
    return len(_pods(plane)) == sum(CLUSTERS.values())


def _conditions(cluster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (cluster.get("status") or {}).get("conditions", [])}


def _reconciled_by_us(plane: ControlPlane) -> bool:
    # SpecValid is a condition only kuberay-py writes: once every cluster has it, each was reconciled.
    return all("SpecValid" in _conditions(_cluster(plane, name)) for name in CLUSTERS)


def _group_pods(plane: ControlPlane, cluster: str, group: str) -> list[str]:
    return sorted(
        name
        for name, pod in _pods(plane).items()
        if pod["metadata"]["labels"].get("ray.io/cluster") == cluster
        and pod["metadata"]["labels"].get("ray.io/group") == group
        and not pod["metadata"].get("deletionTimestamp")
    )


def test_kuberay_py_takes_over_kuberays_clusters_without_restarting_a_pod(
    moved: Moved,
) -> None:
    plane, kuberay, log_dir = moved.plane, moved.kuberay, moved.log_dir
    plane.kubectl("create", "namespace", NAMESPACE)
    for sample in ("ray-cluster.heterogeneous.yaml", "ray-cluster.autoscaler.yaml"):
        plane.kubectl("create", "-n", NAMESPACE, "-f", str(OUR_SAMPLES / sample))
    plane.kubectl("create", "-n", NAMESPACE, "-f", "-", input=MULTI_HOST)
    blocking(eventually(lambda: _ready(plane), timeout=120, what="KubeRay's clusters ready"))
    before = {name: pod["metadata"]["uid"] for name, pod in _pods(plane).items()}
    provisioned = {n: _conditions(_cluster(plane, n))["RayClusterProvisioned"] for n in CLUSTERS}
    (headless,) = _headless_services(plane)

    kuberay.stop()
    writes_before = _pod_writes(plane)
    # The switch: kuberay-py's CRD (the same ray.io/v1 storage version) replaces KubeRay's, then it starts.
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(OUR_CRD))
    install_crds(plane, [])
    ours = OperatorProcess(plane.kubeconfig, log_dir / "kuberay-py.log")
    ours.start()
    try:
        blocking(
            eventually(
                lambda: _reconciled_by_us(plane), timeout=60, what="kuberay-py reconciling every cluster"
            )
        )
        # A few more reconciles' worth of time, so a late create or delete would be seen.
        blocking(eventually(lambda: ours.metrics() != "", timeout=10))
        time.sleep(5)
        after = {name: pod["metadata"]["uid"] for name, pod in _pods(plane).items()}
        assert after == before, "the switch created or deleted pods"
        assert _pod_writes(plane) == writes_before, "pods were created or deleted during the switch"
        for name in CLUSTERS:
            cluster = _cluster(plane, name)
            assert cluster["status"]["state"] == "ready", name
            kept = _conditions(cluster)["RayClusterProvisioned"]
            assert (
                kept["status"] == "True"
                and kept["lastTransitionTime"] == provisioned[name]["lastTransitionTime"]
            )
            assert cluster["status"].get("outdatedPods", 0) == 0, name
        # KubeRay's headless worker Service is kept, and labelled for the operator's cache.
        blocking(
            eventually(
                lambda: (
                    [s["metadata"].get("labels", {}).get("ray.io/cluster") for s in _headless_services(plane)]
                    == ["multi-host"]
                ),
                timeout=30,
                what="the headless worker Service labelled",
            )
        )
        assert _headless_services(plane)[0]["metadata"]["uid"] == headless["metadata"]["uid"]

        # Scaling up and down by name works on the adopted pods.
        group = _group_pods(plane, "raycluster-heterogeneous", "small-group")
        assert len(group) == 3
        _patch(
            plane,
            "raycluster-heterogeneous",
            "json",
            [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 4}],
        )
        blocking(
            eventually(
                lambda: len(_group_pods(plane, "raycluster-heterogeneous", "small-group")) == 4, timeout=30
            )
        )
        victim = group[0]
        patch = [
            {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 3},
            {
                "op": "add",
                "path": "/spec/workerGroupSpecs/0/scaleStrategy",
                "value": {"workersToDelete": [victim]},
            },
        ]
        _patch(plane, "raycluster-heterogeneous", "json", patch)
        blocking(
            eventually(
                lambda: (
                    (names := _group_pods(plane, "raycluster-heterogeneous", "small-group"))
                    and len(names) == 3
                    and victim not in names
                ),
                timeout=30,
                what=f"{victim} deleted and 3 small-group workers",
            )
        )

        # upgradeStrategy on an adopted cluster: nothing is outdated until the template changes.
        multi = sorted(p for p in _pods(plane) if p.startswith("multi-host"))
        _patch(plane, "multi-host", "merge", {"spec": {"upgradeStrategy": {"type": "Recreate"}}})
        blocking(
            eventually(
                lambda: (
                    _cluster(plane, "multi-host")["metadata"]["generation"]
                    == (_cluster(plane, "multi-host")["status"] or {}).get("observedGeneration")
                ),
                timeout=30,
            )
        )
        time.sleep(3)
        assert sorted(p for p in _pods(plane) if p.startswith("multi-host")) == multi
        assert _cluster(plane, "multi-host")["status"].get("outdatedPods", 0) == 0
        template_change = [
            {
                "op": "add",
                "path": "/spec/workerGroupSpecs/0/template/metadata",
                "value": {"labels": {"changed": "yes"}},
            }
        ]
        _patch(plane, "multi-host", "json", template_change)
        blocking(
            eventually(
                lambda: not (set(multi) & set(_pods(plane))) and _ready_count(plane, "multi-host") == 5,
                timeout=60,
                what="every multi-host pod recreated from the new template",
            )
        )

        # Suspend removes every pod of the cluster.
        _patch(plane, "raycluster-autoscaler", "merge", {"spec": {"suspend": True}})
        blocking(
            eventually(
                lambda: not [p for p in _pods(plane) if p.startswith("raycluster-autoscaler")],
                timeout=60,
                what="suspended cluster's pods gone",
            )
        )
        blocking(
            eventually(
                lambda: (
                    (_cluster(plane, "raycluster-autoscaler").get("status") or {}).get("state") == "suspended"
                ),
                timeout=30,
            )
        )
    finally:
        ours.stop()


def _patch(plane: ControlPlane, cluster: str, kind: str, body: object) -> None:
    """A JSON or merge patch of one RayCluster, as a user's kubectl sends it."""
    plane.kubectl("patch", "raycluster", cluster, "-n", NAMESPACE, f"--type={kind}", "-p", json.dumps(body))


def _ready_count(plane: ControlPlane, cluster: str) -> int:
    return sum(
        1
        for pod in _pods(plane).values()
        if pod["metadata"]["labels"].get("ray.io/cluster") == cluster
        and not pod["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    )
