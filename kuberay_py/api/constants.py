"""Names and limits of the RayCluster API that other packages rely on."""

from typing import Final

GROUP: Final = "ray.io"
VERSION: Final = "v1"
DEPRECATED_VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "RayCluster"
LIST_KIND: Final = "RayClusterList"
PLURAL: Final = "rayclusters"
SINGULAR: Final = "raycluster"
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

# `<name>-serve-svc` and friends must fit in a 63-character DNS label.
MAX_CLUSTER_NAME_LENGTH: Final = 53
MAX_GROUP_NAME_LENGTH: Final = 63
# The head's `ray.io/group` label value and the head's node type in the autoscaler config.
HEAD_GROUP_NAME: Final = "headgroup"

# GCS fault tolerance. On the RayCluster, ft-enabled "true" is the older way to ask for it (with
# RAY_REDIS_ADDRESS in the head's env); on the head pod it says whether it was asked for.
FT_ENABLED_ANNOTATION: Final = "ray.io/ft-enabled"
EXTERNAL_STORAGE_NAMESPACE_ANNOTATION: Final = "ray.io/external-storage-namespace"
# Seconds a deleted cluster waits for its Redis cleanup before the finalizer goes anyway.
FT_DELETION_TIMEOUT_ANNOTATION: Final = "ray.io/gcs-ft-deletion-timeout"
DEFAULT_FT_DELETION_TIMEOUT_SECONDS: Final = 300
REDIS_CLEANUP_FINALIZER: Final = "ray.io/gcs-ft-redis-cleanup-finalizer"

INT32_MAX: Final = 2_147_483_647
DEFAULT_REPLICAS: Final = 0
DEFAULT_MIN_REPLICAS: Final = 0
DEFAULT_MAX_REPLICAS: Final = INT32_MAX
DEFAULT_NUM_OF_HOSTS: Final = 1

# Bounds that keep the CEL cost estimate of the CRD within the API server's budget.
MAX_WORKER_GROUPS: Final = 128
MAX_WORKERS_TO_DELETE: Final = 10_000
MAX_POD_NAME_LENGTH: Final = 253
MAX_RAY_START_PARAMS: Final = 128
MAX_GROUP_RESOURCES: Final = 64
MAX_RESOURCE_VALUE_LENGTH: Final = 64
MAX_GROUP_LABELS: Final = 64
MAX_LABEL_VALUE_LENGTH: Final = 63

# rayStartParams keys that set Ray resources, which a group's `resources` map also sets.
RAY_START_RESOURCE_PARAMS: Final = ("num-cpus", "num-gpus", "memory", "resources")

# The RayJob API.
JOB_KIND: Final = "RayJob"
JOB_LIST_KIND: Final = "RayJobList"
JOB_PLURAL: Final = "rayjobs"
JOB_SINGULAR: Final = "rayjob"
JOB_CRD_NAME: Final = f"{JOB_PLURAL}.{GROUP}"
# The job's cluster is named `<job>-<5 random characters>`, which must itself be a valid cluster name.
MAX_JOB_NAME_LENGTH: Final = MAX_CLUSTER_NAME_LENGTH - 6
# clusterSelector names the cluster to run on under this key.
CLUSTER_SELECTOR_KEY: Final = "ray.io/cluster"
# Held by a RayJob until its Ray job has been asked to stop.
JOB_STOP_FINALIZER: Final = "ray.io/rayjob-finalizer"
DEFAULT_SUBMITTER_BACKOFF_LIMIT: Final = 2
MAX_DELETION_RULES: Final = 16
