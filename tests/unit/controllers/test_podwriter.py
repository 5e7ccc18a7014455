"""The pod writer against an in-memory API that loses answers, fails and refuses: never a pod twice."""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from kuberay_py.controllers.raycluster.expectations import Expectations
from kuberay_py.controllers.raycluster.plan import Deletion
from kuberay_py.controllers.raycluster.podwriter import (
    CreateRequest,
    PodWriter,
    WriterOptions,
    WritesFenced,
    final_name,
)
from kuberay_py.runtime import PODS, TooManyRequests
from kuberay_py.runtime.errors import ServerTimeout, TransportError
from kuberay_py.testing.memory_client import InMemoryClient

NS = "default"
OWNER = "cluster-uid"
KEY = f"{NS}/demo"


class LossyClient(InMemoryClient):
    """Pod creates follow a script: "lose" makes the pod and loses the answer, "504" fails after making it,
    "429"/"reset" fail before; anything else (or an empty script) is answered normally."""

    def __init__(self, script: list[str]) -> None:
        super().__init__()
        self.script = deque(script)
        self.creates = 0

    async def create(self, resource: Any, obj: Any, namespace: Any = None, **kwargs: Any) -> Any:
        if resource is not PODS:
            return await super().create(resource, obj, namespace, **kwargs)
        self.creates += 1
        step = self.script.popleft() if self.script else "ok"
        if step == "429":
            raise TooManyRequests("slow down")
        if step == "reset":
            raise TransportError("connection reset before the request was read")
        made = await super().create(resource, obj, namespace, **kwargs)
        if step == "lose":
            raise TransportError("connection reset after the request was sent")
        if step == "504":
            raise ServerTimeout("the server timed out waiting for etcd")
        return made


def pod_request(group: str = "small") -> CreateRequest:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"demo-{group}-worker-",
            "namespace": NS,
            "labels": {"ray.io/group": group, "ray.io/node-type": "worker", "ray.io/cluster": "demo"},
            "ownerReferences": [{"uid": OWNER, "kind": "RayCluster", "name": "demo"}],
        },
        "spec": {"containers": [{"name": "ray-worker", "image": "rayproject/ray:2.60.0"}]},
    }
    return CreateRequest(group, pod)


def writer(client: InMemoryClient, **kwargs: Any) -> PodWriter:
    expectations = Expectations(lambda: None)
    options = WriterOptions(retry_seconds=kwargs.pop("retry_seconds", 5.0))
    return PodWriter(client, expectations, options, **kwargs)


def pods(client: InMemoryClient) -> list[dict[str, Any]]:
    return client.objects(PODS)


def test_names_are_final_before_sending() -> None:
    pod = final_name(pod_request().pod)
    name = pod["metadata"]["name"]
    assert "generateName" not in pod["metadata"]
    assert name.startswith("demo-small-worker-") and len(name) == len("demo-small-worker-") + 5


@pytest.mark.parametrize("fault", ["lose", "504"])
async def test_a_create_whose_answer_is_lost_is_found_by_name_not_made_twice(fault: str) -> None:
    client = LossyClient([fault])
    outcome = await writer(client).create(KEY, OWNER, [pod_request() for _ in range(3)])
    assert outcome.failure is None and outcome.created == {"small": 3}
    assert len(pods(client)) == 3, "the resent create met the pod the lost one made"
    assert client.creates == 4


@pytest.mark.parametrize("fault", ["429", "reset"])
async def test_transient_refusals_are_retried_per_write(fault: str) -> None:
    client = LossyClient([fault, fault, fault])
    outcome = await writer(client).create(KEY, OWNER, [pod_request()])
    assert outcome.failure is None and outcome.created == {"small": 1}
    assert len(pods(client)) == 1 and client.creates == 4


async def test_a_name_taken_by_another_owner_gets_a_new_name() -> None:
    client = LossyClient([])
    taken = final_name(pod_request().pod)
    taken["metadata"]["ownerReferences"] = [{"uid": "someone-else"}]
    await client.create(PODS, taken, NS)
    clash = pod_request()
    clash.pod["metadata"]["name"] = taken["metadata"]["name"]
    outcome = await writer(client).create(KEY, OWNER, [clash])
    assert outcome.created == {"small": 1}
    names = sorted(p["metadata"]["name"] for p in pods(client))
    assert len(names) == 2 and names[0] != names[1]


async def test_a_create_still_unanswered_is_in_doubt_and_settled_before_planning() -> None:
    client = LossyClient(["lose"] + ["reset"] * 1000)  # made, then the API server is out of reach
    pod_writer = writer(client, retry_seconds=0.3)
    outcome = await pod_writer.create(KEY, OWNER, [pod_request()])
    assert outcome.failure is not None and pod_writer.in_doubt(KEY) == 1
    assert len(pods(client)) == 1
    client.script.clear()
    settled = await pod_writer.settle(KEY, OWNER)
    assert settled.failure is None and settled.created == {"small": 1}
    assert pod_writer.in_doubt(KEY) == 0 and len(pods(client)) == 1


async def test_a_refused_create_is_not_in_doubt() -> None:
    client = LossyClient(["429"] * 1000)
    pod_writer = writer(client, retry_seconds=0.2)
    outcome = await pod_writer.create(KEY, OWNER, [pod_request()])
    assert isinstance(outcome.failure, TooManyRequests) and pod_writer.in_doubt(KEY) == 0


async def test_no_write_leaves_a_process_that_does_not_hold_the_lease() -> None:
    client = LossyClient([])
    pod_writer = writer(client, may_write=lambda: False)
    outcome = await pod_writer.create(KEY, OWNER, [pod_request()])
    assert isinstance(outcome.failure, WritesFenced) and client.creates == 0
    await client.create(PODS, final_name(pod_request().pod), NS)
    deleted = await pod_writer.delete(KEY, [Deletion(pods(client)[0], "ScaleDown")])
    assert isinstance(deleted.failure, WritesFenced) and len(pods(client)) == 1


async def test_deleting_a_pod_already_gone_or_replaced_is_no_failure() -> None:
    client = LossyClient([])
    made = await client.create(PODS, final_name(pod_request().pod), NS)
    pod_writer = writer(client)
    outcome = await pod_writer.delete(KEY, [Deletion(made, "ScaleDown")])
    assert outcome.failure is None and outcome.deleted == {"ScaleDown": [made["metadata"]["name"]]}
    again = await pod_writer.delete(KEY, [Deletion(made, "ScaleDown")])
    assert again.failure is None and again.deleted == {}
