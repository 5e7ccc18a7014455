"""What the RayJob controller creates: the job's RayCluster, its submitter Job, and the Ray job itself.

Pure functions of the RayJob (and, for the submitter, the cluster's spec and dashboard address), as KubeRay
1.5 builds them: the cluster is named in the job's status before it is created, the submitter runs
`ray job submit` only when `ray job status` does not know the submission ID (so a retried submitter never
starts the job twice), then follows the job's logs.
"""

import json
import secrets
import shlex
import string
from typing import Any, Final

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import API_VERSION, DEFAULT_SUBMITTER_BACKOFF_LIMIT, JOB_KIND
from kuberay_py.api.rayjob import RayJob, RayJobSpec, SubmissionMode
from kuberay_py.api.rayjob_validation import runtime_env
from kuberay_py.api.spec import RayClusterSpec
from kuberay_py.builders.auth import auth_env
from kuberay_py.builders.env import ORIGINATED_FROM_CRD_LABEL, merge_env
from kuberay_py.builders.errors import BuildError
from kuberay_py.builders.labels import CREATED_BY, CREATED_BY_LABEL
from kuberay_py.builders.ownership import controller_references
from kuberay_py.builders.ports import DASHBOARD_PORT, DASHBOARD_PORT_NAME

ORIGINATED_FROM_NAME_LABEL: Final = "ray.io/originated-from-cr-name"
SUBMITTER_CONTAINER: Final = "ray-job-submitter"
RAY_DASHBOARD_ADDRESS: Final = "RAY_DASHBOARD_ADDRESS"
RAY_JOB_SUBMISSION_ID: Final = "RAY_JOB_SUBMISSION_ID"
SUBMITTER_RESOURCES: Final = {
    "limits": {"cpu": "1", "memory": "1Gi"},
    "requests": {"cpu": "500m", "memory": "200Mi"},
}
# `bash -ce`: a failing step ends the submitter with its exit code.
SUBMITTER_SHELL: Final = ("/bin/bash", "-ce", "--")
_SUFFIX_ALPHABET: Final = string.ascii_lowercase + string.digits


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))


def new_cluster_name(job: RayJob) -> str:
    """`<job>-<5 random characters>`: a retried job gets a new cluster, never an old one back."""
    return f"{job.name}-{random_suffix()}"


def new_submission_id(job: RayJob) -> str:
    """`spec.jobId` when given, else `<job>-<5 random characters>`."""
    return job.spec.job_id or f"{job.name}-{random_suffix()}"


def job_labels(job: RayJob) -> dict[str, str]:
    """What marks an object as made for this RayJob."""
    return {ORIGINATED_FROM_NAME_LABEL: job.name, ORIGINATED_FROM_CRD_LABEL: JOB_KIND}


def build_job_cluster(job: RayJob, name: str) -> dict[str, Any]:
    """The RayCluster made for the job: its spec, the job's labels and annotations, owned by the job."""
    spec = job.spec.ray_cluster_spec
    if spec is None:
        raise BuildError("spec.rayClusterSpec: the job names no cluster spec to create")
    labels = {**(job.metadata.labels or {}), **job_labels(job)}
    metadata: dict[str, Any] = {"name": name, "namespace": job.namespace, "labels": labels}
    if job.metadata.annotations:
        metadata["annotations"] = dict(job.metadata.annotations)
    if job.uid:
        metadata["ownerReferences"] = controller_references(job, JOB_KIND)
    cluster_spec = spec.to_dict()
    if job.spec.mode() == SubmissionMode.SIDECAR:
        head_template = cluster_spec["headGroupSpec"].setdefault("template", {})
        pod_spec = head_template.setdefault("spec", {})
        pod_spec["containers"] = [*pod_spec.get("containers", []), _sidecar_submitter(job, spec)]
        # The submitter shares the head's network: restarting the head would only submit again.
        pod_spec["restartPolicy"] = "Never"
    return {"apiVersion": API_VERSION, "kind": "RayCluster", "metadata": metadata, "spec": cluster_spec}


def dashboard_port(spec: RayClusterSpec) -> int:
    """The head's dashboard port: the Ray container's port named `dashboard`, else Ray's default."""
    ray = spec.head_group_spec.ray_container() or {}
    for port in ray.get("ports") or []:
        if isinstance(port, dict) and port.get("name") == DASHBOARD_PORT_NAME:
            number = port.get("containerPort")
            if isinstance(number, int):
                return number
    return DASHBOARD_PORT


def _number(value: float) -> str:
    # As KubeRay formats it (Go's %f).
    return f"{value:f}"


def _runtime_env(spec: RayJobSpec) -> dict[str, Any]:
    """The job's runtime environment; one the validation refuses stops the build."""
    try:
        return runtime_env(spec.runtime_env_yaml)
    except ValueError as error:
        raise BuildError(f"spec.runtimeEnvYAML: {error}") from error


def submit_command(job: RayJob, submission_id: str, address: str) -> str:
    """The submitter's shell line: submit unless already known, then follow the logs to the job's end.

    `address` is the dashboard's host:port (K8sJobMode) or loopback URL (SidecarMode).
    """
    mode = job.spec.mode()
    url = address if address.startswith("http://") or address.startswith("https://") else f"http://{address}"
    spec = job.spec
    submit = ["ray", "job", "submit", "--address", url]
    if mode == SubmissionMode.K8S_JOB:
        submit.append("--no-wait")
    env = _runtime_env(spec)
    if env:
        submit += ["--runtime-env-json", shlex.quote(json.dumps(env, separators=(",", ":")))]
    if spec.metadata and spec.ray_cluster_spec is not None:
        submit += ["--metadata-json", shlex.quote(json.dumps(spec.metadata, separators=(",", ":")))]
    submit += ["--submission-id", shlex.quote(submission_id)]
    if spec.entrypoint_num_cpus and spec.entrypoint_num_cpus > 0:
        submit += ["--entrypoint-num-cpus", _number(spec.entrypoint_num_cpus)]
    if spec.entrypoint_num_gpus and spec.entrypoint_num_gpus > 0:
        submit += ["--entrypoint-num-gpus", _number(spec.entrypoint_num_gpus)]
    if spec.entrypoint_resources:
        submit += ["--entrypoint-resources", shlex.quote(spec.entrypoint_resources)]
    # The entrypoint is a shell command of the user's, run as Ray runs it: not quoted.
    submit += ["--", (spec.entrypoint or "").strip()]
    quoted_id = shlex.quote(submission_id)
    if mode == SubmissionMode.SIDECAR:
        wait = (
            f"until ray job list --address {url} >/dev/null 2>&1 ; "
            f'do echo "Waiting for the Ray dashboard at {url} ..." ; sleep 2 ; done ; '
        )
        return wait + " ".join(submit)
    status = f"ray job status --address {url} {quoted_id} >/dev/null 2>&1"
    follow = f"ray job logs --address {url} --follow {quoted_id}"
    return f"if ! {status} ; then {' '.join(submit)} ; fi ; {follow}"


def _submitter_env(job: RayJob, submission_id: str, address: str) -> list[dict[str, Any]]:
    env = [
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": RAY_DASHBOARD_ADDRESS, "value": address},
        {"name": RAY_JOB_SUBMISSION_ID, "value": submission_id},
    ]
    spec = job.spec.ray_cluster_spec
    if spec is not None:
        # A cluster with token auth lets the submitter in with the same token as its Ray processes.
        env += auth_env(RayCluster(metadata=job.metadata, spec=spec))
    return env


def _sidecar_submitter(job: RayJob, spec: RayClusterSpec) -> dict[str, Any]:
    ray = spec.head_group_spec.ray_container() or {}
    address = f"http://127.0.0.1:{dashboard_port(spec)}"
    submission_id = job.current_status().job_id or ""
    return {
        "name": SUBMITTER_CONTAINER,
        "image": ray.get("image", ""),
        "resources": SUBMITTER_RESOURCES,
        "command": list(SUBMITTER_SHELL),
        "args": [submit_command(job, submission_id, address)],
        "env": _submitter_env(job, submission_id, address),
    }


def build_submitter_job(
    job: RayJob, cluster_spec: RayClusterSpec, submission_id: str, address: str
) -> dict[str, Any]:
    """The Kubernetes Job that submits the Ray job (K8sJobMode): the user's pod template or a default
    container with the head's image, given the dashboard address and the submission ID."""
    template: dict[str, Any]
    if job.spec.submitter_pod_template is not None:
        template = json.loads(json.dumps(job.spec.submitter_pod_template))
    else:
        ray = cluster_spec.head_group_spec.ray_container() or {}
        submitter = {
            "name": SUBMITTER_CONTAINER,
            "image": ray.get("image", ""),
            "resources": SUBMITTER_RESOURCES,
        }
        template = {"spec": {"containers": [submitter], "restartPolicy": "Never"}}
    pod_spec = template.setdefault("spec", {})
    containers = pod_spec.get("containers") or []
    if not containers or not isinstance(containers[0], dict):
        raise BuildError("spec.submitterPodTemplate.spec.containers: the submitter needs a container")
    first = containers[0]
    if not first.get("command"):
        first["command"] = list(SUBMITTER_SHELL)
        first["args"] = [submit_command(job, submission_id, address)]
    first["env"] = merge_env(first.get("env") or [], _submitter_env(job, submission_id, address))
    pod_spec.setdefault("restartPolicy", "Never")
    backoff = DEFAULT_SUBMITTER_BACKOFF_LIMIT
    if job.spec.submitter_config is not None and job.spec.submitter_config.backoff_limit is not None:
        backoff = job.spec.submitter_config.backoff_limit
    metadata: dict[str, Any] = {
        "name": job.name,
        "namespace": job.namespace,
        "labels": {**job_labels(job), CREATED_BY_LABEL: CREATED_BY},
    }
    if job.uid:
        metadata["ownerReferences"] = controller_references(job, JOB_KIND)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {"backoffLimit": backoff, "template": template},
    }


def submit_request(job: RayJob, submission_id: str) -> dict[str, Any]:
    """The body of `POST /api/jobs/` for HTTPMode, as `ray job submit` would send it."""
    spec = job.spec
    body: dict[str, Any] = {"entrypoint": (spec.entrypoint or "").strip(), "submission_id": submission_id}
    env = _runtime_env(spec)
    if env:
        body["runtime_env"] = env
    if spec.metadata:
        body["metadata"] = dict(spec.metadata)
    if spec.entrypoint_num_cpus:
        body["entrypoint_num_cpus"] = spec.entrypoint_num_cpus
    if spec.entrypoint_num_gpus:
        body["entrypoint_num_gpus"] = spec.entrypoint_num_gpus
    if spec.entrypoint_resources:
        try:
            resources = json.loads(spec.entrypoint_resources)
        except ValueError as error:
            raise BuildError(f"spec.entrypointResources: not a JSON object: {error}") from error
        if not isinstance(resources, dict):
            raise BuildError("spec.entrypointResources: not a JSON object")
        body["entrypoint_resources"] = resources
    return body
