"""Volumes the operator adds to Ray pods: a memory-backed /dev/shm; /tmp/ray shared with the autoscaler; the
ServiceAccount token for the autoscaler alone."""

from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.builders.names import free_name

SHARED_MEMORY_PATH: Final = "/dev/shm"
SHARED_MEMORY_VOLUME: Final = "shared-mem"
RAY_LOGS_PATH: Final = "/tmp/ray"
RAY_LOGS_VOLUME: Final = "ray-logs"


def _same_path(a: object, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/") == b.rstrip("/")


def mount_at(container: Mapping[str, Any], path: str) -> dict[str, Any] | None:
    """The container's volume mount at `path`, if any."""
    for mount in container.get("volumeMounts") or []:
        if isinstance(mount, dict) and _same_path(mount.get("mountPath"), path):
            return mount
    return None


def free_volume_name(pod_spec: Mapping[str, Any], wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, ... when the pod already has a volume of that name."""
    return free_name(pod_spec.get("volumes") or [], wanted)


def _add_volume(pod_spec: dict[str, Any], volume: dict[str, Any]) -> None:
    pod_spec["volumes"] = [*(pod_spec.get("volumes") or []), volume]


def _add_mount(container: dict[str, Any], mount: dict[str, Any]) -> None:
    container["volumeMounts"] = [*(container.get("volumeMounts") or []), mount]


def _memory_size(container: Mapping[str, Any]) -> Any:
    resources = container.get("resources")
    if not isinstance(resources, Mapping):
        return None
    for kind in ("limits", "requests"):
        values = resources.get(kind)
        if isinstance(values, Mapping) and values.get("memory") not in (None, ""):
            return values["memory"]
    return None


def add_shared_memory(pod_spec: dict[str, Any], container: dict[str, Any]) -> None:
    """Mount a memory-backed /dev/shm sized to the container's memory, unless something is mounted there.

    Ray's object store lives in /dev/shm; the container runtime's default of 64 MiB is far too small.
    """
    if mount_at(container, SHARED_MEMORY_PATH) is not None:
        return
    empty_dir: dict[str, Any] = {"medium": "Memory"}
    size = _memory_size(container)
    if size is not None:
        empty_dir["sizeLimit"] = size
    name = free_volume_name(pod_spec, SHARED_MEMORY_VOLUME)
    _add_volume(pod_spec, {"name": name, "emptyDir": empty_dir})
    _add_mount(container, {"name": name, "mountPath": SHARED_MEMORY_PATH})


def share_ray_logs(pod_spec: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """The mount of /tmp/ray to give the autoscaler: the Ray container's own, or a new emptyDir in both.

    The autoscaler writes its logs there, where Ray's log monitor and users find them.
    """
    existing = mount_at(container, RAY_LOGS_PATH)
    if existing is not None:
        return {"name": existing["name"], "mountPath": RAY_LOGS_PATH}
    name = free_volume_name(pod_spec, RAY_LOGS_VOLUME)
    _add_volume(pod_spec, {"name": name, "emptyDir": {}})
    mount = {"name": name, "mountPath": RAY_LOGS_PATH}
    _add_mount(container, dict(mount))
    return mount


SERVICE_ACCOUNT_TOKEN_PATH: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
SERVICE_ACCOUNT_TOKEN_VOLUME: Final = "kube-api-access"
_TOKEN_SECONDS: Final = 3607  # what the kubelet's own projected token asks for; it refreshes it before expiry


def service_account_token_volume(name: str) -> dict[str, Any]:
    """The volume Kubernetes projects for a ServiceAccount: a bound token, the cluster CA, the namespace."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": _TOKEN_SECONDS}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def token_for_one_container(pod_spec: dict[str, Any], container: dict[str, Any]) -> None:
    """Give the ServiceAccount token to `container` alone, instead of every container of the pod.

    The head's ServiceAccount may patch pods and RayClusters for the autoscaler; code run through the Ray
    dashboard in the Ray container must not inherit that. A template that decides for itself
    (`automountServiceAccountToken` set) is left as it is.
    """
    if "automountServiceAccountToken" in pod_spec or mount_at(container, SERVICE_ACCOUNT_TOKEN_PATH):
        return
    pod_spec["automountServiceAccountToken"] = False
    name = free_volume_name(pod_spec, SERVICE_ACCOUNT_TOKEN_VOLUME)
    _add_volume(pod_spec, service_account_token_volume(name))
    _add_mount(container, {"name": name, "mountPath": SERVICE_ACCOUNT_TOKEN_PATH, "readOnly": True})
