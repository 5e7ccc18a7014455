import asyncio

from prometheus_client import generate_latest

from kuberay_py.runtime.controller import Controller
from kuberay_py.runtime.leader import LeaderElector
from kuberay_py.runtime.metrics import REGISTRY
from kuberay_py.runtime.reconcile import Request, Result
from kuberay_py.runtime.resources import CONFIG_MAPS
from kuberay_py.testing.memory_client import InMemoryClient
from tests.runtime_metrics import untyped
from tests.unit.runtime.runtime_unit_support import configmap, sample


class Flaky:
    def __init__(self) -> None:
        self.calls = 0

    async def reconcile(self, request: Request) -> Result:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("first call fails")
        return Result()


async def test_exposition_uses_controller_runtime_names_and_labels():
    client = InMemoryClient()
    await client.create(CONFIG_MAPS, configmap("a"))
    await LeaderElector(client, name="metrics-lease", namespace="default").acquire()
    controller = Controller("metrics-test", Flaky())
    await controller.reconcile_once(Request("default", "a"))
    await controller.reconcile_once(Request("default", "a"))
    controller.queue.add(Request("default", "b"))
    await controller.queue.get()  # in progress: feeds the in-progress gauges

    text = generate_latest(REGISTRY).decode()
    assert untyped(text) == []
    assert 'controller_runtime_reconcile_total{controller="metrics-test",result="error"} 1.0' in text
    assert 'controller_runtime_reconcile_total{controller="metrics-test",result="success"} 1.0' in text
    assert 'controller_runtime_reconcile_errors_total{controller="metrics-test"} 1.0' in text
    assert 'workqueue_depth{controller="metrics-test",name="metrics-test"}' in text
    assert (
        'workqueue_longest_running_processor_seconds{controller="metrics-test",name="metrics-test"}' in text
    )
    assert 'rest_client_requests_total{code="201",verb="create"}' in text
    assert 'leader_election_master_status{name="metrics-lease"} 1.0' in text
    assert "_created" not in text, "controller-runtime exports no *_created series"
    assert sample("controller_runtime_active_workers", controller="metrics-test") == 0


async def test_in_progress_gauges_grow_while_work_is_running():
    controller = Controller("in-progress", Flaky())
    controller.queue.add(Request("default", "a"))
    await controller.queue.get()
    await asyncio.sleep(0.02)
    labels = {"controller": "in-progress", "name": "in-progress"}
    assert sample("workqueue_longest_running_processor_seconds", **labels) >= 0.01
    assert sample("workqueue_unfinished_work_seconds", **labels) >= 0.01
    controller.queue.done(Request("default", "a"))
    assert sample("workqueue_longest_running_processor_seconds", **labels) == 0
