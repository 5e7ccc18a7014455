"""How a finished RayJob's status reads, for the tests that run one on the simulated stack and on real Ray."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# A failed entrypoint, as KubeRay reports it: (jobDeploymentStatus, reason, jobStatus).
APP_FAILED: Final = ("Failed", "AppFailed", "FAILED")


def outcome(status: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """The status's (jobDeploymentStatus, reason, jobStatus)."""
    return status.get("jobDeploymentStatus"), status.get("reason"), status.get("jobStatus")
