import asyncio

from kuberay_py.runtime.errors import NotFound, ServerError
from kuberay_py.runtime.events import EventRecorder
from kuberay_py.runtime.resources import CONFIG_MAPS, EVENTS
from kuberay_py.testing.memory_client import InMemoryClient
from tests.unit.runtime.runtime_unit_support import configmap
from tests.waiting import eventually


async def subject(client: InMemoryClient) -> dict:
    return await client.create(CONFIG_MAPS, configmap("subject"))


def recorder_for(client: InMemoryClient, **kwargs) -> EventRecorder:
    return EventRecorder(
        client, reporting_controller="example-controller", reporting_instance="pod-0", **kwargs
    )


async def recording(**kwargs) -> tuple[InMemoryClient, dict, EventRecorder]:
    """A client, an object to record events about, and a recorder (built with ``kwargs``) writing to it."""
    client = InMemoryClient()
    return client, await subject(client), recorder_for(client, **kwargs)


async def test_first_occurrence_creates_a_complete_events_k8s_io_event():
    client, regarding, recorder = await recording()
    recorder.normal(regarding, "Created", "created the thing", action="Create")
    await recorder.flush()

    [event] = client.objects(EVENTS)
    assert event["apiVersion"] == "events.k8s.io/v1"
    assert event["metadata"]["namespace"] == "default"
    assert event["metadata"]["name"].startswith("subject.")
    assert event["regarding"]["uid"] == regarding["metadata"]["uid"]
    assert event["regarding"]["kind"] == "ConfigMap"
    assert (event["type"], event["reason"], event["action"], event["note"]) == (
        "Normal", "Created", "Create", "created the thing"
    )  # fmt: skip
    assert event["reportingController"] == "example-controller"
    assert event["reportingInstance"] == "pod-0"
    assert event["eventTime"].endswith("Z") and "." in event["eventTime"]
    assert "series" not in event


async def test_repeats_become_one_event_with_a_series_count():
    client, regarding, recorder = await recording()
    recorder.warning(regarding, "FailedCreate", "quota exceeded")
    await recorder.flush()
    for _ in range(4):
        recorder.warning(regarding, "FailedCreate", "quota exceeded")
    await recorder.flush()
    recorder.warning(regarding, "FailedCreate", "quota exceeded")
    await recorder.flush()

    [event] = client.objects(EVENTS)
    assert event["series"]["count"] == 6
    assert event["series"]["lastObservedTime"]
    writes = [a.verb for a in client.actions if a.resource == EVENTS]
    assert writes == ["create", "patch", "patch"], "repeats between flushes are coalesced into one write"
    assert recorder.count(regarding, "FailedCreate") == 6


async def test_different_notes_reasons_or_objects_are_separate_events():
    client = InMemoryClient()
    regarding = await subject(client)
    other = await client.create(CONFIG_MAPS, configmap("other"))
    recorder = recorder_for(client)
    recorder.normal(regarding, "Scaled", "to 2")
    recorder.normal(regarding, "Scaled", "to 3")
    recorder.warning(regarding, "Scaled", "to 3")
    recorder.normal(other, "Scaled", "to 2")
    await recorder.flush()
    assert len(client.objects(EVENTS)) == 4


async def test_repeats_seen_before_the_first_write_create_the_event_with_its_series():
    client, regarding, recorder = await recording()
    for _ in range(3):
        recorder.normal(regarding, "Synced", "ok")
    await recorder.flush()
    [event] = client.objects(EVENTS)
    assert event["series"]["count"] == 3


async def test_an_expired_event_is_recreated_and_failures_do_not_raise():
    client, regarding, recorder = await recording()
    recorder.normal(regarding, "Synced", "ok")
    await recorder.flush()
    [event] = client.objects(EVENTS)
    await client.delete(EVENTS, event["metadata"]["name"], "default")  # events expire after an hour

    recorder.normal(regarding, "Synced", "ok")
    await recorder.flush()
    [recreated] = client.objects(EVENTS)
    assert recreated["series"]["count"] == 2

    client.fail_next("patch", ServerError("etcd unavailable"))
    recorder.normal(regarding, "Synced", "ok")
    await recorder.flush()  # logged and dropped, never raised into the reconciler
    assert [a.verb for a in client.actions if a.resource == EVENTS][-1] == "patch", "the write was tried"
    [unchanged] = client.objects(EVENTS)
    assert unchanged["series"]["count"] == 2, "the failed write is dropped, not retried"


async def test_a_new_series_starts_after_the_window_and_the_background_task_flushes():
    client, regarding, recorder = await recording(series_window=0.0, flush_interval=0.01)
    recorder.start()
    try:
        recorder.normal(regarding, "Tick", "again")
        await eventually(lambda: len(client.objects(EVENTS)) == 1, timeout=5.0, interval=0.005)
        await asyncio.sleep(0.001)
        recorder.normal(regarding, "Tick", "again")
        await eventually(lambda: len(client.objects(EVENTS)) == 2, timeout=5.0, interval=0.005)
    finally:
        await recorder.stop()


async def test_stop_writes_what_is_pending():
    client, regarding, recorder = await recording(flush_interval=10)
    recorder.start()
    recorder.normal(regarding, "First", "x")
    await eventually(lambda: len(client.objects(EVENTS)) == 1, timeout=5.0, interval=0.005)
    recorder.normal(regarding, "Second", "y")  # the task now sleeps out its flush interval
    await recorder.stop()
    assert {e["reason"] for e in client.objects(EVENTS)} == {"First", "Second"}


async def test_long_notes_are_truncated_and_cluster_scoped_objects_use_default():
    client = InMemoryClient()
    recorder = recorder_for(client)
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u"}}
    recorder.normal(node, "Noted", "x" * 5000)
    await recorder.flush()
    [event] = client.objects(EVENTS)
    assert len(event["note"]) == 1024
    assert event["metadata"]["namespace"] == "default"


async def test_events_of_a_namespace_that_is_gone_are_dropped_not_tried_one_by_one():
    client, regarding, recorder = await recording()
    for attempt in range(50):  # notes that differ make series of their own, as failures naming pods do
        recorder.warning(regarding, "FailedCreateHeadPod", f"pod head-{attempt}: namespace is gone")
    client.fail_next("create", NotFound('namespaces "default" not found'), resource=EVENTS, times=100)
    await recorder.flush()
    writes = [a.verb for a in client.actions if a.resource == EVENTS]
    assert writes == ["create"], "one refusal says the namespace is gone"
    assert recorder.count(regarding, "FailedCreateHeadPod") == 0


async def test_stop_gives_up_on_pending_events_after_its_timeout():
    client, regarding, recorder = await recording(stop_flush_timeout=0.2)
    recorder.start()

    async def slow_write(*args, **kwargs):
        await asyncio.sleep(10)

    client.create = slow_write  # an API server that never answers
    recorder.normal(regarding, "Created", "made")
    loop = asyncio.get_running_loop()
    began = loop.time()
    await recorder.stop()
    assert loop.time() - began < 2


async def test_a_thousand_similar_events_become_a_handful_of_writes():
    client, regarding, recorder = await recording()
    for index in range(1000):  # one per pod created, each naming its pod
        recorder.normal(regarding, "CreatedWorkerPod", f"Created worker Pod default/w-{index}")
    await recorder.flush()
    events = client.objects(EVENTS)
    individual = [e for e in events if not e["note"].startswith("(combined")]
    [combined] = [e for e in events if e["note"].startswith("(combined")]
    assert [e["note"] for e in sorted(individual, key=lambda e: e["note"])] == sorted(
        f"Created worker Pod default/w-{i}" for i in range(9)
    )
    assert combined["note"] == "(combined from similar events): Created worker Pod default/w-9"
    assert combined["reason"] == "CreatedWorkerPod" and combined["series"]["count"] == 991
    assert recorder.count(regarding, "CreatedWorkerPod") == 1000
    assert len([a for a in client.actions if a.resource == EVENTS]) == 10

    # Later ones only count up the combined Event: one patch per flush, however many.
    for index in range(1000, 1500):
        recorder.normal(regarding, "CreatedWorkerPod", f"Created worker Pod default/w-{index}")
    await recorder.flush()
    assert len(client.objects(EVENTS)) == 10
    writes = [a.verb for a in client.actions if a.resource == EVENTS]
    assert writes[10:] == ["patch"]


async def test_folding_is_per_object_reason_and_type_and_ends_with_its_window():
    client, regarding, recorder = await recording(max_similar=3, similar_window=0.0)
    for index in range(5):
        recorder.normal(regarding, "Deleted", f"pod {index}")
    await recorder.flush()
    assert len(client.objects(EVENTS)) == 5, "a window of zero never folds"

    client = InMemoryClient()
    regarding = await subject(client)
    other = await client.create(CONFIG_MAPS, configmap("other"))
    recorder = recorder_for(client, max_similar=3)
    for index in range(5):
        recorder.normal(regarding, "Deleted", f"pod {index}")
        recorder.warning(regarding, "Deleted", f"pod {index}")
        recorder.normal(other, "Deleted", f"pod {index}")
        recorder.normal(regarding, "Created", f"pod {index}")
    await recorder.flush()
    # Per kind: two alone, then the combined one.
    assert len(client.objects(EVENTS)) == 4 * 3
    # A note seen before counts as one of the kind's repeats, not as a new note.
    recorder.normal(regarding, "Renamed", "a")
    recorder.normal(regarding, "Renamed", "a")
    recorder.normal(regarding, "Renamed", "b")
    await recorder.flush()
    assert sum(1 for e in client.objects(EVENTS) if e["reason"] == "Renamed") == 2
