"""The Services of a RayCluster, built as KubeRay builds them.

The head Service is a stable address for the head pod's GCS, dashboard, client and metrics ports. By default
it is headless (`clusterIP: None`, publishing the head's address before it is ready, as there is only one head
pod to reach) unless `headGroupSpec.serviceType` asks for a type other than ClusterIP. A user's own
`headGroupSpec.headService` is completed instead, and is never made headless by the operator.

The headless worker Service exists when a worker group has `numOfHosts` > 1: the hosts of a replica (a TPU
slice, say) find each other through it.
"""

import copy
from collections.abc import Mapping
from typing import Any, Final

from kuberay_py.api import RayCluster, ServiceType
from kuberay_py.builders import ports
from kuberay_py.builders.labels import (
    APP_NAME,
    APP_NAME_LABEL,
    CLUSTER_LABEL,
    CREATED_BY,
    CREATED_BY_LABEL,
    HEAD,
    HEADLESS_WORKER_SERVICE_LABEL,
    IDENTIFIER_LABEL,
    NODE_TYPE_LABEL,
    WORKER,
    identifier,
)
from kuberay_py.builders.loose_json import as_dict
from kuberay_py.builders.names import head_service_name, headless_worker_service_name
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.ownership import object_metadata

APP_PROTOCOL: Final = "tcp"


def head_service_selector(cluster: RayCluster) -> dict[str, str]:
    """The head Service's selector, which are also its labels.

    The head template's own `app.kubernetes.io/name` is followed, as the head pod carries that one.
    """
    template_labels = as_dict(as_dict(cluster.spec.head_group_spec.template.get("metadata")).get("labels"))
    app_name = template_labels.get(APP_NAME_LABEL)
    return {
        CLUSTER_LABEL: cluster.name,
        NODE_TYPE_LABEL: HEAD,
        IDENTIFIER_LABEL: identifier(cluster, HEAD),
        APP_NAME_LABEL: app_name if isinstance(app_name, str) else APP_NAME,
        CREATED_BY_LABEL: CREATED_BY,
    }


def _declared_ports(cluster: RayCluster) -> dict[str, int]:
    """The head container's ports by name; an unnamed port is called `<port>-port`."""
    ray = cluster.spec.head_group_spec.ray_container() or {}
    declared: dict[str, int] = {}
    for port in ray.get("ports") or []:
        if not isinstance(port, Mapping) or not isinstance(port.get("containerPort"), int):
            continue
        name = port.get("name") or f"{port['containerPort']}-port"
        declared[str(name)] = port["containerPort"]
    return declared


def head_service_ports(cluster: RayCluster) -> list[dict[str, Any]]:
    """The head container's declared ports, or Ray's defaults when it declares none; always `metrics`.

    Sorted by name, so that the Service does not change with the order the ports were declared in.
    """
    by_name = _declared_ports(cluster) or dict(ports.DEFAULT_HEAD_PORTS)
    if ports.METRICS_PORT_NAME not in by_name and ports.METRICS_PORT not in by_name.values():
        by_name[ports.METRICS_PORT_NAME] = ports.METRICS_PORT
    return [
        {"name": name, "port": number, "appProtocol": APP_PROTOCOL}
        for name, number in sorted(by_name.items())
    ]


def _is_headless(service_type: str | None) -> bool:
    return not service_type or service_type == ServiceType.CLUSTER_IP


def build_head_service(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """The head Service `<cluster>-head-svc`, or the user's `headGroupSpec.headService` completed.

    From a user's Service the operator keeps everything and sets only the namespace, its own labels, the
    selector (which must reach the head pod) and the `headServiceAnnotations` (which win over the Service's
    own annotations); it adds the generated ports after the user's, the name and the type if the user left
    them out.
    """
    head = cluster.spec.head_group_spec
    selector = head_service_selector(cluster)
    generated = head_service_ports(cluster)
    if head.head_service is None:
        spec: dict[str, Any] = {"selector": selector, "ports": generated}
        if head.service_type:
            spec["type"] = head.service_type
        if _is_headless(head.service_type):
            spec["clusterIP"] = "None"
            spec["publishNotReadyAddresses"] = True
        metadata = object_metadata(
            cluster,
            options,
            name=head_service_name(cluster),
            labels=dict(selector),
            annotations=dict(cluster.spec.head_service_annotations or {}),
        )
        return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}

    custom: dict[str, Any] = copy.deepcopy(head.head_service)
    custom_meta = as_dict(custom.get("metadata"))
    custom_spec = as_dict(custom.get("spec"))
    labels = {**as_dict(custom_meta.get("labels")), **selector}
    annotations = {**as_dict(custom_meta.get("annotations")), **(cluster.spec.head_service_annotations or {})}
    metadata = {
        **custom_meta,
        **object_metadata(
            cluster, options, name=head_service_name(cluster), labels=labels, annotations=annotations
        ),
    }
    user_ports = [p for p in custom_spec.get("ports") or [] if isinstance(p, Mapping)]
    # A generated port the user's Service already has (by name or number) would make the API server refuse
    # the Service as a duplicate: the user's one is kept.
    taken_names = {p.get("name") for p in user_ports}
    taken_numbers = {p.get("port") for p in user_ports}
    added = [p for p in generated if p["name"] not in taken_names and p["port"] not in taken_numbers]
    spec = {**custom_spec, "selector": selector, "ports": [*user_ports, *added]}
    service_type = custom_spec.get("type") or head.service_type
    if service_type:
        spec["type"] = service_type
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def needs_headless_worker_service(cluster: RayCluster) -> bool:
    """Whether any worker group, suspended or not, has more than one host per replica."""
    return any(group.num_of_hosts > 1 for group in cluster.spec.worker_groups())


def build_headless_worker_service(
    cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS
) -> dict[str, Any] | None:
    """The Service `<cluster>-headless` selecting every worker pod, or None without a multi-host group.

    No ports and not-ready addresses published: it only gives the workers DNS names. Besides KubeRay's
    label it carries `ray.io/cluster`, which the operator's cache selects Services by.
    """
    if not needs_headless_worker_service(cluster):
        return None
    metadata = object_metadata(
        cluster,
        options,
        name=headless_worker_service_name(cluster),
        labels={HEADLESS_WORKER_SERVICE_LABEL: cluster.name, CLUSTER_LABEL: cluster.name},
    )
    spec = {
        "clusterIP": "None",
        "selector": {CLUSTER_LABEL: cluster.name, NODE_TYPE_LABEL: WORKER},
        "type": ServiceType.CLUSTER_IP.value,
        "publishNotReadyAddresses": True,
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
