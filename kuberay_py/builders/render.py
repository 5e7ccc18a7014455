"""Everything the operator creates for a RayCluster or a RayJob, as objects or as multi-document YAML."""

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from kuberay_py.api import FieldError, RayCluster, validate_manifest
from kuberay_py.api.constants import GROUP, JOB_KIND, KIND
from kuberay_py.api.metadata import ApiObject
from kuberay_py.api.rayjob import RayJob, SubmissionMode
from kuberay_py.api.rayjob_validation import validate_job_manifest
from kuberay_py.builders.auth import render_auth_secret
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.names import head_service_host, replica_name, short_hash
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.pods import HostSlot, build_head_pod, build_worker_pod
from kuberay_py.builders.rayjob import build_job_cluster, build_submitter_job, dashboard_port
from kuberay_py.builders.rbac import (
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
)
from kuberay_py.builders.services import build_head_service, build_headless_worker_service


def render_cluster(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> list[dict[str, Any]]:
    """The objects the operator creates for `cluster`, in the order it creates them.

    With autoscaling: the autoscaler's ServiceAccount (unless the head template names its own), Role and
    RoleBinding. With token auth and no Secret of the user's: the token Secret, without a token (the operator
    draws one when it creates it). Always: the head Service; with a group of numOfHosts > 1, the headless
    worker Service; the head pod, and one pod of each worker group (one per host for a group with numOfHosts
    > 1, labelled as one replica). The operator creates as many worker pods as each
    group's replicas ask; they differ from the one shown only in the name the API server gives them.
    """
    objects: list[dict[str, Any]] = []
    if cluster.spec.autoscaling_enabled():
        account = build_autoscaler_service_account(cluster, options)
        if account is not None:
            objects.append(account)
        objects += [build_autoscaler_role(cluster, options), build_autoscaler_role_binding(cluster, options)]
    secret = render_auth_secret(cluster, options)
    if secret is not None:
        objects.append(secret)
    objects.append(build_head_service(cluster, options))
    headless = build_headless_worker_service(cluster, options)
    if headless is not None:
        objects.append(headless)
    objects.append(build_head_pod(cluster, options))
    for group in cluster.spec.worker_groups():
        if group.num_of_hosts == 1:
            objects.append(build_worker_pod(cluster, group, options))
            continue
        # The operator draws a random replica name; a stable one keeps the rendering reproducible.
        name = replica_name(group.group_name, short_hash(f"{cluster.name}/{group.group_name}/0"))
        for index in range(group.num_of_hosts):
            objects.append(build_worker_pod(cluster, group, options, HostSlot(name, index)))
    return objects


def render_job(job: RayJob, options: BuildOptions = DEFAULT_OPTIONS) -> list[dict[str, Any]]:
    """The objects the operator creates for `job`: its RayCluster and everything made for that cluster,
    then the submitter Job (K8sJobMode). The operator draws the cluster's name suffix and the submission ID
    at random; a stable stand-in keeps the rendering reproducible. A job on an existing cluster
    (`clusterSelector`) renders nothing: its submitter takes the head's image from that cluster, which the
    file does not hold."""
    objects: list[dict[str, Any]] = []
    stable = short_hash(f"{job.namespace}/{job.name}", 5)
    submission_id = job.spec.job_id or f"{job.name}-{stable}"
    spec = job.spec.ray_cluster_spec
    if job.spec.uses_existing_cluster():
        name, spec = job.spec.selected_cluster(), None
    else:
        name = f"{job.name}-{stable}"
        named = job.model_copy(
            update={"status": job.current_status().model_copy(update={"job_id": submission_id})}
        )
        manifest = build_job_cluster(named, name)
        objects.append(manifest)
        cluster = RayCluster.from_manifest(manifest)
        objects += render_cluster(cluster, options)
    if job.spec.mode() == SubmissionMode.K8S_JOB and spec is not None:
        cluster = RayCluster.from_manifest(
            {"metadata": {"name": name, "namespace": job.namespace}, "spec": spec.to_dict()}
        )
        address = f"{head_service_host(cluster, options)}:{dashboard_port(spec)}"
        objects.append(build_submitter_job(job, spec, submission_id, address))
    return objects


Parsed = TypeVar("Parsed", bound=ApiObject)


class _KubeDumper(yaml.SafeDumper):
    """Quotes every string a YAML 1.1 reader could take for something else.

    kubectl reads y, Y, n and N as booleans and 1e3 or 0o17 as numbers, PyYAML does not: a label value
    "n" or "1e3" must come out quoted.
    """


_KubeDumper.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN"))
_KubeDumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?0[oO][0-7_]+$"),
    list("-+0123456789."),
)


def to_yaml(objects: Iterable[dict[str, Any]]) -> str:
    """Multi-document YAML, one document per object, keys in the order they were built."""
    return "".join(
        "---\n"
        + yaml.dump(obj, Dumper=_KubeDumper, sort_keys=False, default_flow_style=False, width=1_000_000)
        for obj in objects
    )


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _is_kind(document: dict[str, Any], kind: str) -> bool:
    api_version = document.get("apiVersion")
    return (
        document.get("kind") == kind and isinstance(api_version, str) and api_version.startswith(f"{GROUP}/")
    )


def _is_raycluster(document: dict[str, Any]) -> bool:
    return _is_kind(document, KIND)


def clusters_in(text: str) -> list[RayCluster]:
    """The RayClusters of a YAML stream, validated as the API server would; other kinds are skipped.

    Raises BuildError with a one-line message for YAML that does not parse, a document that is not an
    object, an invalid RayCluster, or a stream without any RayCluster.
    """
    clusters, _jobs = objects_in(text)
    if not clusters:
        raise BuildError("no RayCluster found")
    return clusters


def objects_in(text: str) -> tuple[list[RayCluster], list[RayJob]]:
    """The RayClusters and RayJobs of a YAML stream, validated as the API server and the operator would.
    Raises BuildError as `clusters_in` does."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise BuildError(f"not valid YAML: {_one_line(str(error))}") from None
    clusters: list[RayCluster] = []
    jobs: list[RayJob] = []
    for number, document in enumerate(documents, start=1):
        if not isinstance(document, dict):
            raise BuildError(f"document {number} is not a Kubernetes object")
        if _is_kind(document, JOB_KIND):
            jobs.append(_parsed(document, number, RayJob, validate_job_manifest))
        elif _is_raycluster(document):
            clusters.append(_parsed(document, number, RayCluster, validate_manifest))
    return clusters, jobs


def _parsed(
    document: dict[str, Any],
    number: int,
    model: type[Parsed],
    validate: Callable[[dict[str, Any]], list[FieldError]],
) -> Parsed:
    """The document as `model`, validated as the API server and the operator would; else a BuildError."""
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    kind = model.__name__
    label = f'{kind} "{name}"' if name else f"{kind} (document {number})"
    errors = validate(document)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise BuildError(f"{label}: {_one_line(str(errors[0]))}{more}")
    try:
        parsed = model.from_manifest(document)
    except ValidationError as error:  # the validation reports these first; kept as a safety net
        raise BuildError(f"{label}: {_one_line(str(error))}") from None
    if not parsed.name:
        raise BuildError(f"{label}: metadata.name is required")
    return parsed


def render_manifests(text: str, options: BuildOptions = DEFAULT_OPTIONS) -> str:
    """The YAML of every object the operator would create for the RayClusters and RayJobs in `text`."""
    clusters, jobs = objects_in(text)
    if not clusters and not jobs:
        raise BuildError("no RayCluster or RayJob found")
    objects: list[dict[str, Any]] = []
    for cluster in clusters:
        objects += render_cluster(cluster, options)
    for job in jobs:
        if not job.namespace:
            meta = job.metadata.model_copy(update={"namespace": options.default_namespace})
            job = job.model_copy(update={"metadata": meta})
        objects += render_job(job, options)
    return to_yaml(objects)
