"""Health probes of the Ray container, asking the node's dashboard agent whether Ray is healthy."""

from typing import Any, Final

from kuberay_py.api.spec import ray_release
from kuberay_py.builders import ports

# From Ray 2.53 the dashboard agent answers /api/healthz for the whole node (raylet, and GCS on the head).
_HTTP_HEALTHZ_FROM: Final = (2, 53)
HEALTHZ_PATH: Final = "/api/healthz"
READINESS_FAILURE_THRESHOLD: Final = 10
# Generous: a busy node answers slowly, and restarting a Ray node loses its tasks and objects.
LIVENESS_FAILURE_THRESHOLD: Final = 120
# The head's check covers the GCS too, which answers slower under load: it gets longer, as KubeRay's does.
HEAD_TIMEOUT_SECONDS: Final = 5
WORKER_TIMEOUT_SECONDS: Final = 2

_RAYLET_CHECK: Final = (
    f"wget --tries 1 -T 2 -q -O- http://localhost:{ports.DASHBOARD_AGENT_PORT}/api/local_raylet_healthz"
    " | grep success"
)
_GCS_CHECK: Final = (
    f"wget --tries 1 -T 10 -q -O- http://localhost:{ports.DASHBOARD_PORT}/api/gcs_healthz | grep success"
)


def has_http_healthz(ray_version: str | None) -> bool:
    """Whether the Ray version is known to serve /api/healthz on the dashboard agent."""
    release = ray_release(ray_version)
    return release is not None and release >= _HTTP_HEALTHZ_FROM


def _handler(ray_version: str | None, head: bool) -> dict[str, Any]:
    if has_http_healthz(ray_version):
        return {"httpGet": {"path": HEALTHZ_PATH, "port": ports.DASHBOARD_AGENT_PORT}}
    # Older Ray, or a version we were not told: ask the raylet, and on the head the GCS too.
    check = f"{_RAYLET_CHECK} && {_GCS_CHECK}" if head else _RAYLET_CHECK
    return {"exec": {"command": ["bash", "-c", check]}}


def _probe(ray_version: str | None, head: bool, initial_delay: int, failure_threshold: int) -> dict[str, Any]:
    return {
        **_handler(ray_version, head),
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 5,
        "timeoutSeconds": HEAD_TIMEOUT_SECONDS if head else WORKER_TIMEOUT_SECONDS,
        "successThreshold": 1,
        "failureThreshold": failure_threshold,
    }


def readiness_probe(ray_version: str | None, head: bool) -> dict[str, Any]:
    return _probe(ray_version, head, initial_delay=10, failure_threshold=READINESS_FAILURE_THRESHOLD)


def liveness_probe(ray_version: str | None, head: bool) -> dict[str, Any]:
    return _probe(ray_version, head, initial_delay=30, failure_threshold=LIVENESS_FAILURE_THRESHOLD)


def add_default_probes(container: dict[str, Any], ray_version: str | None, head: bool) -> None:
    """Give the container each probe it lacks; a probe the user wrote stays as it is."""
    if not container.get("readinessProbe"):
        container["readinessProbe"] = readiness_probe(ray_version, head)
    if not container.get("livenessProbe"):
        container["livenessProbe"] = liveness_probe(ray_version, head)
