"""The Job that deletes a fault-tolerant cluster's state from Redis once the cluster is deleted.

It runs the head's Ray container (its image, its Redis variables, its storage namespace) with Ray's own
cleanup function instead of `ray start`, once (backoffLimit 0, restartPolicy Never), and gives up after the
cluster's cleanup timeout, so that an unreachable Redis never holds a deletion for ever.
"""

from typing import Any, Final

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import DEFAULT_FT_DELETION_TIMEOUT_SECONDS, FT_DELETION_TIMEOUT_ANNOTATION
from kuberay_py.builders.labels import NODE_TYPE_LABEL
from kuberay_py.builders.names import MAX_DNS_LABEL, fit
from kuberay_py.builders.options import DEFAULT_OPTIONS, BuildOptions
from kuberay_py.builders.ownership import object_metadata
from kuberay_py.builders.pods import build_head_pod

REDIS_CLEANUP: Final = "redis-cleanup"
RESOURCES: Final = {"cpu": "200m", "memory": "256Mi"}
# Ray retries its Redis connection this often, this far apart: about a minute before the Job fails.
CONNECT_RETRIES: Final = ("RAY_redis_db_connect_retries", "120")
CONNECT_WAIT_MS: Final = ("RAY_redis_db_connect_wait_milliseconds", "500")

# Python run in the Ray image: the first address of RAY_REDIS_ADDRESS (host:port or a redis:// URI), the
# credentials from the head's variables, and a non-zero exit when Ray reports the cleanup failed.
CLEANUP_SCRIPT: Final = (
    "import os, sys; "
    "from urllib.parse import urlparse; "
    "from ray._private.gcs_utils import cleanup_redis_storage; "
    "first = os.environ.get('RAY_REDIS_ADDRESS', '').split(',')[0]; "
    "url = urlparse(first if '://' in first else 'redis://' + first); "
    "done = cleanup_redis_storage(host=url.hostname, port=url.port, "
    "username=os.environ.get('REDIS_USERNAME') or url.username, "
    "password=os.environ.get('REDIS_PASSWORD', url.password or ''), "
    "use_ssl=url.scheme == 'rediss', "
    "storage_namespace=os.environ['RAY_external_storage_namespace']); "
    "print('deleted storage namespace', os.environ['RAY_external_storage_namespace'], 'from Redis' "
    "if done else 'could not be deleted from Redis'); "
    "sys.exit(0 if done else 1)"
)


def redis_cleanup_job_name(cluster: RayCluster) -> str:
    return fit(f"{cluster.name}-{REDIS_CLEANUP}", MAX_DNS_LABEL)


def deletion_timeout_seconds(cluster: RayCluster) -> int:
    """How long a deleted cluster waits for its cleanup: `ray.io/gcs-ft-deletion-timeout`, else the default.
    Validation reports a value that is not a whole number; here it counts as unset."""
    text = (cluster.annotation(FT_DELETION_TIMEOUT_ANNOTATION) or "").strip()
    return int(text) if text.isdigit() else DEFAULT_FT_DELETION_TIMEOUT_SECONDS


def build_redis_cleanup_job(cluster: RayCluster, options: BuildOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    head = build_head_pod(cluster, options)
    labels = {**head["metadata"].get("labels", {}), NODE_TYPE_LABEL: REDIS_CLEANUP}
    annotations = dict(head["metadata"].get("annotations") or {})
    spec = head["spec"]
    ray = spec["containers"][0]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
        ray.pop(probe, None)
    ray["command"] = ["/bin/bash", "-c", "--"]
    ray["args"] = [f'python -c "{CLEANUP_SCRIPT}"']
    ray["env"] = [
        *ray.get("env", []),
        *({"name": n, "value": v} for n, v in (CONNECT_RETRIES, CONNECT_WAIT_MS)),
    ]
    # A fixed small size: the cleanup needs no GPU and little memory, whatever the head asks for.
    ray["resources"] = {"requests": dict(RESOURCES), "limits": dict(RESOURCES)}
    spec["containers"] = [ray]
    spec["restartPolicy"] = "Never"
    timeout = deletion_timeout_seconds(cluster)
    metadata = object_metadata(
        cluster, options, name=redis_cleanup_job_name(cluster), labels=labels, annotations=annotations
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(timeout, 1),
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": spec},
        },
    }
