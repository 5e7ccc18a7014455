"""The `ray start` command of a Ray pod and how it becomes the Ray container's command."""

import re
from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.api import RayCluster, WorkerGroupSpec
from kuberay_py.builders import ports
from kuberay_py.builders.addresses import head_address
from kuberay_py.builders.faulttolerance import fault_tolerance_start_params
from kuberay_py.builders.node_groups import NodeGroup, node_group
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.ray_resources import add_accelerator_resources, resource_params

# On the RayCluster: "true" leaves the Ray container's command alone; the user then runs
# $KUBERAY_GEN_RAY_START_CMD themselves.
OVERWRITE_COMMAND_ANNOTATION: Final = "ray.io/overwrite-container-cmd"
# Ray opens many files (sockets, logs, object spilling); the image's default limit is often 1024.
RAISE_FILE_LIMIT: Final = "ulimit -n 65536"
SHELL: Final = ("/bin/bash", "-c", "--")
# `ray start` options that take true/false as a value: a bare flag would be a usage error.
_BOOLEAN_VALUED_OPTIONS: Final = frozenset({"include-dashboard", "include-log-monitor"})
_RAY_START: Final = re.compile(r"\bray\s+start\b")


def _default_params(cluster: RayCluster, group: NodeGroup, options: BuildOptions) -> dict[str, str]:
    params = {
        "block": "true",
        "metrics-export-port": str(ports.METRICS_PORT),
        "dashboard-agent-listen-port": str(ports.DASHBOARD_AGENT_PORT),
    }
    if group.is_head:
        params["dashboard-host"] = "0.0.0.0"
        if cluster.spec.autoscaling_enabled():
            # The autoscaler runs in its own container; Ray must not start a second one.
            params["no-monitor"] = "true"
    else:
        params["address"] = head_address(cluster, options)
    return params


def start_params_of(cluster: RayCluster, group: NodeGroup, options: BuildOptions) -> dict[str, str]:
    params = _default_params(cluster, group, options)
    if group.spec.labels:
        params["labels"] = ",".join(f"{key}={value}" for key, value in sorted(group.spec.labels.items()))
    ray_container = group.spec.ray_container() or {}
    params.update(resource_params(ray_container, group.spec.resources, group.path))
    # An empty value counts as unset (the admission rules read it that way too).
    params.update({key: value for key, value in group.spec.start_params().items() if value != ""})
    params.update(fault_tolerance_start_params(cluster, group))
    # After the user's params: the accelerators are merged into a `resources` the user wrote.
    add_accelerator_resources(params, ray_container, f"{group.path}.template.spec.containers[0]")
    return dict(sorted(params.items()))


def ray_start_params(
    cluster: RayCluster, group: WorkerGroupSpec | None = None, options: BuildOptions = DEFAULT_OPTIONS
) -> dict[str, str]:
    """Every `ray start` option of the head (`group=None`) or of a worker group, sorted by name.

    The defaults (`block`, ports, `dashboard-host` and `no-monitor` on the head, `address` on workers), Ray
    node `labels`, the resources derived from the Ray container and the group's `resources`, and then the
    group's own `rayStartParams`, which win; TPUs and Neuron cores of the Ray container join `resources`
    unless it names them already.
    """
    return start_params_of(cluster, node_group(cluster, group), options)


def format_ray_start(params: Mapping[str, str], *, head: bool) -> str:
    """`ray start [--head] --key=value ...`; the value "true" gives a bare flag."""
    words = ["ray", "start"] + (["--head"] if head else [])
    for key, value in sorted(params.items()):
        bare = value.lower() == "true" and key not in _BOOLEAN_VALUED_OPTIONS
        words.append(f"--{key}" if bare else f"--{key}={value}")
    return " ".join(words)


def ray_start_command(
    cluster: RayCluster, group: WorkerGroupSpec | None = None, options: BuildOptions = DEFAULT_OPTIONS
) -> str:
    """The `ray start` command line of the head (`group=None`) or of a worker group's pods."""
    return format_ray_start(ray_start_params(cluster, group, options), head=group is None)


def overwrites_command(cluster: RayCluster) -> bool:
    """Whether the cluster asks for the Ray container's command to be left as written."""
    annotations = cluster.metadata.annotations or {}
    return annotations.get(OVERWRITE_COMMAND_ANNOTATION, "").lower() == "true"


def user_command_line(container: Mapping[str, Any]) -> str:
    """The container's command and args as one shell line, the way Ray manifests write them."""
    parts = [*(container.get("command") or []), *(container.get("args") or [])]
    return " ".join(str(part) for part in parts)


def set_start_command(container: dict[str, Any], start_command: str, *, keep_user_command: bool) -> None:
    """Make the Ray container run `start_command` after the user's own command, if any.

    Left alone when `keep_user_command` is set or when the user's command already runs `ray start`.
    """
    user_line = user_command_line(container)
    if keep_user_command or _RAY_START.search(user_line):
        return
    generated = f"{RAISE_FILE_LIMIT}; {start_command}"
    container["command"] = list(SHELL)
    container["args"] = [f"{user_line} && {generated}" if user_line else generated]
