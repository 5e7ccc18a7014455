"""A legacy cluster as a `ray.io/v1` RayCluster with the in-tree autoscaler on.

Autoscaling was always on in the legacy operator, so it is here too; what the new API cannot say exactly
(the upscaling speed, the cluster-wide worker cap, setup commands) becomes a warning, never a silent loss.
"""

import copy
import math
from typing import Any, Final

from kuberay_py.api.constants import API_VERSION, KIND
from kuberay_py.api.enums import UpscalingMode
from kuberay_py.api.quantities import whole_units
from kuberay_py.legacy.fields import join
from kuberay_py.legacy.findings import Findings, LegacyError
from kuberay_py.legacy.model import (
    DEFAULT_IDLE_TIMEOUT_MINUTES,
    DEFAULT_UPSCALING_SPEED,
    LegacyCluster,
    PodType,
)
from kuberay_py.legacy.names import group_names
from kuberay_py.legacy.resources import OBJECT_STORE_MEMORY, OBJECT_STORE_MEMORY_FLAG
from kuberay_py.legacy.start_command import StartFlags, parse_start_commands

# The upscaling speed the Ray autoscaler uses for each mode: Default and Aggressive do not rate-limit.
UPSCALING_SPEEDS: Final = {UpscalingMode.CONSERVATIVE: 1.0, UpscalingMode.DEFAULT: 1000.0}


def upscaling_mode(speed: float) -> UpscalingMode:
    """The mode whose speed is nearest to `speed`, compared by ratio: twice as fast is as far as half."""
    return min(UPSCALING_SPEEDS, key=lambda mode: abs(math.log(speed / UPSCALING_SPEEDS[mode])))


def convert_cluster(cluster: LegacyCluster, findings: Findings) -> dict[str, Any]:
    """The ray.io/v1 manifest of `cluster`; warnings go to `findings`."""
    head = next((t for t in cluster.pod_types if t.name == cluster.head_pod_type), None)
    if head is None:
        known = ", ".join(t.name for t in cluster.pod_types)
        raise LegacyError(
            cluster.path("headPodType"), f"{cluster.head_pod_type!r} is not one of the pod types ({known})"
        )
    head_flags = parse_start_commands(
        cluster.head_start_commands, cluster.path("headStartRayCommands"), findings
    )
    worker_flags = parse_start_commands(
        cluster.worker_start_commands, cluster.path("workerStartRayCommands"), findings
    )
    _warn_setup_commands(cluster, findings)

    head_group: dict[str, Any] = {**_ray_settings(head, head_flags, findings), "template": head.template}
    # A head type with workers of its own served both purposes in the legacy operator.
    worker_types = [t for t in cluster.pod_types if t is not head or t.min_workers or t.max_workers]
    groups = [
        _worker_group(t, name, cluster, worker_flags, findings)
        for t, name in zip(worker_types, group_names(t.name for t in worker_types), strict=True)
    ]
    _warn_worker_cap(cluster, groups, findings)

    spec: dict[str, Any] = {
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": _autoscaler_options(cluster, findings),
        "headGroupSpec": head_group,
    }
    if groups:
        spec["workerGroupSpecs"] = groups
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": copy.deepcopy(cluster.metadata),
        "spec": spec,
    }


def _ray_settings(pod_type: PodType, flags: StartFlags, findings: Findings) -> dict[str, Any]:
    """rayStartParams and resources of the group made from `pod_type`."""
    params = dict(flags.params)
    resources = dict(flags.resources)
    for key, amount in pod_type.ray_resources.items():
        if key in resources and resources[key] != amount:
            findings.warn(
                join(join(pod_type.path, "rayResources"), key),
                f"{amount} is used, not {resources[key]} from {flags.resources_path}",
            )
        resources[key] = amount
    if OBJECT_STORE_MEMORY in resources:
        # Ray takes it only as a flag, in bytes.
        params[OBJECT_STORE_MEMORY_FLAG] = str(whole_units(resources.pop(OBJECT_STORE_MEMORY)))
    settings: dict[str, Any] = {"rayStartParams": params}
    if resources:
        settings["resources"] = resources
    return settings


def _worker_group(
    pod_type: PodType, name: str, cluster: LegacyCluster, flags: StartFlags, findings: Findings
) -> dict[str, Any]:
    if name != pod_type.name:
        findings.warn(
            pod_type.name_path, f"the group is named {name!r}: a group name must be a unique DNS label"
        )
    minimum = pod_type.min_workers
    maximum = pod_type.max_workers if pod_type.max_workers is not None else cluster.max_workers
    if maximum is None:
        findings.warn(
            join(pod_type.path, "maxWorkers"),
            f"not set: maxReplicas is minWorkers ({minimum}), so the group does not scale up; set maxWorkers "
            "to let the autoscaler add workers",
        )
        maximum = minimum
    if minimum > maximum:
        raise LegacyError(join(pod_type.path, "minWorkers"), f"{minimum} is above maxWorkers ({maximum})")
    return {
        "groupName": name,
        "replicas": minimum,
        "minReplicas": minimum,
        "maxReplicas": maximum,
        **_ray_settings(pod_type, flags, findings),
        "template": copy.deepcopy(pod_type.template),
    }


def _autoscaler_options(cluster: LegacyCluster, findings: Findings) -> dict[str, Any]:
    speed = cluster.upscaling_speed if cluster.upscaling_speed is not None else DEFAULT_UPSCALING_SPEED
    mode = upscaling_mode(speed)
    if speed != UPSCALING_SPEEDS[mode]:
        findings.warn(
            cluster.path("upscalingSpeed"),
            f"{speed:g} has no equivalent; upscalingMode {mode.value} is the nearest (Conservative: at most "
            "as many pending workers as the cluster has nodes; Default: no limit)",
        )
    minutes = cluster.idle_timeout_minutes
    minutes = minutes if minutes is not None else DEFAULT_IDLE_TIMEOUT_MINUTES
    seconds = round(minutes * 60)
    if seconds != minutes * 60:
        findings.warn(
            cluster.path("idleTimeoutMinutes"), f"{minutes:g} minutes is rounded to {seconds} whole seconds"
        )
    return {"idleTimeoutSeconds": seconds, "upscalingMode": mode.value}


def _warn_setup_commands(cluster: LegacyCluster, findings: Findings) -> None:
    lists = [
        (cluster.path("headSetupCommands"), cluster.head_setup_commands),
        (cluster.path("workerSetupCommands"), cluster.worker_setup_commands),
        *((join(t.path, "setupCommands"), t.setup_commands) for t in cluster.pod_types),
    ]
    for path, commands in lists:
        if commands:
            shown = "; ".join(" ".join(c.split()) for c in commands)
            findings.warn(
                path,
                f"has no equivalent and is left out ({shown}): bake these commands into the image, or run "
                "them in an init container",
            )


def _warn_worker_cap(cluster: LegacyCluster, groups: list[dict[str, Any]], findings: Findings) -> None:
    if cluster.max_workers is None:
        return
    total = sum(int(g["maxReplicas"]) for g in groups)
    if cluster.max_workers < total:
        findings.warn(
            cluster.path("maxWorkers"),
            f"{cluster.max_workers} caps the workers of all groups together, but their maxReplicas add up "
            f"to {total} and ray.io/v1 has no such cap: lower the groups' maxReplicas if the cap matters",
        )
