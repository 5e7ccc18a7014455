"""What GCS fault tolerance and token auth add to the pods, the cleanup Job and the token Secret."""

from __future__ import annotations

import base64
import shlex
from typing import Any

import pytest

from kuberay_py.api import validate_manifest
from kuberay_py.builders import build_head_pod, build_worker_pod
from kuberay_py.builders.auth import auth_env, auth_secret_name, build_auth_secret
from kuberay_py.builders.redis_cleanup import (
    build_redis_cleanup_job,
    deletion_timeout_seconds,
    redis_cleanup_job_name,
)
from tests.unit.builders.support import manifest, parse, worker

SECRET_REF = {"secretKeyRef": {"name": "redis", "key": "password"}}


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


def ft(**options: Any) -> dict[str, Any]:
    raw = manifest(workers=[worker()], gcsFaultToleranceOptions={"redisAddress": "redis:6379", **options})
    raw["metadata"]["uid"] = "uid-1"
    return raw


def test_the_head_gets_redis_and_workers_a_longer_reconnect_wait() -> None:
    cluster = parse(ft(redisPassword={"valueFrom": SECRET_REF}, redisUsername={"value": "ray"}))
    head = build_head_pod(cluster)
    ray = env(head["spec"]["containers"][0])
    assert ray["RAY_REDIS_ADDRESS"] == "redis:6379"
    assert ray["REDIS_PASSWORD"] == SECRET_REF and ray["REDIS_USERNAME"] == "ray"
    assert ray["RAY_external_storage_namespace"] == "uid-1"
    flags = shlex.split(ray["KUBERAY_GEN_RAY_START_CMD"])
    assert "--redis-password=$REDIS_PASSWORD" in flags and "--redis-username=$REDIS_USERNAME" in flags
    assert head["metadata"]["annotations"]["ray.io/external-storage-namespace"] == "uid-1"
    assert "RAY_gcs_rpc_server_reconnect_timeout_s" not in ray

    pod = build_worker_pod(cluster, cluster.spec.worker_groups()[0])
    assert env(pod["spec"]["containers"][0])["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"
    assert "ray.io/external-storage-namespace" not in pod["metadata"]["annotations"]


def test_the_storage_namespace_is_the_option_then_the_annotation_then_the_uid() -> None:
    assert (
        env(build_head_pod(parse(ft(externalStorageNamespace="mine")))["spec"]["containers"][0])[
            "RAY_external_storage_namespace"
        ]
        == "mine"
    )
    legacy = manifest(workers=[])
    legacy["metadata"]["annotations"] = {
        "ray.io/ft-enabled": "true",
        "ray.io/external-storage-namespace": "old",
    }
    legacy["spec"]["headGroupSpec"]["rayStartParams"] = {"redis-password": "pw"}
    legacy["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_REDIS_ADDRESS", "value": "redis:6379"}
    ]
    ray = env(build_head_pod(parse(legacy))["spec"]["containers"][0])
    assert ray["RAY_external_storage_namespace"] == "old"
    # The older spelling keeps the user's address; the password from rayStartParams reaches the cleanup Job.
    assert ray["RAY_REDIS_ADDRESS"] == "redis:6379" and ray["REDIS_PASSWORD"] == "pw"


def test_a_workers_own_reconnect_timeout_wins() -> None:
    raw = ft()
    group = raw["spec"]["workerGroupSpecs"][0]
    group["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_gcs_rpc_server_reconnect_timeout_s", "value": "30"}
    ]
    cluster = parse(raw)
    pod = build_worker_pod(cluster, cluster.spec.worker_groups()[0])
    assert env(pod["spec"]["containers"][0])["RAY_gcs_rpc_server_reconnect_timeout_s"] == "30"


def test_no_fault_tolerance_adds_nothing() -> None:
    cluster = parse(manifest(workers=[worker()]))
    ray = env(build_head_pod(cluster)["spec"]["containers"][0])
    assert not {"RAY_REDIS_ADDRESS", "REDIS_PASSWORD", "RAY_external_storage_namespace"} & set(ray)


def test_the_cleanup_job_runs_the_heads_container_once_within_the_timeout() -> None:
    raw = ft(redisPassword={"valueFrom": SECRET_REF})
    raw["metadata"]["annotations"] = {"ray.io/gcs-ft-deletion-timeout": "42"}
    cluster = parse(raw)
    job = build_redis_cleanup_job(cluster)
    assert job["metadata"]["name"] == "demo-redis-cleanup"
    assert job["metadata"]["labels"]["ray.io/node-type"] == "redis-cleanup"
    assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 42
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never" and len(spec["containers"]) == 1
    container = spec["containers"][0]
    assert "livenessProbe" not in container and "readinessProbe" not in container
    assert "cleanup_redis_storage" in container["args"][0] and "ray start" not in container["args"][0]
    variables = env(container)
    assert (
        variables["REDIS_PASSWORD"] == SECRET_REF and variables["RAY_external_storage_namespace"] == "uid-1"
    )
    assert container["resources"]["limits"] == {"cpu": "200m", "memory": "256Mi"}


def test_cleanup_job_names_fit_and_timeouts_default() -> None:
    raw = ft()
    raw["metadata"]["name"] = "c" * 53
    cluster = parse(raw)
    assert len(redis_cleanup_job_name(cluster)) <= 63
    assert deletion_timeout_seconds(cluster) == 300


def test_a_deletion_timeout_that_is_no_number_is_reported() -> None:
    raw = ft()
    raw["metadata"]["annotations"] = {"ray.io/gcs-ft-deletion-timeout": "5m"}
    errors = validate_manifest(raw)
    assert [e.path for e in errors] == ['metadata.annotations["ray.io/gcs-ft-deletion-timeout"]']


@pytest.mark.parametrize(
    ("options", "secret", "k8s"),
    [
        ({"mode": "token"}, "demo", False),
        ({"mode": "token", "secretName": "mine"}, "mine", False),
        ({"mode": "token", "enableK8sTokenAuth": True}, None, True),
        ({"mode": "disabled"}, None, False),
    ],
)
def test_auth_env_per_mode(options: dict[str, Any], secret: str | None, k8s: bool) -> None:
    cluster = parse(manifest(workers=[worker()], authOptions=options))
    assert auth_secret_name(cluster) == secret
    variables = {e["name"]: e for e in auth_env(cluster)}
    if options["mode"] == "disabled":
        assert variables == {}
        return
    assert variables["RAY_AUTH_MODE"]["value"] == "token"
    if k8s:
        assert variables["RAY_ENABLE_K8S_TOKEN_AUTH"]["value"] == "true" and "RAY_AUTH_TOKEN" not in variables
    else:
        ref = variables["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": secret, "key": "auth_token"}


def test_the_token_secret_holds_the_token_hex_encoded_and_belongs_to_the_cluster() -> None:
    raw = manifest(workers=[], authOptions={"mode": "token"})
    raw["metadata"]["uid"] = "uid-2"
    secret = build_auth_secret(parse(raw), bytes(range(32)))
    assert secret["metadata"]["name"] == "demo" and secret["metadata"]["labels"] == {"ray.io/cluster": "demo"}
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-2"
    assert base64.b64decode(secret["data"]["auth_token"]).decode() == bytes(range(32)).hex()


def test_a_users_own_auth_variables_win() -> None:
    raw = manifest(workers=[worker()], authOptions={"mode": "token"})
    raw["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": "vault", "key": "t"}}}
    ]
    ray = env(build_head_pod(parse(raw))["spec"]["containers"][0])
    assert ray["RAY_AUTH_TOKEN"] == {"secretKeyRef": {"name": "vault", "key": "t"}}
