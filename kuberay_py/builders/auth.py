"""Token authentication of a Ray cluster: the Secret holding its token and what every Ray process is given.

With `authOptions.mode: token` every Ray container, the init container that waits for the head and the
autoscaler sidecar get RAY_AUTH_MODE=token and the token from a Secret (the user's `secretName`, else one the
operator creates, named after the cluster, with key `auth_token`). With `enableK8sTokenAuth` there is no
shared token: each pod gets its ServiceAccount's projected token where Ray reads it, and Ray asks the API
server whether the caller may use the cluster.
"""

import base64
from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.api import RayCluster
from kuberay_py.builders.env import cluster_identity, merge_env, value
from kuberay_py.builders.labels import CLUSTER_LABEL
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.ownership import object_metadata

RAY_AUTH_MODE: Final = "RAY_AUTH_MODE"
RAY_AUTH_TOKEN: Final = "RAY_AUTH_TOKEN"
RAY_ENABLE_K8S_TOKEN_AUTH: Final = "RAY_ENABLE_K8S_TOKEN_AUTH"
TOKEN_KEY: Final = "auth_token"
TOKEN_BYTES: Final = 32
# Where Ray reads the token it presents to other Ray nodes under Kubernetes token authentication.
K8S_TOKEN_DIR: Final = "/var/run/secrets/ray.io/serviceaccount"
K8S_TOKEN_VOLUME: Final = "ray-k8s-token"
K8S_TOKEN_EXPIRATION_SECONDS: Final = 3600


def token_auth(cluster: RayCluster) -> bool:
    return cluster.spec.token_auth_enabled()


def k8s_token_auth(cluster: RayCluster) -> bool:
    options = cluster.spec.auth_options
    return token_auth(cluster) and options is not None and bool(options.enable_k8s_token_auth)


def auth_secret_name(cluster: RayCluster) -> str | None:
    """The Secret holding the cluster's token; None when there is none (auth off, or Kubernetes tokens)."""
    options = cluster.spec.auth_options
    if options is None or not token_auth(cluster) or k8s_token_auth(cluster):
        return None
    return options.secret_name or cluster.name


def operator_makes_auth_secret(cluster: RayCluster) -> bool:
    options = cluster.spec.auth_options
    return auth_secret_name(cluster) is not None and options is not None and not options.secret_name


def build_auth_secret(
    cluster: RayCluster, token: bytes, options: BuildOptions = DEFAULT_OPTIONS
) -> dict[str, Any]:
    """The Secret the operator makes for a cluster that names none; `token` is random bytes, written once."""
    encoded = base64.b64encode(token.hex().encode()).decode()
    metadata = object_metadata(cluster, options, name=cluster.name, labels={CLUSTER_LABEL: cluster.name})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {TOKEN_KEY: encoded},
    }


# What a rendering shows instead of a token: the operator draws it when it creates the Secret, once.
TOKEN_PLACEHOLDER: Final = "<32 random bytes, hex-encoded, drawn once when the operator creates this Secret>"


def render_auth_secret(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any] | None:
    """The token Secret as `kuberay-py render` shows it, with no token; None when the operator makes none."""
    if not operator_makes_auth_secret(cluster):
        return None
    secret = build_auth_secret(cluster, b"", options)
    del secret["data"]
    secret["stringData"] = {TOKEN_KEY: TOKEN_PLACEHOLDER}
    return secret


def auth_env(cluster: RayCluster) -> list[dict[str, Any]]:
    """What a Ray process of the cluster needs to be let in (empty when auth is off)."""
    if not token_auth(cluster):
        return []
    env = [value(RAY_AUTH_MODE, "token")]
    if k8s_token_auth(cluster):
        return [*env, value(RAY_ENABLE_K8S_TOKEN_AUTH, "true"), *cluster_identity()]
    secret = auth_secret_name(cluster)
    token = {"name": RAY_AUTH_TOKEN, "valueFrom": {"secretKeyRef": {"name": secret, "key": TOKEN_KEY}}}
    return [*env, token]


def _k8s_token_volume() -> dict[str, Any]:
    source = {"serviceAccountToken": {"path": "token", "expirationSeconds": K8S_TOKEN_EXPIRATION_SECONDS}}
    return {"name": K8S_TOKEN_VOLUME, "projected": {"sources": [source]}}


def add_auth(cluster: RayCluster, pod_spec: dict[str, Any], containers: list[dict[str, Any]]) -> None:
    """Give `containers` (Ray's, the wait-for-head init container, the autoscaler) what auth needs; the
    user's own definitions of these variables win."""
    if not token_auth(cluster):
        return
    for container in containers:
        # A list of its own per container: shared dicts would be one object in several places.
        container["env"] = merge_env(container.get("env") or [], auth_env(cluster))
    if not k8s_token_auth(cluster):
        return
    volumes = list(pod_spec.get("volumes") or [])
    if not any(isinstance(v, Mapping) and v.get("name") == K8S_TOKEN_VOLUME for v in volumes):
        pod_spec["volumes"] = [*volumes, _k8s_token_volume()]
    for container in containers:
        mounts = list(container.get("volumeMounts") or [])
        if not any(isinstance(m, Mapping) and m.get("mountPath") == K8S_TOKEN_DIR for m in mounts):
            mount = {"name": K8S_TOKEN_VOLUME, "mountPath": K8S_TOKEN_DIR, "readOnly": True}
            container["volumeMounts"] = [*mounts, mount]
