"""The example controller in-process against the real API server, with the manager's endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.error
import urllib.request
import uuid

from kuberay_py.runtime import (
    CONFIG_MAPS,
    EVENTS,
    LEASES,
    NAMESPACES,
    InformerOptions,
    KubeClient,
    Manager,
    ManagerOptions,
    NotFound,
)
from tests.integration.runtime import example_controller
from tests.integration.runtime.example_controller import CONFIG_MAP_NAME, GROUP_LABEL
from tests.integration.runtime.support import retrying
from tests.runtime_metrics import untyped
from tests.waiting import eventually


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def config_map_data(kube: KubeClient, namespace: str) -> dict | None:
    try:
        return (await kube.get(CONFIG_MAPS, CONFIG_MAP_NAME, namespace)).get("data")
    except NotFound:
        return None


async def test_example_controller_keeps_a_config_map_per_namespace_and_serves_endpoints(
    kube: KubeClient, namespace: str
):
    group = uuid.uuid4().hex[:8]
    watched = [f"{namespace}-a", f"{namespace}-b"]
    for name in watched:
        await kube.create(NAMESPACES, {"metadata": {"name": name, "labels": {GROUP_LABEL: group}}})
    options = ManagerOptions(
        cache_selectors=example_controller.cache_selectors(group),
        informer_options=InformerOptions(backoff_initial=0.1, backoff_max=2.0),
        leader_election=True,
        leader_election_id=f"example-{group}",
        leader_election_namespace=namespace,
        metrics_bind_address="127.0.0.1:0",
        health_probe_bind_address="127.0.0.1:0",
        handle_signals=False,
    )
    manager = Manager(kube, options)
    example_controller.add_to(manager, "in-process")
    run = asyncio.create_task(manager.run())
    try:
        await asyncio.wait_for(manager.wait_ready(), 30)
        expected = {"namespace": watched[0], "reconciledBy": "in-process"}
        await eventually(
            lambda: _equals(config_map_data(kube, watched[0]), expected), timeout=30.0, interval=0.1
        )
        await eventually(lambda: config_map_data(kube, watched[1]), timeout=30.0, interval=0.1)
        owner = (await kube.get(CONFIG_MAPS, CONFIG_MAP_NAME, watched[0]))["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("Namespace", watched[0], True)

        # Children are repaired: a deleted ConfigMap comes back, an edited one is put right.
        await kube.delete(CONFIG_MAPS, CONFIG_MAP_NAME, watched[0])
        await eventually(
            lambda: _equals(config_map_data(kube, watched[0]), expected), timeout=30.0, interval=0.1
        )
        await kube.patch(
            CONFIG_MAPS, CONFIG_MAP_NAME, {"data": {"namespace": "wrong", "extra": "x"}}, watched[0]
        )
        await eventually(
            lambda: _equals(config_map_data(kube, watched[0]), expected), timeout=30.0, interval=0.1
        )

        # A namespace labelled later is picked up; unlabelled ones are not even cached.
        late = f"{namespace}-c"
        await kube.create(NAMESPACES, {"metadata": {"name": late, "labels": {GROUP_LABEL: group}}})
        watched.append(late)
        await eventually(lambda: config_map_data(kube, late), timeout=30.0, interval=0.1)
        assert await config_map_data(kube, namespace) is None
        assert manager.cache.get(NAMESPACES, namespace) is None

        async def recorded_reasons() -> set[str]:
            events = (await kube.list(EVENTS, "default")).items
            return {
                e["reason"]
                for e in events
                if e["regarding"]["name"] == watched[0]
                and e["reportingController"] == "namespace-info-controller"
            }

        await eventually(
            lambda: _equals(recorded_reasons(), {"Created", "Repaired"}), timeout=30.0, interval=0.1
        )

        health_port, metrics_port = manager.port_of("/healthz"), manager.port_of("/metrics")
        assert health_port and metrics_port
        assert await asyncio.to_thread(http_get, health_port, "/healthz") == (200, "ok")
        assert await asyncio.to_thread(http_get, health_port, "/readyz") == (200, "ok")
        status, text = await asyncio.to_thread(http_get, metrics_port, "/metrics")
        assert status == 200
        assert untyped(text) == []
        assert 'controller_runtime_reconcile_total{controller="namespace-info",result="success"}' in text
        assert 'workqueue_depth{controller="namespace-info",name="namespace-info"}' in text
        assert 'rest_client_requests_total{code="200",verb="list"}' in text
        assert 'rest_client_requests_total{code="201",verb="create"}' in text
        assert f'leader_election_master_status{{name="example-{group}"}} 1.0' in text
    finally:
        manager.stop()
        await asyncio.wait_for(run, 30)
        for name in watched:
            with contextlib.suppress(NotFound):
                await retrying(lambda name=name: kube.delete(NAMESPACES, name))
    lease = await kube.get(LEASES, f"example-{group}", namespace)
    assert lease["spec"]["holderIdentity"] == "", "released on stop"


async def _equals(value, expected) -> bool:
    return await value == expected
