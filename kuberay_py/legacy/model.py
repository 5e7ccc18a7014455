"""One legacy Ray cluster as both legacy formats describe it, before it is converted.

The custom resource and the Helm values are read into this same shape; every part keeps the path where it
was found, so that warnings and errors name the field the user wrote.
"""

from dataclasses import dataclass
from typing import Any, Final

# What the legacy operator did when a field was left out.
DEFAULT_UPSCALING_SPEED: Final = 1.0
DEFAULT_IDLE_TIMEOUT_MINUTES: Final = 5.0


@dataclass(frozen=True)
class PodType:
    """One entry of `podTypes`: a kind of Ray node and how many of it the autoscaler may run."""

    name: str
    path: str
    """Where the entry is: `spec.podTypes[1]`, or `podTypes.rayWorkerType` in Helm values."""
    name_path: str
    """Where its name is: `spec.podTypes[1].name`, or the key `podTypes.rayWorkerType` in Helm values."""
    min_workers: int
    max_workers: int | None
    """None when the entry gives none."""
    ray_resources: dict[str, str]
    """Ray resource name -> amount, as a quantity string."""
    setup_commands: tuple[str, ...]
    template: dict[str, Any]
    """A PodTemplateSpec whose first container runs Ray, already free of the legacy placeholder command."""


@dataclass(frozen=True)
class LegacyCluster:
    metadata: dict[str, Any]
    """name, and namespace, labels and annotations where given."""
    prefix: str
    """What comes before a cluster-wide field's name in a path: `spec.`, or nothing in Helm values."""
    head_pod_type: str
    pod_types: tuple[PodType, ...]
    max_workers: int | None = None
    upscaling_speed: float | None = None
    idle_timeout_minutes: float | None = None
    head_start_commands: tuple[str, ...] = ()
    worker_start_commands: tuple[str, ...] = ()
    head_setup_commands: tuple[str, ...] = ()
    worker_setup_commands: tuple[str, ...] = ()

    def path(self, field: str) -> str:
        return f"{self.prefix}{field}"
