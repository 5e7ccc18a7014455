"""status.desiredCPU/Memory/GPU/TPU: what KubeRay reports for the same cluster, printed as Kubernetes prints
quantities."""

from __future__ import annotations

from typing import Any

from kuberay_py.builders import BuildOptions
from kuberay_py.controllers.raycluster.capacity import desired_capacity, is_gpu
from kuberay_py.controllers.raycluster.desired import build_desired
from tests.unit.builders.support import container, manifest, parse, worker


def _template(*resources: dict[str, Any]) -> dict[str, Any]:
    """A pod template of one container per `resources`."""
    return {"spec": {"containers": [container(f"c{i}", resources=r) for i, r in enumerate(resources)]}}


def _head(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"template": _template(*resources)}


def _group(name: str, *resources: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return worker(name, template=_template(*resources), **fields)


def _capacity(head: dict[str, Any], *groups: dict[str, Any], **spec: Any) -> dict[str, str]:
    return desired_capacity(parse(manifest(head=head, workers=list(groups), **spec)))


def _desired(cpu: str, memory: str, gpu: str = "0", tpu: str = "0") -> dict[str, str]:
    """The whole status.desired* block, as the cluster's status reports it."""
    return {"desiredCPU": cpu, "desiredMemory": memory, "desiredGPU": gpu, "desiredTPU": tpu}


def test_decimal_sums_keep_their_suffix() -> None:
    head = _head({"requests": {"memory": "1G", "cpu": "1"}})
    workers = _group("w", {"requests": {"memory": "2G", "cpu": "500m"}}, replicas=1)
    assert _capacity(head, workers) == _desired("1500m", "3G")


def test_binary_sums_and_the_head_alone() -> None:
    head = _head({"limits": {"memory": "2Gi", "cpu": "1.5"}})
    assert _capacity(head) == _desired("1500m", "2Gi")
    workers = _group("w", {"limits": {"memory": "512Mi", "cpu": "250m"}}, replicas=2)
    assert _capacity(head, workers)["desiredMemory"] == "3Gi"
    assert _capacity(head, workers)["desiredCPU"] == "2"


def test_the_left_side_keeps_its_format() -> None:
    # Binary head first: the sum stays binary, and 1Gi + 1G has no exact binary suffix.
    head = _head({"requests": {"memory": "1Gi"}})
    assert _capacity(head, _group("w", {"requests": {"memory": "1G"}}))["desiredMemory"] == "2073741824"
    # A head that asks for nothing leaves the format to the first group that does.
    empty = _head({})
    assert _capacity(empty, _group("w", {"requests": {"memory": "1Gi"}}, replicas=3)) == _desired("0", "3Gi")


def test_a_lone_quantity_prints_as_written_when_kubernetes_keeps_its_text() -> None:
    assert _capacity(_head({"requests": {"cpu": "1.500"}}))["desiredCPU"] == "1.500"
    assert _capacity(_head({"requests": {"cpu": "1.5"}}))["desiredCPU"] == "1500m"
    assert _capacity(_head({"requests": {"cpu": 0.5}}))["desiredCPU"] == "500m"
    assert _capacity(_head({"requests": {"memory": "1024Mi"}}))["desiredMemory"] == "1Gi"
    # A worker's quantity is always multiplied (by numOfHosts at least), which drops the text.
    group = _group("w", {"requests": {"cpu": "1.500"}}, replicas=1)
    assert _capacity(_head({}), group)["desiredCPU"] == "1500m"


def test_requests_win_over_limits_per_resource_and_containers_add_up() -> None:
    head = _head(
        {"requests": {"cpu": "1"}, "limits": {"cpu": "4", "memory": "2Gi"}},
        {"requests": {"cpu": "100m", "memory": "128Mi"}},
    )
    assert _capacity(head) == _desired("1100m", "2176Mi")


def test_workers_count_replicas_as_written_times_hosts_and_skip_suspended_groups() -> None:
    head = _head({"requests": {"cpu": "1"}})
    # replicas above maxReplicas still count as written, as KubeRay counts them.
    over = _group("over", {"requests": {"cpu": "1"}}, replicas=7, maxReplicas=2)
    hosts = _group("hosts", {"requests": {"cpu": "2", "google.com/tpu": "4"}}, replicas=2, numOfHosts=2)
    paused = _group("paused", {"requests": {"cpu": "100"}}, replicas=3, suspend=True)
    none = _group("none", {"requests": {"cpu": "100"}}, replicas=0)
    assert _capacity(head, over, hosts, paused, none) == _desired("16", "0", tpu="16")


def test_a_suspended_cluster_still_reports_what_it_would_ask_for() -> None:
    head = _head({"requests": {"cpu": "1"}})
    workers = _group("w", {"requests": {"cpu": "1"}}, replicas=2)
    assert _capacity(head, workers, suspend=True)["desiredCPU"] == "3"


def test_gpus_of_every_kind_add_up_and_only_googles_tpus_count() -> None:
    head = _head({"limits": {"nvidia.com/gpu": "1", "amd.com/gpu": "2", "example.com/tpu": "8"}})
    workers = _group("w", {"limits": {"nvidia.com/mig-1g.5gb": "1", "nvidia.com/gpu": "0"}}, replicas=2)
    capacity = _capacity(head, workers)
    assert capacity["desiredGPU"] == "5"
    assert capacity["desiredTPU"] == "0"


def test_gpu_resource_names() -> None:
    assert is_gpu("nvidia.com/gpu") and is_gpu("amd.com/gpu") and is_gpu("gpu")
    assert is_gpu("nvidia.com/mig-2g.32gb") and not is_gpu("nvidia.com/mig-2g")
    assert not is_gpu("google.com/tpu") and not is_gpu("cpu")


def test_the_autoscaler_sidecar_does_not_count() -> None:
    head = _head({"requests": {"cpu": "1", "memory": "1Gi"}})
    raw = manifest(head=head, workers=[], enableInTreeAutoscaling=True)
    assert build_desired(parse(raw), BuildOptions()).capacity() == _desired("1", "1Gi")


def test_a_malformed_quantity_counts_as_nothing() -> None:
    head = _head({"requests": {"cpu": "lots", "memory": "1Gi"}})
    assert _capacity(head)["desiredCPU"] == "0"
