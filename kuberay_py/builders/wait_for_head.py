"""The init container of worker pods that waits until the head's GCS answers.

A worker whose `ray start` cannot reach the head exits and restarts in a loop; waiting first keeps the pod
in its init phase, where `kubectl get pods` shows plainly what it waits for.
"""

import copy
from collections.abc import Mapping
from typing import Any, Final

CONTAINER_NAME: Final = "wait-gcs-ready"
RESOURCES: Final = {"cpu": "200m", "memory": "256Mi"}
POLL_SECONDS: Final = 5
# Settings of the Ray container the init container needs to run the same `ray` the same way: its
# environment and mounts may hold what a TLS connection to the head needs.
_COPIED_FROM_RAY: Final = ("imagePullPolicy", "envFrom", "securityContext", "volumeMounts")


def wait_script(address: str) -> str:
    return (
        f"until ray health-check --address {address} > /dev/null 2>&1; do "
        f'echo "$SECONDS s: waiting for the Ray head at {address}"; sleep {POLL_SECONDS}; '
        f'done; echo "The Ray head at {address} is ready."'
    )


def wait_for_head_container(ray_container: Mapping[str, Any], address: str) -> dict[str, Any]:
    """An init container with the Ray container's image, environment and mounts (as the user wrote them)
    that waits for `address`."""
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": ray_container.get("image"),
        "command": ["/bin/bash", "-c", "--"],
        "args": [wait_script(address)],
        "env": copy.deepcopy(ray_container.get("env") or []),
        "resources": {"requests": dict(RESOURCES), "limits": dict(RESOURCES)},
    }
    for key in _COPIED_FROM_RAY:
        if ray_container.get(key):
            container[key] = copy.deepcopy(ray_container[key])
    return container


def add_wait_for_head(pod_spec: dict[str, Any], ray_container: Mapping[str, Any], address: str) -> None:
    """Append the init container, unless the template already has one of that name."""
    init = list(pod_spec.get("initContainers") or [])
    if any(isinstance(c, Mapping) and c.get("name") == CONTAINER_NAME for c in init):
        return
    pod_spec["initContainers"] = [*init, wait_for_head_container(ray_container, address)]
