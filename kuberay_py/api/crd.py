"""The RayCluster and RayJob CustomResourceDefinitions, generated from the models."""

from typing import Any, Final

import yaml

from kuberay_py.api import constants as c
from kuberay_py.api.openapi import root_schema
from kuberay_py.api.raycluster import RayCluster
from kuberay_py.api.rayjob import RayJob

CRD_FILE: Final = "ray.io_rayclusters.yaml"
JOB_CRD_FILE: Final = "ray.io_rayjobs.yaml"
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


# `kubectl get rayjobs`, as KubeRay has them.
JOB_PRINTER_COLUMNS: Final = (
    _column("job status", "string", ".status.jobStatus"),
    _column("deployment status", "string", ".status.jobDeploymentStatus"),
    _column("ray cluster name", "string", ".status.rayClusterName"),
    _column("start time", "string", ".status.startTime"),
    _column("end time", "string", ".status.endTime"),
    _column("age", "date", ".metadata.creationTimestamp"),
)


def _version(
    name: str,
    schema: dict[str, Any],
    *,
    storage: bool,
    columns: tuple[dict[str, Any], ...] = PRINTER_COLUMNS,
) -> dict[str, Any]:
    version: dict[str, Any] = {"name": name, "served": True, "storage": storage}
    if not storage:
        version["deprecated"] = True
        version["deprecationWarning"] = DEPRECATION_WARNING
    version["schema"] = {"openAPIV3Schema": schema}
    version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [dict(col) for col in columns]
    return version


def _crd(
    name: str, kind: str, list_kind: str, plural: str, singular: str, versions: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": c.GROUP,
            "names": {
                "kind": kind,
                "listKind": list_kind,
                "plural": plural,
                "singular": singular,
                "categories": ["all"],
            },
            "scope": "Namespaced",
            "versions": versions,
        },
    }


def build_crd() -> dict[str, Any]:
    """The CRD as a mapping. Both versions share one schema; without a conversion webhook the API server
    serves a stored object under either version by rewriting only its apiVersion."""
    versions = [
        _version(c.VERSION, root_schema(RayCluster), storage=True),
        _version(c.DEPRECATED_VERSION, root_schema(RayCluster), storage=False),
    ]
    return _crd(c.CRD_NAME, c.KIND, c.LIST_KIND, c.PLURAL, c.SINGULAR, versions)


def build_job_crd() -> dict[str, Any]:
    """The RayJob CRD: one version, ray.io/v1, as KubeRay serves it."""
    schema = root_schema(RayJob)
    schema["properties"]["kind"]["description"] = "RayJob."
    versions = [_version(c.VERSION, schema, storage=True, columns=JOB_PRINTER_COLUMNS)]
    return _crd(c.JOB_CRD_NAME, c.JOB_KIND, c.JOB_LIST_KIND, c.JOB_PLURAL, c.JOB_SINGULAR, versions)


class _Dumper(yaml.SafeDumper):
    """Block-style YAML without anchors: the two versions share no nodes on paper."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _render(crd: dict[str, Any]) -> str:
    return HEADER + yaml.dump(crd, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def render_crd() -> str:
    """The RayCluster CRD as the YAML text committed in config/crd."""
    return _render(build_crd())


def render_job_crd() -> str:
    """The RayJob CRD as the YAML text committed in config/crd."""
    return _render(build_job_crd())


def render_crds() -> str:
    """Both CRDs as one multi-document YAML text."""
    return render_crd() + "---\n" + render_job_crd()


def render_kustomization() -> str:
    body = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [CRD_FILE, JOB_CRD_FILE],
    }
    return yaml.dump(body, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
