"""GCS fault tolerance with the simulated kubelet: what the pods are given, the finalizer, and the Redis
cleanup Job's lifecycle on deletion (its pod succeeding, failing, or never finishing until the timeout)."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.kubelet import FAIL_ANNOTATION, SUCCEED_ANNOTATION
from tests.integration.controllers.objects import (
    create,
    env_of,
    get_json,
    kubectl,
    manifest,
    pods_of,
    raycluster,
    wait_state,
)
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("operator")

FINALIZER = "ray.io/gcs-ft-redis-cleanup-finalizer"
PASSWORD_REF = {"secretKeyRef": {"name": "redis-password-secret", "key": "password"}}


def ft_cluster(name: str, **annotations: str) -> dict[str, Any]:
    obj = manifest(
        name,
        {"groupName": "g", "replicas": 1},
        gcsFaultToleranceOptions={
            "redisAddress": "redis:6379",
            "redisPassword": {"valueFrom": PASSWORD_REF},
        },
    )
    if annotations:
        obj["metadata"]["annotations"] = annotations
    return obj


async def events_of(plane: ControlPlane, namespace: str, name: str, awaited: str) -> dict[str, str]:
    """reason -> type of the Events about the RayCluster `name`, once one has the reason `awaited` (the
    recorder writes Events in batches, so the last may trail the deletion)."""
    selector = f"involvedObject.kind=RayCluster,involvedObject.name={name}"

    async def events() -> dict[str, str] | None:
        items = (await get_json(plane, "events", "-n", namespace, "--field-selector", selector))["items"]
        found = {e["reason"]: e["type"] for e in items}
        return found if awaited in found else None

    found: dict[str, str] = await eventually(events, timeout=30, what=f"a {awaited} Event")
    return found


async def gone(plane: ControlPlane, namespace: str, kind: str, name: str) -> bool:
    out = await kubectl(plane, "get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name")
    return out.stdout.strip() == ""


async def delete_and_wait_for_job(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """Delete the cluster; the cleanup Job appears only once no pod of the cluster is left."""
    await kubectl(plane, "delete", "raycluster", name, "-n", namespace, "--wait=false")

    async def job() -> dict[str, Any] | None:
        out = await kubectl(plane, "get", "job", f"{name}-redis-cleanup", "-n", namespace, check=False)
        if out.returncode != 0:
            return None
        ray_pods = await pods_of(plane, namespace, f"ray.io/cluster={name},ray.io/node-type in (head,worker)")
        assert ray_pods == [], "the cleanup Job started while a Ray pod of the cluster still existed"
        found: dict[str, Any] = await get_json(plane, "job", f"{name}-redis-cleanup", "-n", namespace)
        return found

    found: dict[str, Any] = await eventually(job, timeout=60, what="the Redis cleanup Job")
    return found


async def job_pod(plane: ControlPlane, namespace: str, job: str) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        pods = await pods_of(plane, namespace, f"job-name={job}")
        return pods[0] if pods else None

    pod: dict[str, Any] = await eventually(find, timeout=30, what=f"the pod of Job {job}")
    return pod


async def finish_job_and_wait(plane: ControlPlane, namespace: str, job: dict[str, Any], how: str) -> None:
    """End the cleanup Job's pod as the simulated kubelet is told (`how`: its annotation), then wait for the
    deleted cluster to go."""
    pod = await job_pod(plane, namespace, job["metadata"]["name"])
    await kubectl(plane, "annotate", "pod", pod["metadata"]["name"], "-n", namespace, how)
    cluster = job["metadata"]["ownerReferences"][0]["name"]
    await eventually(
        lambda: gone(plane, namespace, "raycluster", cluster), timeout=60, what=f"{cluster} gone"
    )


async def test_pods_carry_redis_settings_and_the_cluster_its_finalizer(
    control_plane: ControlPlane, namespace: str
) -> None:
    await create(control_plane, namespace, ft_cluster("ft"))
    rc = await wait_state(control_plane, namespace, "ft")
    assert FINALIZER in rc["metadata"]["finalizers"]
    uid = rc["metadata"]["uid"]

    head = (await pods_of(control_plane, namespace, "ray.io/cluster=ft,ray.io/node-type=head"))[0]
    annotations = head["metadata"]["annotations"]
    assert annotations["ray.io/ft-enabled"] == "true"
    assert annotations["ray.io/external-storage-namespace"] == uid
    env = env_of(head["spec"]["containers"][0])
    assert env["RAY_REDIS_ADDRESS"] == "redis:6379"
    assert env["REDIS_PASSWORD"] == PASSWORD_REF
    assert env["RAY_external_storage_namespace"] == uid
    assert "--redis-password=$REDIS_PASSWORD" in shlex.split(env["KUBERAY_GEN_RAY_START_CMD"])
    assert "RAY_gcs_rpc_server_reconnect_timeout_s" not in env

    worker = (await pods_of(control_plane, namespace, "ray.io/cluster=ft,ray.io/node-type=worker"))[0]
    worker_env = env_of(worker["spec"]["containers"][0])
    assert worker_env["RAY_gcs_rpc_server_reconnect_timeout_s"] == "600"
    assert "RAY_REDIS_ADDRESS" not in worker_env and "REDIS_PASSWORD" not in worker_env
    conditions = {c["type"]: c["status"] for c in rc["status"]["conditions"]}
    assert conditions["UnsupportedFields"] == "False"

    job = await delete_and_wait_for_job(control_plane, namespace, "ft")
    assert job["metadata"]["ownerReferences"][0]["uid"] == uid
    assert job["spec"]["backoffLimit"] == 0
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == head["spec"]["containers"][0]["image"]
    assert env_of(container)["RAY_external_storage_namespace"] == uid
    assert "cleanup_redis_storage" in container["args"][0]
    await finish_job_and_wait(control_plane, namespace, job, f"{SUCCEED_ANNOTATION}=true")
    events = await events_of(control_plane, namespace, "ft", "RedisCleanupCompleted")
    assert events["CreatedRedisCleanupJob"] == "Normal" and events["RedisCleanupCompleted"] == "Normal"


async def test_a_failed_cleanup_job_releases_the_deletion_with_a_warning(
    control_plane: ControlPlane, namespace: str
) -> None:
    await create(control_plane, namespace, ft_cluster("ft-fail"))
    await wait_state(control_plane, namespace, "ft-fail")
    job = await delete_and_wait_for_job(control_plane, namespace, "ft-fail")
    await finish_job_and_wait(control_plane, namespace, job, f"{FAIL_ANNOTATION}=connection refused")
    events = await events_of(control_plane, namespace, "ft-fail", "RedisCleanupFailed")
    assert events["RedisCleanupFailed"] == "Warning"
    assert "RedisCleanupCompleted" not in events


async def test_an_unreachable_redis_holds_the_deletion_only_until_the_timeout(
    control_plane: ControlPlane, namespace: str
) -> None:
    # The Job's pod runs for ever, as one retrying a Redis it cannot reach would.
    await create(control_plane, namespace, ft_cluster("ft-slow", **{"ray.io/gcs-ft-deletion-timeout": "8"}))
    await wait_state(control_plane, namespace, "ft-slow")
    job = await delete_and_wait_for_job(control_plane, namespace, "ft-slow")
    assert job["spec"]["activeDeadlineSeconds"] == 8
    rc = await raycluster(control_plane, namespace, "ft-slow")
    assert FINALIZER in rc["metadata"]["finalizers"], "released before the timeout"

    await eventually(
        lambda: gone(control_plane, namespace, "raycluster", "ft-slow"), timeout=60, what="ft-slow gone"
    )
    events = await events_of(control_plane, namespace, "ft-slow", "RedisCleanupTimedOut")
    assert events["RedisCleanupTimedOut"] == "Warning" and "RedisCleanupFailed" not in events


async def test_fault_tolerance_settings_that_contradict_each_other_are_reported(
    control_plane: ControlPlane, namespace: str
) -> None:
    both = ft_cluster("ft-both", **{"ray.io/ft-enabled": "false"})
    await create(control_plane, namespace, both)

    async def reported() -> dict[str, Any] | None:
        rc = await raycluster(control_plane, namespace, "ft-both")
        conditions = {c["type"]: c for c in (rc.get("status") or {}).get("conditions") or []}
        valid = conditions.get("SpecValid")
        return valid if valid is not None and valid["status"] == "False" else None

    condition = await eventually(reported, timeout=30, what="SpecValid=False")
    assert 'metadata.annotations["ray.io/ft-enabled"]' in condition["message"]
    assert await pods_of(control_plane, namespace, "ray.io/cluster=ft-both") == []
    rc = await raycluster(control_plane, namespace, "ft-both")
    assert FINALIZER not in (rc["metadata"].get("finalizers") or [])

    # At admission: a password given twice never reaches the operator.
    twice = ft_cluster("ft-twice")
    twice["spec"]["headGroupSpec"]["rayStartParams"] = {"redis-password": "hunter2"}
    out = await kubectl(
        control_plane, "create", "-n", namespace, "-f", "-", input=json.dumps(twice), check=False
    )
    assert out.returncode != 0 and "the Redis password is given twice" in out.stderr
