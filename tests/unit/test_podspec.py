"""What the process kubelet works out from a pod spec before it runs anything."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kuberay_py.testing.podspec import (
    PodSpecError,
    command_line,
    container_env,
    expand,
    field_value,
    hosts_file,
    named_port,
    plan_volume,
    probe_of,
    ready_addresses,
    resource_value,
    secret_data,
)

POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"ray.io/group": "g"}},
    "spec": {"nodeName": "n", "serviceAccountName": "sa", "containers": [{"name": "c"}]},
    "status": {"podIP": "10.0.0.5", "hostIP": "10.0.0.1"},
}
NODE = {"cpu": "16", "memory": "64Gi"}


async def data(kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
    stores = {("configmap", "ns", "cm"): {"a": "1", "b": "2"}, ("secret", "ns", "s"): {"pw": "x"}}
    return stores.get((kind, namespace, name))


async def no_token(ref: dict[str, Any]) -> str:
    return f"token-for-{ref.get('audience', 'api')}"


def test_expand_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$$(A) $(MISSING) $A", env) == "$(A) $(MISSING) $A"
    assert expand("ray --name $(B)$$", env) == "ray --name two$"


def test_field_values() -> None:
    assert field_value(POD, "metadata.name") == "p"
    assert field_value(POD, "metadata.labels['ray.io/group']") == "g"
    assert field_value(POD, "metadata.annotations['none']") == ""
    assert field_value(POD, "status.podIP") == "10.0.0.5"
    assert field_value(POD, "spec.serviceAccountName") == "sa"
    with pytest.raises(PodSpecError, match=r"status\.nothing"):
        field_value(POD, "status.nothing")


def test_resource_values_round_up_and_fall_back_to_the_node() -> None:
    container = {"resources": {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "250m"}}}
    assert resource_value(container, {"resource": "limits.cpu"}, NODE) == "1"
    assert resource_value(container, {"resource": "limits.cpu", "divisor": "1m"}, NODE) == "500"
    assert resource_value(container, {"resource": "limits.memory", "divisor": "1Mi"}, NODE) == "1024"
    assert resource_value({}, {"resource": "limits.cpu"}, NODE) == "16"
    assert resource_value({}, {"resource": "requests.memory"}, NODE) == "0"
    with pytest.raises(PodSpecError, match="divisor"):
        resource_value(container, {"resource": "limits.cpu", "divisor": "0"}, NODE)


async def test_env_is_built_in_order_with_references() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {
                "name": "GONE",
                "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}},
            },
            {"name": "SAY", "value": "$(NAME)/$(CM_a)/$(LATER)"},
            {"name": "LATER", "value": "x"},
        ],
    }
    env = await container_env(POD, container, data, NODE, {"BASE": "b"})
    assert env == {
        "BASE": "b",
        "CM_a": "1",
        "CM_b": "2",
        "NAME": "p",
        "PW": "x",
        "SAY": "p/1/$(LATER)",
        "LATER": "x",
    }


async def test_missing_references_name_the_field() -> None:
    container = {"env": [{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zz"}}}]}
    with pytest.raises(PodSpecError, match=r"env\[0\] \(K\): key 'zz'"):
        await container_env(POD, container, data, NODE, {})
    with pytest.raises(PodSpecError, match=r"envFrom\[0\]"):
        await container_env(POD, {"envFrom": [{"secretRef": {"name": "nope"}}]}, data, NODE, {})


def test_a_command_is_required_and_expanded() -> None:
    assert command_line({"command": ["sh", "-c"], "args": ["echo $(A)"]}, {"A": "hi"}) == [
        "sh",
        "-c",
        "echo hi",
    ]
    with pytest.raises(PodSpecError, match="no command"):
        command_line({"name": "c", "args": ["x"]}, {})


async def test_volumes() -> None:
    shm = await plan_volume(
        POD, {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}, data, no_token, NODE
    )
    assert shm.memory and shm.size_bytes == 2**30
    cm = await plan_volume(
        POD,
        {"name": "v", "configMap": {"name": "cm", "items": [{"key": "a", "path": "x/a.txt"}]}},
        data,
        no_token,
        NODE,
    )
    assert cm.files == {"x/a.txt": b"1"}
    projected = {
        "name": "api",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "audience": "vault"}},
                {"configMap": {"name": "cm", "items": [{"key": "b", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                    }
                },
            ]
        },
    }
    api = await plan_volume(POD, projected, data, no_token, NODE)
    assert api.files == {"token": b"token-for-vault", "ca.crt": b"2", "namespace": b"ns"}
    with pytest.raises(PodSpecError, match=r"'pvc'.*persistentVolumeClaim"):
        await plan_volume(
            POD, {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}}, data, no_token, NODE
        )
    with pytest.raises(PodSpecError, match="configmap 'nope' not found"):
        await plan_volume(POD, {"name": "v", "configMap": {"name": "nope"}}, data, no_token, NODE)


def test_probes_and_ports() -> None:
    container = {
        "name": "c",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"port": "http"}},
    }
    probe = probe_of(container, "readinessProbe")
    assert probe is not None and probe.kind == "httpGet"
    assert (probe.period, probe.timeout, probe.failure_threshold, probe.success_threshold) == (10, 1, 3, 1)
    assert named_port(container, "http") == 8080 and named_port(container, 9) == 9
    assert probe_of(container, "livenessProbe") is None
    with pytest.raises(PodSpecError, match="no port named 'grpc'"):
        named_port(container, "grpc")


def test_hosts_file_and_endpoints() -> None:
    slice_ = {
        "endpoints": [
            {"addresses": ["10.0.0.7"], "conditions": {"ready": True}},
            {"addresses": ["10.0.0.8"], "conditions": {"ready": False}},
            {"addresses": ["10.0.0.9"]},
        ]
    }
    assert ready_addresses(slice_) == ["10.0.0.7", "10.0.0.9"]
    text = hosts_file(
        "10.0.0.5", "p", "ns", {("ns", "head-svc"): ["10.0.0.7"], ("other", "db"): ["10.0.0.3"]}
    )
    assert "10.0.0.5\tp\n" in text
    assert "10.0.0.7\thead-svc.ns.svc.cluster.local head-svc.ns.svc head-svc.ns head-svc\n" in text
    assert (
        "10.0.0.3\tdb.other.svc.cluster.local db.other.svc db.other\n" in text
    )  # no short name across namespaces


def test_secret_data_decodes() -> None:
    assert secret_data({"data": {"a": "aGk="}, "stringData": {"b": "plain"}}) == {"a": "hi", "b": "plain"}
