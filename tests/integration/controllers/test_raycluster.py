"""The RayCluster controller end to end: the real API server, the simulated kubelet, the operator process."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kuberay_py.runtime import KubeClient
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.kubelet import FAIL_ANNOTATION, UNREADY_ANNOTATION
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.controllers.objects import (
    IMAGE,
    create,
    kubectl,
    manifest,
    patch,
    raycluster,
    ready,
    scale,
    wait_state,
)
from tests.integration.controllers.tracking import PodTracker, StatusTracker
from tests.integration.install_support import new_namespace
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("operator")

SAMPLES = Path(__file__).resolve().parents[3] / "config" / "samples"


async def test_heterogeneous_sample_comes_up_ready(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    sample = SAMPLES / "ray-cluster.heterogeneous.yaml"
    docs = [d for d in yaml.safe_load_all(sample.read_text()) if d]
    name = next(d["metadata"]["name"] for d in docs if d["kind"] == "RayCluster")
    async with PodTracker(kube, namespace, name) as pods:
        await kubectl(control_plane, "create", "-n", namespace, "-f", str(sample))
        rc = await wait_state(control_plane, namespace, name)
        assert len(pods.ready("headgroup")) == 1
        assert len(pods.ready("small-group")) == 3
        assert len(pods.ready("medium-group")) == 1
        assert pods.max_active == {"headgroup": 1, "small-group": 3, "medium-group": 1}

    status = rc["status"]
    assert status["readyWorkerReplicas"] == 4 and status["availableWorkerReplicas"] == 4
    assert status["desiredWorkerReplicas"] == 4
    assert status["head"]["serviceName"] == f"{name}-head-svc"
    assert status["head"]["podIP"].startswith("127.")
    assert status["endpoints"]["gcs-server"] == "6379"
    assert status["observedGeneration"] == rc["metadata"]["generation"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["HeadPodReady"] == "True" and conditions["RayClusterProvisioned"] == "True"

    service = json.loads(
        (await kubectl(control_plane, "get", "svc", f"{name}-head-svc", "-n", namespace, "-o", "json")).stdout
    )
    assert service["metadata"]["ownerReferences"][0]["uid"] == rc["metadata"]["uid"]
    table = (await kubectl(control_plane, "get", "rayclusters", "-n", namespace)).stdout
    header, row = table.splitlines()[:2]
    # The CRD's additionalPrinterColumns of priority 0, upper-cased; kubectl pads columns with 3 spaces.
    assert re.split(r"\s{2,}", header.strip()) == [
        "NAME",
        "DESIRED WORKERS",
        "AVAILABLE WORKERS",
        "CPUS",
        "MEMORY",
        "GPUS",
        "STATUS",
        "AGE",
    ]
    assert row.split()[0] == name and "ready" in row.split()


async def test_replicas_follow_patches_exactly_and_are_clamped(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    scaled = manifest("scale", {"groupName": "g", "replicas": 2, "minReplicas": 1, "maxReplicas": 6})
    async with ready(control_plane, kube, namespace, scaled) as pods:
        for replicas, expected in ((5, 5), (2, 2), (50, 6), (0, 1)):
            await patch(
                control_plane,
                namespace,
                "scale",
                {
                    "spec": {
                        "workerGroupSpecs": [
                            {
                                **manifest("x", {"groupName": "g"})["spec"]["workerGroupSpecs"][0],
                                "replicas": replicas,
                                "minReplicas": 1,
                                "maxReplicas": 6,
                            }
                        ]
                    }
                },
            )
            await eventually(
                lambda expected=expected: (
                    len(pods.ready("g")) == expected and len(pods.active("g")) == expected
                ),
                what=f"{expected} workers",
            )
            rc = await wait_state(control_plane, namespace, "scale")
            assert rc["status"]["desiredWorkerReplicas"] == expected
        assert pods.max_active["g"] == 6, "more workers than the clamped maximum existed at some moment"


def _in_group(pod: dict[str, Any], group: str) -> bool:
    return bool(pod["metadata"]["labels"].get("ray.io/group") == group)


async def test_autoscaler_shaped_patch_deletes_exactly_the_named_pods(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    rc = manifest("auto", {"groupName": "g", "replicas": 4}, enableInTreeAutoscaling=True)
    async with ready(control_plane, kube, namespace, rc) as pods:
        names = sorted(p["metadata"]["name"] for p in pods.active("g"))
        assert len(names) == 4
        victims, survivors = names[:2], names[2:]
        seen_before = set(pods.names_seen)
        body = [
            {"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 2},
            {
                "op": "replace",
                "path": "/spec/workerGroupSpecs/0/scaleStrategy",
                "value": {"workersToDelete": victims},
            },
        ]
        await patch(control_plane, namespace, "auto", body, kind="json")
        await eventually(
            lambda: sorted(p["metadata"]["name"] for p in pods.pods() if _in_group(p, "g")) == survivors,
            what="victims gone",
        )
        await asyncio.sleep(3)  # give a wrong controller time to create replacements or delete more
        assert sorted(p["metadata"]["name"] for p in pods.active("g")) == survivors
        assert pods.names_seen == seen_before, "a pod was created in place of the deleted ones"
        assert sorted(pods.deleted) == victims
        assert pods.max_active["g"] == 4
        # Stale names stay in workersToDelete; they must not disturb anything later.
        await scale(control_plane, namespace, "auto", 3)
        await eventually(lambda: len(pods.ready("g")) == 3, what="scale back up to 3")
        assert set(survivors) <= {p["metadata"]["name"] for p in pods.active("g")}


async def test_failed_and_deleted_pods_are_replaced_and_status_tells_the_truth(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    await create(control_plane, namespace, manifest("heal", {"groupName": "g", "replicas": 2}))
    async with PodTracker(kube, namespace, "heal") as pods, StatusTracker(kube, namespace, "heal") as states:
        await wait_state(control_plane, namespace, "heal")

        async def left_ready_and_came_back(mark: int) -> dict[str, Any]:
            await eventually(lambda: states.left_ready_since(mark), what="status to leave ready")
            return await wait_state(control_plane, namespace, "heal")

        await pods.sees(headgroup=1, g=2)
        worker = pods.active("g")[0]["metadata"]["name"]
        mark = states.mark()
        await kubectl(
            control_plane, "annotate", "pod", worker, "-n", namespace, f"{FAIL_ANNOTATION}=simulated OOM"
        )
        await left_ready_and_came_back(mark)
        await pods.sees(headgroup=1, g=2)
        assert worker not in {p["metadata"]["name"] for p in pods.active("g")}
        assert len(pods.ready("g")) == 2

        head = pods.active("headgroup")[0]["metadata"]["name"]
        mark = states.mark()
        await kubectl(control_plane, "delete", "pod", head, "-n", namespace, "--wait=false")
        rc = await left_ready_and_came_back(mark)
        await pods.sees(headgroup=1, g=2)
        new_head = pods.active("headgroup")
        assert len(new_head) == 1 and new_head[0]["metadata"]["name"] != head
        assert rc["status"]["head"]["podName"] == new_head[0]["metadata"]["name"]

        # An unready worker keeps the cluster out of ready for as long as it lasts, and says why.
        unready = pods.active("g")[0]["metadata"]["name"]
        await kubectl(
            control_plane, "annotate", "pod", unready, "-n", namespace, f"{UNREADY_ANNOTATION}=true"
        )
        rc = await wait_state(control_plane, namespace, "heal", ready=False, timeout=30)
        assert "workers not ready: g 1/2" in rc["status"]["reason"]
        await asyncio.sleep(2)
        assert (await raycluster(control_plane, namespace, "heal"))["status"].get("state") != "ready"
        await kubectl(control_plane, "annotate", "pod", unready, "-n", namespace, f"{UNREADY_ANNOTATION}-")
        rc = await wait_state(control_plane, namespace, "heal")
        assert rc["status"]["stateTransitionTimes"]["ready"]


async def test_clusters_in_two_namespaces_are_independent_and_deletion_cascades(
    control_plane: ControlPlane, namespace: str, kube: KubeClient
) -> None:
    other = new_namespace(control_plane, "rc")
    try:
        await create(control_plane, namespace, manifest("one", {"groupName": "g", "replicas": 1}))
        await create(control_plane, namespace, manifest("two", {"groupName": "g", "replicas": 2}))
        await create(control_plane, other, manifest("one", {"groupName": "g", "replicas": 3}))
        for ns, name in ((namespace, "one"), (namespace, "two"), (other, "one")):
            await wait_state(control_plane, ns, name)
        counts = {}
        for ns, name in ((namespace, "one"), (namespace, "two"), (other, "one")):
            out = await kubectl(
                control_plane,
                "get",
                "pods",
                "-n",
                ns,
                "-l",
                f"ray.io/cluster={name},ray.io/node-type=worker",
                "-o",
                "name",
            )
            counts[(ns, name)] = len(out.stdout.split())
        assert counts == {(namespace, "one"): 1, (namespace, "two"): 2, (other, "one"): 3}

        await kubectl(control_plane, "delete", "raycluster", "two", "-n", namespace)

        async def gone() -> bool:
            out = await kubectl(
                control_plane, "get", "pods,svc", "-n", namespace, "-l", "ray.io/cluster=two", "-o", "name"
            )
            return not out.stdout.strip()

        await eventually(gone, what="pods and Services of the deleted cluster garbage-collected")
        rc = await raycluster(control_plane, other, "one")
        assert rc["status"]["state"] == "ready"
    finally:
        await kubectl(control_plane, "delete", "namespace", other, "--wait=false")


async def test_invalid_spec_is_reported_and_other_clusters_are_unaffected(
    control_plane: ControlPlane, namespace: str
) -> None:
    bad = manifest("bad", {"groupName": "g", "replicas": 1})
    # Two containers with one name: CEL cannot compare list items this way, so the controller must catch it.
    bad["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"].append(
        {"name": "ray-worker", "image": IMAGE}
    )
    await create(control_plane, namespace, bad)
    await create(control_plane, namespace, manifest("good", {"groupName": "g", "replicas": 1}))
    await wait_state(control_plane, namespace, "good")

    async def reported() -> dict[str, Any] | None:
        rc = await raycluster(control_plane, namespace, "bad")
        valid = next(
            (c for c in (rc.get("status") or {}).get("conditions") or [] if c["type"] == "SpecValid"), None
        )
        return valid if valid and valid["status"] == "False" else None

    condition = await eventually(reported, what="SpecValid=False")
    assert "container" in condition["message"]
    pods = await kubectl(
        control_plane, "get", "pods", "-n", namespace, "-l", "ray.io/cluster=bad", "-o", "name"
    )
    assert pods.stdout.strip() == ""

    async def warning_events() -> list[dict[str, Any]]:
        # The recorder batches Events (about once a second), so the Event may trail the condition.
        selector = "reason=InvalidRayClusterSpec"
        out = await kubectl(
            control_plane, "get", "events", "-n", namespace, "--field-selector", selector, "-o", "json"
        )
        items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
        return items

    events = await eventually(warning_events, timeout=30, what="a Warning Event for the invalid spec")
    assert events[0]["type"] == "Warning" and events[0]["involvedObject"]["name"] == "bad"


async def test_autoscaling_cluster_gets_sidecar_and_rbac(control_plane: ControlPlane, namespace: str) -> None:
    sample = SAMPLES / "ray-cluster.autoscaler.yaml"
    name = next(
        d["metadata"]["name"]
        for d in yaml.safe_load_all(sample.read_text())
        if d and d["kind"] == "RayCluster"
    )
    await kubectl(control_plane, "create", "-n", namespace, "-f", str(sample))
    await wait_state(control_plane, namespace, name)
    head = json.loads(
        (
            await kubectl(
                control_plane,
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                f"ray.io/cluster={name},ray.io/node-type=head",
                "-o",
                "json",
            )
        ).stdout
    )["items"][0]
    containers = [c["name"] for c in head["spec"]["containers"]]
    assert "autoscaler" in containers
    assert head["spec"]["serviceAccountName"] == name
    for kind in ("serviceaccount", "role", "rolebinding"):
        await kubectl(control_plane, "get", kind, name, "-n", namespace)
    role = json.loads(
        (await kubectl(control_plane, "get", "role", name, "-n", namespace, "-o", "json")).stdout
    )
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): sorted(r["verbs"]) for r in role["rules"]}
    assert rules[(("",), ("pods",))] == ["get", "list", "patch", "watch"]
    assert rules[(("ray.io",), ("rayclusters",))] == ["get", "patch"]


async def test_operator_exposes_metrics(operator: OperatorProcess) -> None:
    text = operator.metrics()
    for name in ("controller_runtime_reconcile_total", "workqueue_depth", "rest_client_requests_total"):
        assert name in text
    assert 'controller="raycluster"' in text


def _kuberay_series(text: str, uid: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """KubeRay's RayCluster series of one cluster in a scrape, by metric name."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("kuberay_cluster_") and sample.labels.get("uid") == uid:
                found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


async def test_kuberays_raycluster_metrics_follow_a_cluster_from_ready_to_deleted(
    control_plane: ControlPlane, namespace: str, operator: OperatorProcess
) -> None:
    await create(control_plane, namespace, manifest("metrics", {"groupName": "g", "replicas": 1}))
    rc = await wait_state(control_plane, namespace, "metrics")
    uid = rc["metadata"]["uid"]
    condition = next(c for c in rc["status"]["conditions"] if c["type"] == "RayClusterProvisioned")
    assert condition["status"] == "True"
    took = (
        datetime.fromisoformat(condition["lastTransitionTime"])
        - datetime.fromisoformat(rc["metadata"]["creationTimestamp"])
    ).total_seconds()

    async def provisioned_series() -> dict[str, list[tuple[dict[str, str], float]]] | None:
        series = _kuberay_series(await asyncio.to_thread(operator.metrics), uid)
        return series if "kuberay_cluster_provisioned_duration_seconds" in series else None

    series = await eventually(provisioned_series, timeout=30, what="the cluster's kuberay_cluster_* series")
    ids = {"name": "metrics", "namespace": namespace, "uid": uid}
    assert series == {
        "kuberay_cluster_info": [({**ids, "owner_kind": "None"}, 1.0)],
        "kuberay_cluster_condition_provisioned": [({**ids, "condition": "true"}, 1.0)],
        "kuberay_cluster_provisioned_duration_seconds": [(ids, took)],
    }
    assert took >= 0

    await kubectl(control_plane, "delete", "raycluster", "metrics", "-n", namespace)

    async def gone() -> bool:
        return not _kuberay_series(await asyncio.to_thread(operator.metrics), uid)

    await eventually(gone, timeout=30, what="the deleted cluster's series to go")
