"""A YAML stream of legacy manifests or Helm values in, the validated ray.io/v1 RayClusters out."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kuberay_py.api import RayCluster, validate_manifest
from kuberay_py.builders import BuildError, head_pod_prefix, head_service_name, render_cluster
from kuberay_py.legacy.convert import convert_cluster
from kuberay_py.legacy.custom_resource import API_VERSION, is_custom_resource, read_custom_resource
from kuberay_py.legacy.findings import Findings, LegacyError
from kuberay_py.legacy.helm_values import DEFAULT_RELEASE_NAME, looks_like_values, read_values
from kuberay_py.legacy.model import LegacyCluster


class ConvertError(ValueError):
    """Input that cannot be converted; the message is one line that names the document and the field."""


@dataclass
class Conversion:
    manifests: list[dict[str, Any]] = field(default_factory=list)
    """One ray.io/v1 RayCluster per legacy cluster, in input order, each valid for the operator."""
    warnings: list[str] = field(default_factory=list)
    """One line per field without an equivalent (or a document left out), naming it."""


def convert_text(text: str, name: str = DEFAULT_RELEASE_NAME) -> Conversion:
    """Convert every legacy RayCluster or Helm values document of `text`; `name` names Helm values' cluster.

    Raises ConvertError for input that does not parse, a document that is not a mapping, a legacy document
    that cannot be converted, or a stream with nothing to convert.
    """
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise ConvertError(f"not valid YAML: {_one_line(str(error))}") from None
    entries = _entries(documents)
    if not entries:
        raise ConvertError("empty: expected a legacy RayCluster (cluster.ray.io/v1) or legacy Helm values")
    several = len(entries) > 1
    result = Conversion()
    names: dict[tuple[str, str], str] = {}
    for where, document in entries:
        label = f"{where}: " if where else ""
        if not isinstance(document, dict):
            raise ConvertError(f"{label}not a mapping: expected a legacy RayCluster or legacy Helm values")
        findings = Findings()
        try:
            legacy = _read(document, name, findings)
            if legacy is None:
                reason = _not_legacy(document)
                if not several:
                    raise ConvertError(f"{label}not a legacy manifest: {reason}")
                result.warnings.append(f"{label}left out: {reason}")
                continue
            manifest = convert_cluster(legacy, findings)
            cluster = _validated(manifest, from_values=not is_custom_resource(document))
            _warn_new_names(cluster, findings)
        except LegacyError as error:
            raise ConvertError(f"{label}{_one_line(str(error))}") from None
        key = (cluster.namespace, cluster.name)
        if key in names:
            raise ConvertError(
                f"{label}metadata.name: {cluster.name!r} is also the name of {names[key]}'s cluster"
            )
        names[key] = where
        result.manifests.append(manifest)
        result.warnings += [f"{label}{_one_line(str(finding))}" for finding in findings.items]
    if not result.manifests:
        raise ConvertError(f"no legacy RayCluster or legacy Helm values among the {len(entries)} documents")
    return result


def _entries(documents: list[object]) -> list[tuple[str, object]]:
    """Each document with where it is, the items of a list (what `kubectl get -o yaml` prints) one by one."""
    entries: list[tuple[str, object]] = []
    for number, document in enumerate(documents, start=1):
        where = f"document {number}" if len(documents) > 1 else ""
        items = document.get("items") if isinstance(document, dict) else None
        if (
            isinstance(document, dict)
            and str(document.get("kind", "")).endswith("List")
            and isinstance(items, list)
        ):
            entries += [(f"{where} items[{index}]".strip(), item) for index, item in enumerate(items)]
        else:
            entries.append((where, document))
    return entries


def _read(document: Mapping[str, Any], name: str, findings: Findings) -> LegacyCluster | None:
    if is_custom_resource(document):
        return read_custom_resource(document, findings)
    if looks_like_values(document):
        return read_values(document, name, findings)
    return None


def _not_legacy(document: Mapping[str, Any]) -> str:
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if isinstance(api_version, str) and api_version.startswith("ray.io/") and kind == "RayCluster":
        return f"already a {api_version} RayCluster, apply it as it is"
    if api_version is not None or kind is not None:
        return f"a {kind} of {api_version}, not a legacy RayCluster ({API_VERSION})"
    return f"neither a legacy RayCluster ({API_VERSION}) nor legacy Helm values (podTypes, image)"


def _validated(manifest: dict[str, Any], *, from_values: bool) -> RayCluster:
    """The manifest as the operator reads it, after the checks the API server and the operator make."""
    errors = validate_manifest(manifest)
    if errors:
        first = errors[0]
        if from_values and first.path == "metadata.name":
            raise LegacyError("--name", first.message)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise LegacyError("", f"the converted RayCluster is not valid: {first}{more}")
    cluster = RayCluster.from_manifest(manifest)
    try:
        render_cluster(cluster)
    except BuildError as error:
        raise LegacyError("", f"the operator cannot build the converted cluster's pods: {error}") from None
    return cluster


def _warn_new_names(cluster: RayCluster, findings: Findings) -> None:
    name = cluster.name
    findings.warn(
        "metadata.name",
        f"the head Service is now {head_service_name(cluster)} (was {name}-ray-head) and pods are named "
        f"{head_pod_prefix(cluster)}* and {name}-<group>-worker-*: point clients at the new Service, and "
        "select pods by the labels ray.io/cluster, ray.io/node-type and ray.io/group",
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())
