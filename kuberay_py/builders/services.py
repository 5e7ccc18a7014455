"""The head Service: a stable address for the head pod's GCS, dashboard, client and metrics ports."""

import copy
from collections.abc import Mapping
from typing import Any

from kuberay_py.api import RayCluster, ServiceType
from kuberay_py.builders import ports
from kuberay_py.builders.labels import (
    HEAD,
    IDENTIFIER_LABEL,
    NODE_TYPE_LABEL,
    head_selector,
    identifier,
    ownership_labels,
)
from kuberay_py.builders.names import head_service_name
from kuberay_py.builders.objects import as_dict
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.ownership import object_metadata


def _declared_ports(cluster: RayCluster) -> list[dict[str, Any]]:
    """The head container's named ports, as Service ports."""
    ray = cluster.spec.head_group_spec.ray_container() or {}
    service_ports = []
    for port in ray.get("ports") or []:
        if isinstance(port, Mapping) and port.get("name") and port.get("containerPort") is not None:
            entry = {"name": port["name"], "port": port["containerPort"]}
            if port.get("protocol"):
                entry["protocol"] = port["protocol"]
            service_ports.append(entry)
    return service_ports


def head_service_ports(cluster: RayCluster) -> list[dict[str, Any]]:
    """The head container's declared ports, or Ray's defaults when it declares none; always `metrics`."""
    service_ports = _declared_ports(cluster) or [
        {"name": name, "port": number} for name, number in ports.DEFAULT_HEAD_PORTS
    ]
    if not any(
        p["name"] == ports.METRICS_PORT_NAME or p["port"] == ports.METRICS_PORT for p in service_ports
    ):
        service_ports.append({"name": ports.METRICS_PORT_NAME, "port": ports.METRICS_PORT})
    return service_ports


def build_head_service(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    """The head Service `<cluster>-head-svc`, or the user's `headGroupSpec.headService` completed.

    From a user's Service the operator keeps everything and sets only the namespace, its own labels and the
    selector (which must reach the head pod); it adds the ports, the type and the name if the user left them
    out. `headServiceAnnotations` are added to the annotations; the Service's own annotations win.
    """
    head = cluster.spec.head_group_spec
    custom: dict[str, Any] = copy.deepcopy(head.head_service or {})
    custom_meta = as_dict(custom.get("metadata"))
    custom_spec = as_dict(custom.get("spec"))

    labels = {
        **as_dict(custom_meta.get("labels")),
        **ownership_labels(cluster),
        NODE_TYPE_LABEL: HEAD,
        IDENTIFIER_LABEL: identifier(cluster, HEAD),
    }
    annotations = {**(cluster.spec.head_service_annotations or {}), **as_dict(custom_meta.get("annotations"))}
    metadata = {
        **custom_meta,
        **object_metadata(
            cluster, options, name=head_service_name(cluster), labels=labels, annotations=annotations
        ),
    }
    spec = {
        **custom_spec,
        "type": custom_spec.get("type") or head.service_type or ServiceType.CLUSTER_IP.value,
        "selector": head_selector(cluster),
        "ports": custom_spec.get("ports") or head_service_ports(cluster),
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
