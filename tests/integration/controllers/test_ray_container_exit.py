"""A Ray container that exits for good while a sidecar keeps its pod Running: that pod is no Ray node any
more, and the operator replaces it, the head as well as a worker, touching no other pod."""

from __future__ import annotations

from kuberay_py.runtime import KubeClient
from kuberay_py.testing.controlplane import ControlPlane, log_tail
from kuberay_py.testing.kubelet import TERMINATE_ANNOTATION
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.controllers.objects import create, kubectl, manifest, wait_state
from tests.integration.controllers.tracking import PodTracker
from tests.waiting import eventually


async def test_a_pod_whose_ray_container_exited_for_good_is_replaced(
    control_plane: ControlPlane, namespace: str, kube: KubeClient, operator: OperatorProcess
) -> None:
    obj = manifest("exits", {"groupName": "g", "replicas": 2}, enableInTreeAutoscaling=True)
    obj["spec"]["headGroupSpec"]["template"]["spec"]["restartPolicy"] = "Never"
    worker_spec = obj["spec"]["workerGroupSpecs"][0]["template"]["spec"]
    worker_spec["restartPolicy"] = "Never"
    worker_spec["containers"].append({"name": "log-shipper", "image": "busybox:1.36"})
    async with PodTracker(kube, namespace, "exits") as pods:
        await create(control_plane, namespace, obj)
        await wait_state(control_plane, namespace, "exits")
        await pods.sees(headgroup=1, g=2)
        head = pods.active("headgroup")[0]["metadata"]["name"]
        victim, bystander = sorted(p["metadata"]["name"] for p in pods.active("g"))
        # The head's autoscaler sidecar, and the worker's log shipper, keep those pods Running.
        for pod, container in ((head, "ray-head"), (victim, "ray-worker")):
            await kubectl(
                control_plane,
                "annotate",
                "pod",
                pod,
                "-n",
                namespace,
                f"{TERMINATE_ANNOTATION}={container}:1",
            )
        try:
            await eventually(
                lambda: head in pods.deleted and victim in pods.deleted,
                timeout=60,
                what=f"{head} and {victim} replaced",
            )
        except AssertionError as exc:
            # Which side stalled, the kubelet's exit or the operator's deletion, is read from here.
            raise AssertionError(
                f"{exc}\npods: {_container_states(pods)}\noperator: {operator.log_tail()}\n"
                f"kubelet: {log_tail(control_plane.log_dir / 'kubelet.log', 40)}"
            ) from None
        await wait_state(control_plane, namespace, "exits")
        assert bystander not in pods.deleted, "a healthy worker was touched"
        assert {p["metadata"]["name"] for p in pods.active("g")} >= {bystander}
        assert len(pods.active("g")) == 2 and len(pods.active("headgroup")) == 1
        assert pods.max_active["headgroup"] == 1 and pods.max_active["g"] == 2


def _container_states(pods: PodTracker) -> dict[str, object]:
    return {
        pod["metadata"]["name"]: {
            "deleting": "deletionTimestamp" in pod["metadata"],
            "annotations": pod["metadata"].get("annotations"),
            "phase": (pod.get("status") or {}).get("phase"),
            "containers": {
                c.get("name"): c.get("state")
                for c in (pod.get("status") or {}).get("containerStatuses") or []
            },
        }
        for pod in pods.pods()
    }
