"""The RayCluster CustomResourceDefinition, generated from the models."""

from typing import Any, Final

import yaml

from kuberay_py.api import constants as c
from kuberay_py.api.openapi import root_schema
from kuberay_py.api.raycluster import RayCluster

CRD_FILE: Final = "ray.io_rayclusters.yaml"
KUSTOMIZATION_FILE: Final = "kustomization.yaml"
HEADER: Final = "# Generated from kuberay_py.api by `python -m kuberay_py crd`. Do not edit.\n"

DEPRECATION_WARNING: Final = (
    f"{c.GROUP}/{c.DEPRECATED_VERSION} RayCluster is deprecated; "
    f"use {c.API_VERSION}, which has the same fields"
)


def _column(name: str, kind: str, path: str, priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


# `kubectl get rayclusters`; the last two only with `-o wide`.
PRINTER_COLUMNS: Final = (
    _column("desired workers", "integer", ".status.desiredWorkerReplicas"),
    _column("available workers", "integer", ".status.availableWorkerReplicas"),
    _column("cpus", "string", ".status.desiredCPU"),
    _column("memory", "string", ".status.desiredMemory"),
    _column("gpus", "string", ".status.desiredGPU"),
    _column("status", "string", ".status.state"),
    _column("age", "date", ".metadata.creationTimestamp"),
    _column("head pod IP", "string", ".status.head.podIP", priority=1),
    _column("head service IP", "string", ".status.head.serviceIP", priority=1),
)


def _version(name: str, schema: dict[str, Any], *, storage: bool) -> dict[str, Any]:
    version: dict[str, Any] = {"name": name, "served": True, "storage": storage}
    if not storage:
        version["deprecated"] = True
        version["deprecationWarning"] = DEPRECATION_WARNING
    version["schema"] = {"openAPIV3Schema": schema}
    version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [dict(col) for col in PRINTER_COLUMNS]
    return version


def build_crd() -> dict[str, Any]:
    """The CRD as a mapping. Both versions share one schema; without a conversion webhook the API server
    serves a stored object under either version by rewriting only its apiVersion."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": c.CRD_NAME},
        "spec": {
            "group": c.GROUP,
            "names": {
                "kind": c.KIND,
                "listKind": c.LIST_KIND,
                "plural": c.PLURAL,
                "singular": c.SINGULAR,
                "categories": ["all"],
            },
            "scope": "Namespaced",
            "versions": [
                _version(c.VERSION, root_schema(RayCluster), storage=True),
                _version(c.DEPRECATED_VERSION, root_schema(RayCluster), storage=False),
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block-style YAML without anchors: the two versions share no nodes on paper."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_crd() -> str:
    """The CRD as the YAML text committed in config/crd."""
    body = yaml.dump(build_crd(), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
    return HEADER + body


def render_kustomization() -> str:
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [CRD_FILE],
    }
    return yaml.dump(body, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
