"""The head Service."""

from __future__ import annotations

from kuberay_py.builders import build_head_service
from tests.unit.builders.support import container, manifest, parse

DEFAULT_PORTS = [
    {"name": "gcs-server", "port": 6379},
    {"name": "dashboard", "port": 8265},
    {"name": "client", "port": 10001},
    {"name": "metrics", "port": 8080},
    {"name": "serve", "port": 8000},
]


def test_default_head_service() -> None:
    raw = manifest(headServiceAnnotations={"example.com/lb": "internal"})
    raw["metadata"]["uid"] = "0b6f1f9e-0000-4000-8000-000000000002"
    service = build_head_service(parse(raw))
    assert service["apiVersion"] == "v1" and service["kind"] == "Service"
    metadata = service["metadata"]
    assert metadata["name"] == "demo-head-svc" and metadata["namespace"] == "ml"
    assert metadata["labels"] == {
        "ray.io/cluster": "demo",
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
        "ray.io/node-type": "head",
        "ray.io/identifier": "demo-head",
    }
    assert metadata["annotations"] == {"example.com/lb": "internal"}
    assert metadata["ownerReferences"][0]["controller"] is True
    assert service["spec"] == {
        "type": "ClusterIP",
        "selector": {"ray.io/cluster": "demo", "ray.io/node-type": "head"},
        "ports": DEFAULT_PORTS,
    }


def test_ports_come_from_the_head_containers_declared_ports() -> None:
    ports = [
        {"name": "gcs-server", "containerPort": 6380},
        {"name": "dashboard", "containerPort": 8265, "protocol": "TCP"},
        {"containerPort": 9999},
    ]
    head = {"template": {"spec": {"containers": [container("ray-head", ports=ports)]}}}
    service = build_head_service(parse(manifest(head=head)))
    assert service["spec"]["ports"] == [
        {"name": "gcs-server", "port": 6380},
        {"name": "dashboard", "port": 8265, "protocol": "TCP"},
        {"name": "metrics", "port": 8080},
    ]


def test_service_type() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["serviceType"] = "NodePort"
    assert build_head_service(parse(manifest(head=head)))["spec"]["type"] == "NodePort"


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
    assert service["metadata"]["annotations"] == {"example.com/lb": "mine", "other": "x"}
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    assert service["spec"]["selector"] == {"ray.io/cluster": "demo", "ray.io/node-type": "head"}
    assert service["spec"]["ports"] == DEFAULT_PORTS
