"""The head Service and the headless worker Service."""

from __future__ import annotations

from kuberay_py.builders import build_head_service, build_headless_worker_service, render_cluster
from tests.unit.builders.support import container, manifest, parse, worker

# Sorted by name, each with appProtocol tcp, as KubeRay builds them.
DEFAULT_PORTS = [
    {"name": "client", "port": 10001, "appProtocol": "tcp"},
    {"name": "dashboard", "port": 8265, "appProtocol": "tcp"},
    {"name": "gcs-server", "port": 6379, "appProtocol": "tcp"},
    {"name": "metrics", "port": 8080, "appProtocol": "tcp"},
    {"name": "serve", "port": 8000, "appProtocol": "tcp"},
]
SELECTOR = {
    "ray.io/cluster": "demo",
    "ray.io/node-type": "head",
    "ray.io/identifier": "demo-head",
    "app.kubernetes.io/name": "kuberay",
    "app.kubernetes.io/created-by": "kuberay-operator",
}


def test_default_head_service() -> None:
    raw = manifest(headServiceAnnotations={"example.com/lb": "internal"})
    raw["metadata"]["uid"] = "0b6f1f9e-0000-4000-8000-000000000002"
    service = build_head_service(parse(raw))
    assert service["apiVersion"] == "v1" and service["kind"] == "Service"
    metadata = service["metadata"]
    assert metadata["name"] == "demo-head-svc" and metadata["namespace"] == "ml"
    assert metadata["labels"] == SELECTOR
    assert metadata["annotations"] == {"example.com/lb": "internal"}
    assert metadata["ownerReferences"][0]["controller"] is True
    # Headless, with no type: the API server defaults it to ClusterIP.
    assert service["spec"] == {
        "selector": SELECTOR,
        "ports": DEFAULT_PORTS,
        "clusterIP": "None",
        "publishNotReadyAddresses": True,
    }


def test_an_explicit_cluster_ip_type_is_still_headless() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["serviceType"] = "ClusterIP"
    spec = build_head_service(parse(manifest(head=head)))["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["clusterIP"] == "None" and spec["publishNotReadyAddresses"] is True


def test_the_selector_follows_the_head_templates_app_name() -> None:
    raw = manifest()
    raw["spec"]["headGroupSpec"]["template"]["metadata"] = {"labels": {"app.kubernetes.io/name": "mine"}}
    service = build_head_service(parse(raw))
    assert service["spec"]["selector"]["app.kubernetes.io/name"] == "mine"
    assert service["metadata"]["labels"] == service["spec"]["selector"]


def test_ports_come_from_the_head_containers_declared_ports() -> None:
    ports = [
        {"name": "gcs-server", "containerPort": 6380},
        {"name": "dashboard", "containerPort": 8265, "protocol": "TCP"},
        {"containerPort": 9999},
    ]
    head = {"template": {"spec": {"containers": [container("ray-head", ports=ports)]}}}
    service = build_head_service(parse(manifest(head=head)))
    # An unnamed port is named after its number; the protocol is left to the Service's default.
    assert service["spec"]["ports"] == [
        {"name": "9999-port", "port": 9999, "appProtocol": "tcp"},
        {"name": "dashboard", "port": 8265, "appProtocol": "tcp"},
        {"name": "gcs-server", "port": 6380, "appProtocol": "tcp"},
        {"name": "metrics", "port": 8080, "appProtocol": "tcp"},
    ]


def test_no_second_port_on_the_metrics_number() -> None:
    ports = [{"name": "gcs-server", "containerPort": 6379}, {"name": "prom", "containerPort": 8080}]
    head = {"template": {"spec": {"containers": [container("ray-head", ports=ports)]}}}
    names = [p["name"] for p in build_head_service(parse(manifest(head=head)))["spec"]["ports"]]
    assert names == ["gcs-server", "prom"]


def test_another_service_type_is_not_headless() -> None:
    for service_type in ("NodePort", "LoadBalancer"):
        head = manifest()["spec"]["headGroupSpec"]
        head["serviceType"] = service_type
        spec = build_head_service(parse(manifest(head=head)))["spec"]
        assert spec["type"] == service_type
        assert "clusterIP" not in spec and "publishNotReadyAddresses" not in spec


def test_a_users_head_service_is_completed_not_replaced() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["serviceType"] = "NodePort"
    head["headService"] = {
        "metadata": {
            "name": "my-head",
            "labels": {"team": "ml", "ray.io/cluster": "wrong"},
            "annotations": {"example.com/lb": "mine"},
        },
        "spec": {"type": "LoadBalancer", "selector": {"app": "wrong"}, "externalTrafficPolicy": "Local"},
    }
    raw = manifest(head=head, headServiceAnnotations={"example.com/lb": "cluster", "other": "x"})
    service = build_head_service(parse(raw))
    assert service["metadata"]["name"] == "my-head"
    assert service["metadata"]["labels"]["team"] == "ml"
    assert service["metadata"]["labels"]["ray.io/cluster"] == "demo"
    # headServiceAnnotations win over the Service's own, as in KubeRay.
    assert service["metadata"]["annotations"] == {"example.com/lb": "cluster", "other": "x"}
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert service["spec"]["selector"] == SELECTOR
    assert service["spec"]["ports"] == DEFAULT_PORTS
    assert "clusterIP" not in service["spec"]


def test_a_users_head_service_without_a_type_takes_the_groups_type_and_is_not_headless() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["headService"] = {"spec": {}}
    spec = build_head_service(parse(manifest(head=head)))["spec"]
    assert "type" not in spec and "clusterIP" not in spec and "publishNotReadyAddresses" not in spec
    head["serviceType"] = "NodePort"
    assert build_head_service(parse(manifest(head=head)))["spec"]["type"] == "NodePort"


def test_a_users_head_service_ports_come_first_and_are_not_duplicated() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["headService"] = {
        "metadata": {"name": "my-head"},
        "spec": {"ports": [{"name": "dashboard", "port": 8265}, {"name": "extra", "port": 9000}]},
    }
    service = build_head_service(parse(manifest(head=head)))
    assert service["spec"]["ports"] == [
        {"name": "dashboard", "port": 8265},
        {"name": "extra", "port": 9000},
        *[p for p in DEFAULT_PORTS if p["name"] != "dashboard"],
    ]


def test_headless_worker_service_for_a_multi_host_group() -> None:
    raw = manifest(workers=[worker("small"), worker("tpu", numOfHosts=4)])
    raw["metadata"]["uid"] = "0b6f1f9e-0000-4000-8000-000000000003"
    service = build_headless_worker_service(parse(raw))
    assert service is not None
    metadata = service["metadata"]
    assert metadata["name"] == "demo-headless" and metadata["namespace"] == "ml"
    # KubeRay's label, and the one the operator's cache selects Services by.
    assert metadata["labels"] == {"ray.io/headless-worker-svc": "demo", "ray.io/cluster": "demo"}
    assert metadata["ownerReferences"][0]["uid"] == raw["metadata"]["uid"]
    assert metadata["ownerReferences"][0]["controller"] is True
    # Every worker pod of the cluster, with no ports: it only gives them DNS names.
    assert service["spec"] == {
        "clusterIP": "None",
        "selector": {"ray.io/cluster": "demo", "ray.io/node-type": "worker"},
        "type": "ClusterIP",
        "publishNotReadyAddresses": True,
    }


def test_no_headless_worker_service_without_a_multi_host_group() -> None:
    assert build_headless_worker_service(parse(manifest(workers=[worker("small", numOfHosts=1)]))) is None
    assert build_headless_worker_service(parse(manifest())) is None


def test_a_suspended_multi_host_group_still_has_it() -> None:
    raw = manifest(workers=[worker("tpu", numOfHosts=2, suspend=True, replicas=0)])
    assert build_headless_worker_service(parse(raw)) is not None


def test_rendered_after_the_head_service() -> None:
    objects = render_cluster(parse(manifest(workers=[worker("tpu", numOfHosts=2)])))
    assert [o["metadata"].get("name") for o in objects if o["kind"] == "Service"] == [
        "demo-head-svc",
        "demo-headless",
    ]
    assert objects[1]["metadata"]["name"] == "demo-headless"
