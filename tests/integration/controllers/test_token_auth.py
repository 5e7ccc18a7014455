"""Token authentication with the simulated kubelet: the token Secret made once and never rotated, the token
given to every Ray process (Ray container, wait-for-head init container, autoscaler sidecar), a user's own
Secret used as it is, Kubernetes tokens instead of a shared one, and a status that says auth is on."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from kuberay_py.testing.controlplane import ControlPlane
from tests.integration.controllers.objects import (
    create,
    env_of,
    get_json,
    kubectl,
    manifest,
    patch,
    pods_of,
    wait_state,
)
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("operator")

TOKEN_FROM = {"secretKeyRef": {"name": "auth", "key": "auth_token"}}


def auth_cluster(name: str, **auth: Any) -> dict[str, Any]:
    return manifest(
        name,
        {"groupName": "g", "replicas": 1},
        rayVersion="2.60.0",
        enableInTreeAutoscaling=True,
        authOptions={"mode": "token", **auth},
    )


def ray_processes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """container name -> container, for the Ray container, the autoscaler and the wait-for-head container."""
    spec = pod["spec"]
    containers = [*spec["containers"], *(spec.get("initContainers") or [])]
    return {c["name"]: c for c in containers}


async def token_of(plane: ControlPlane, namespace: str, name: str) -> str:
    secret = await get_json(plane, "secret", name, "-n", namespace)
    return base64.b64decode(secret["data"]["auth_token"]).decode()


async def test_a_generated_token_reaches_every_ray_process_and_is_never_rotated(
    control_plane: ControlPlane, namespace: str
) -> None:
    await create(control_plane, namespace, auth_cluster("auth"))
    rc = await wait_state(control_plane, namespace, "auth")

    secret = await get_json(control_plane, "secret", "auth", "-n", namespace)
    assert secret["metadata"]["labels"]["ray.io/cluster"] == "auth"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == rc["metadata"]["uid"]
    token = await token_of(control_plane, namespace, "auth")
    assert len(bytes.fromhex(token)) == 32

    head = (await pods_of(control_plane, namespace, "ray.io/cluster=auth,ray.io/node-type=head"))[0]
    worker = (await pods_of(control_plane, namespace, "ray.io/cluster=auth,ray.io/node-type=worker"))[0]
    head_containers, worker_containers = ray_processes(head), ray_processes(worker)
    assert set(head_containers) == {"ray-head", "autoscaler"}
    assert {"ray-worker", "wait-gcs-ready"} <= set(worker_containers)
    for container in [
        *head_containers.values(),
        worker_containers["ray-worker"],
        worker_containers["wait-gcs-ready"],
    ]:
        env = env_of(container)
        assert env["RAY_AUTH_MODE"] == "token", container["name"]
        assert env["RAY_AUTH_TOKEN"] == TOKEN_FROM, container["name"]
    assert token not in json.dumps([head, worker])

    conditions = {c["type"]: c for c in rc["status"]["conditions"]}
    auth = conditions["TokenAuthentication"]
    assert auth["status"] == "True" and "Secret auth" in auth["message"]
    assert token not in json.dumps(rc)

    # New pods, a new head among them, read the same Secret; the token stays.
    await patch(
        control_plane,
        namespace,
        "auth",
        {"spec": {"workerGroupSpecs": [{**worker_group(rc), "replicas": 2}]}},
    )
    await kubectl(control_plane, "delete", "pod", head["metadata"]["name"], "-n", namespace, "--wait=false")

    async def scaled() -> bool:
        heads = await pods_of(control_plane, namespace, "ray.io/cluster=auth,ray.io/node-type=head")
        workers = await pods_of(control_plane, namespace, "ray.io/cluster=auth,ray.io/node-type=worker")
        new_head = [p for p in heads if p["metadata"]["name"] != head["metadata"]["name"]]
        return len(workers) == 2 and len(new_head) == 1

    await eventually(scaled, timeout=60, what="two workers and a new head")
    assert await token_of(control_plane, namespace, "auth") == token


def worker_group(rc: dict[str, Any]) -> dict[str, Any]:
    group: dict[str, Any] = rc["spec"]["workerGroupSpecs"][0]
    return group


async def test_a_users_secret_is_used_as_it_is(control_plane: ControlPlane, namespace: str) -> None:
    await kubectl(
        control_plane,
        "create",
        "secret",
        "generic",
        "my-token",
        "-n",
        namespace,
        "--from-literal=auth_token=t0k3n",
    )
    await create(control_plane, namespace, auth_cluster("mine", secretName="my-token"))
    await wait_state(control_plane, namespace, "mine")
    out = await kubectl(control_plane, "get", "secret", "mine", "-n", namespace, check=False)
    assert out.returncode != 0, "a Secret was made although the cluster names its own"
    head = (await pods_of(control_plane, namespace, "ray.io/cluster=mine,ray.io/node-type=head"))[0]
    env = env_of(head["spec"]["containers"][0])
    assert env["RAY_AUTH_TOKEN"] == {"secretKeyRef": {"name": "my-token", "key": "auth_token"}}


async def test_kubernetes_tokens_replace_the_shared_token(
    control_plane: ControlPlane, namespace: str
) -> None:
    await create(control_plane, namespace, auth_cluster("k8s", enableK8sTokenAuth=True))
    rc = await wait_state(control_plane, namespace, "k8s")
    out = await kubectl(control_plane, "get", "secret", "k8s", "-n", namespace, check=False)
    assert out.returncode != 0, "no shared token is needed under Kubernetes token auth"
    head = (await pods_of(control_plane, namespace, "ray.io/cluster=k8s,ray.io/node-type=head"))[0]
    volumes = {v["name"]: v for v in head["spec"]["volumes"]}
    assert volumes["ray-k8s-token"]["projected"]["sources"][0]["serviceAccountToken"]["path"] == "token"
    for container in ray_processes(head).values():
        env = env_of(container)
        assert env["RAY_AUTH_MODE"] == "token" and env["RAY_ENABLE_K8S_TOKEN_AUTH"] == "true"
        assert "RAY_AUTH_TOKEN" not in env
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/var/run/secrets/ray.io/serviceaccount" in mounts, container["name"]
    conditions = {c["type"]: c for c in rc["status"]["conditions"]}
    assert conditions["TokenAuthentication"]["reason"] == "KubernetesTokens"


async def test_token_auth_on_an_old_ray_is_reported(control_plane: ControlPlane, namespace: str) -> None:
    old = auth_cluster("old")
    old["spec"]["rayVersion"] = "2.46.0"
    await create(control_plane, namespace, old)

    async def reported() -> dict[str, Any] | None:
        rc = await get_json(control_plane, "raycluster", "old", "-n", namespace)
        conditions = {c["type"]: c for c in (rc.get("status") or {}).get("conditions") or []}
        valid = conditions.get("SpecValid")
        return valid if valid is not None and valid["status"] == "False" else None

    condition = await eventually(reported, timeout=30, what="SpecValid=False")
    assert "spec.rayVersion: token authentication needs Ray 2.52 or later" in condition["message"]
