"""Every validation message, defined once.

The CRD's CEL rules and the Python validator both use these strings, so a user sees the same words whether the
API server rejects a manifest or the controller reports a problem it found later.
"""

from typing import Final

from kuberay_py.api import constants as c

# Cluster name.
CLUSTER_NAME_TOO_LONG: Final = (
    f"RayCluster names must be at most {c.MAX_CLUSTER_NAME_LENGTH} characters, "
    "so that the names of the Services derived from them fit in 63"
)
CLUSTER_NAME_NOT_DNS1035: Final = (
    "RayCluster names must be DNS-1035 labels: lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit"
)

# Worker groups.
GROUP_NAMES_NOT_UNIQUE: Final = "worker group names must be unique: two groups share a groupName"
GROUP_NAME_NOT_DNS_LABEL: Final = (
    "groupName must be a DNS label: at most 63 lowercase letters, digits and '-', "
    "starting and ending with a letter or digit"
)
GROUP_NAME_RESERVED: Final = f"groupName '{c.HEAD_GROUP_NAME}' is reserved for the head group"
REPLICAS_NEGATIVE: Final = "replicas must not be negative"
MIN_REPLICAS_NEGATIVE: Final = "minReplicas must not be negative"
MAX_REPLICAS_NEGATIVE: Final = "maxReplicas must not be negative"
MIN_ABOVE_MAX: Final = "minReplicas must not be greater than maxReplicas"
NUM_OF_HOSTS_TOO_SMALL: Final = "numOfHosts must be at least 1"
IDLE_TIMEOUT_NEGATIVE: Final = "idleTimeoutSeconds must not be negative"
WORKER_TO_DELETE_EMPTY: Final = "scaleStrategy.workersToDelete must list pod names, not empty strings"
SUSPENDED_GROUP_WITH_AUTOSCALER: Final = (
    "a worker group cannot be suspended while enableInTreeAutoscaling is true: "
    "the autoscaler owns the group's replicas"
)

# Head and worker groups alike.
TEMPLATE_WITHOUT_CONTAINERS: Final = "the pod template needs at least one container: the first one runs Ray"
RAY_CONTAINER_WITHOUT_IMAGE: Final = (
    "the Ray container (the first container of the pod template) needs an image"
)
RESOURCES_IN_BOTH_PLACES: Final = (
    "set Ray resources either in the group's resources or in its rayStartParams "
    "(num-cpus, num-gpus, memory, resources), not in both"
)
LABELS_IN_BOTH_PLACES: Final = (
    "set Ray node labels either in the group's labels or in rayStartParams.labels, not in both"
)
RAY_START_PARAM_WITH_DASHES: Final = (
    "rayStartParams keys are ray start flag names without the leading dashes, e.g. num-cpus, not --num-cpus"
)
RESOURCE_NOT_QUANTITY: Final = (
    'the values of a group\'s resources must be quantities such as "2", "500m" or "8Gi", '
    "with an exponent of at most two digits"
)
LABEL_KEY_INVALID: Final = (
    "label keys must be valid Kubernetes label keys: an optional DNS subdomain prefix and '/', "
    "then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
)
LABEL_VALUE_INVALID: Final = (
    "label values must be at most 63 letters, digits, '-', '_' or '.', "
    "starting and ending with a letter or digit"
)
RAY_START_PARAM_NOT_NUMBER: Final = 'must be a number such as "4" or "0.5" (memory in bytes), at most 2^63-1'
HEAD_SERVICE_EXTERNAL_IPS: Final = (
    "externalIPs are not allowed on the head Service: traffic to those addresses would reach the Ray "
    "dashboard and client ports from outside the cluster; use serviceType LoadBalancer or an Ingress"
)
SERVICE_TYPE_UNKNOWN: Final = "serviceType must be one of ClusterIP, NodePort, LoadBalancer or ExternalName"

# Autoscaler.
UPSCALING_MODE_UNKNOWN: Final = (
    "autoscalerOptions.upscalingMode must be one of Default, Aggressive or Conservative"
)
AUTOSCALER_VERSION_UNKNOWN: Final = "autoscalerOptions.version must be v1 or v2"
IMAGE_PULL_POLICY_UNKNOWN: Final = "imagePullPolicy must be one of Always, IfNotPresent or Never"

# Upgrade strategy.
UPGRADE_TYPE_UNKNOWN: Final = "upgradeStrategy.type must be one of None, Recreate or RollingUpdate"
ROLLING_UPDATE_WITHOUT_TYPE: Final = (
    "upgradeStrategy.rollingUpdate can only be set when upgradeStrategy.type is RollingUpdate or unset"
)
MAX_UNAVAILABLE_INVALID: Final = (
    "rollingUpdate.maxUnavailable must be a number of pods of at least 1 "
    'or a percentage from 1% to 100%, such as 1 or "25%"'
)

# managedBy.
MANAGED_BY_UNKNOWN: Final = (
    "managedBy must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"
)
MANAGED_BY_CHANGED: Final = "managedBy cannot be added, changed or removed after the RayCluster is created"

# GCS fault tolerance.
REDIS_ADDRESS_EMPTY: Final = (
    "gcsFaultToleranceOptions.redisAddress must be Redis's host:port or a redis:// URI"
)
REDIS_CREDENTIAL_TWICE: Final = "give a Redis credential either as value or as valueFrom, not both"
REDIS_PASSWORD_TWICE: Final = (
    "the Redis password is given twice: set it in gcsFaultToleranceOptions.redisPassword only, "
    "not also in rayStartParams.redis-password"
)
REDIS_USERNAME_IN_PARAMS: Final = (
    "set the Redis username in gcsFaultToleranceOptions.redisUsername, not in rayStartParams.redis-username"
)

# Token authentication.
AUTH_MODE_UNKNOWN: Final = "authOptions.mode must be token or disabled"
K8S_TOKEN_AUTH_WITHOUT_TOKEN_MODE: Final = "authOptions.enableK8sTokenAuth needs authOptions.mode: token"
K8S_TOKEN_AUTH_WITH_SECRET: Final = (
    "authOptions.secretName cannot be set with enableK8sTokenAuth: Kubernetes checks the callers' own "
    "ServiceAccount tokens, there is no shared token"
)

# Checks that only the Python validator makes (CEL cannot express them, or not cheaply).
RESTART_POLICY_WITH_AUTOSCALER_V2: Final = (
    "restartPolicy must be Never or unset when the Ray autoscaler v2 is used: "
    "it matches Ray nodes to pods and a restarted container breaks that match"
)
AUTOSCALER_V2_ENV_WITHOUT_AUTOSCALING: Final = (
    "RAY_enable_autoscaler_v2 is set in the head's Ray container but enableInTreeAutoscaling is not true: "
    "set enableInTreeAutoscaling: true to use the autoscaler v2"
)
AUTOSCALER_VERSION_SET_TWICE: Final = (
    "both autoscalerOptions.version and the head's RAY_enable_autoscaler_v2 variable are set: "
    "use autoscalerOptions.version only"
)
CONTAINER_NAMES_NOT_UNIQUE: Final = "container names in a pod template must be unique"
FT_ANNOTATION_AND_OPTIONS: Final = (
    "the ray.io/ft-enabled annotation and gcsFaultToleranceOptions are both set: "
    "use gcsFaultToleranceOptions only"
)
FT_ANNOTATION_WITHOUT_REDIS: Final = (
    'ray.io/ft-enabled is "true" but the head\'s Ray container sets no RAY_REDIS_ADDRESS: '
    "set gcsFaultToleranceOptions.redisAddress (or RAY_REDIS_ADDRESS with the annotation)"
)
REDIS_ADDRESS_WITHOUT_FT: Final = (
    "RAY_REDIS_ADDRESS is set in the head's Ray container, which asks Ray for GCS fault tolerance, but "
    "gcsFaultToleranceOptions is not set: set gcsFaultToleranceOptions.redisAddress instead"
)
REDIS_ENV_WITH_OPTIONS: Final = (
    "is set in the head's Ray container while gcsFaultToleranceOptions is set: "
    "use gcsFaultToleranceOptions instead"
)
STORAGE_NAMESPACE_ANNOTATION_WITH_OPTIONS: Final = (
    "the ray.io/external-storage-namespace annotation cannot be used with gcsFaultToleranceOptions: "
    "use gcsFaultToleranceOptions.externalStorageNamespace"
)
REDIS_USERNAME_ENV: Final = (
    "REDIS_USERNAME is set in the head's Ray container: use gcsFaultToleranceOptions.redisUsername"
)
FT_DELETION_TIMEOUT_INVALID: Final = "must be a whole number of seconds, at least 0"
AUTH_NEEDS_NEWER_RAY: Final = "token authentication needs Ray 2.52 or later"
K8S_TOKEN_AUTH_NEEDS_NEWER_RAY: Final = "enableK8sTokenAuth needs Ray 2.55 or later"

# Schema-level messages; the API server words these itself, so these match its wording.
REQUIRED: Final = "Required value"
UNKNOWN_FIELD: Final = "unknown field"
MUST_BE_STRING: Final = "must be of type string"
MUST_BE_INTEGER: Final = "must be of type integer"
MUST_BE_BOOLEAN: Final = "must be of type boolean"
MUST_BE_OBJECT: Final = "must be of type object"
MUST_BE_ARRAY: Final = "must be of type array"
TOO_MANY: Final = "Too many"
TOO_LONG: Final = "Too long"

# RayJob.
JOB_NAME_TOO_LONG: Final = (
    f"RayJob names must be at most {c.MAX_JOB_NAME_LENGTH} characters, "
    "so that the name of the RayCluster made for the job fits"
)
JOB_NAME_NOT_DNS1035: Final = (
    "RayJob names must be DNS-1035 labels: lowercase letters, digits and '-', "
    "starting with a letter and ending with a letter or digit"
)
JOB_NEEDS_CLUSTER: Final = "one of rayClusterSpec and clusterSelector must be set"
CLUSTER_SELECTOR_WITHOUT_NAME: Final = (
    f"clusterSelector must name the RayCluster to run on under '{c.CLUSTER_SELECTOR_KEY}'"
)
SUSPEND_WITHOUT_SHUTDOWN: Final = "suspend needs shutdownAfterJobFinishes: true"
SUSPEND_WITH_CLUSTER_SELECTOR: Final = (
    "suspend cannot be used with clusterSelector: the job does not own the cluster it would delete"
)
TTL_WITHOUT_SHUTDOWN: Final = "ttlSecondsAfterFinished needs shutdownAfterJobFinishes: true"
TTL_NEGATIVE: Final = "ttlSecondsAfterFinished must not be negative"
ACTIVE_DEADLINE_NOT_POSITIVE: Final = "activeDeadlineSeconds must be at least 1"
BACKOFF_LIMIT_NEGATIVE: Final = "backoffLimit must not be negative"
SUBMITTER_BACKOFF_LIMIT_NEGATIVE: Final = "submitterConfig.backoffLimit must not be negative"
BACKOFF_WITH_INTERACTIVE: Final = "backoffLimit cannot be used with submissionMode InteractiveMode"
SUBMISSION_MODE_UNKNOWN: Final = (
    "submissionMode must be one of 'K8sJobMode', 'HTTPMode', 'InteractiveMode' and 'SidecarMode'"
)
SIDECAR_WITH_SUBMITTER_TEMPLATE: Final = "submitterPodTemplate cannot be used with submissionMode SidecarMode"
SIDECAR_WITH_SUBMITTER_CONFIG: Final = "submitterConfig cannot be used with submissionMode SidecarMode"
SIDECAR_WITH_CLUSTER_SELECTOR: Final = "clusterSelector cannot be used with submissionMode SidecarMode"
SIDECAR_HEAD_RESTART_POLICY: Final = (
    "the head's restartPolicy must be Never or unset with submissionMode SidecarMode"
)
ENTRYPOINT_REQUIRED: Final = (
    "entrypoint is required, except in InteractiveMode and with a submitterPodTemplate of your own"
)
JOB_MANAGED_BY_CHANGED: Final = "managedBy cannot be added, changed or removed after the RayJob is created"
DELETION_STRATEGY_MIXED: Final = (
    "deletionStrategy takes either onSuccess and onFailure, or deletionRules, not both"
)
DELETION_STRATEGY_INCOMPLETE: Final = (
    "deletionStrategy needs both onSuccess and onFailure, or a non-empty deletionRules"
)
DELETION_POLICY_UNKNOWN: Final = (
    "policy must be one of 'DeleteCluster', 'DeleteWorkers', 'DeleteSelf' and 'DeleteNone'"
)
DELETION_POLICY_REQUIRED: Final = "policy is required"
DELETION_JOB_STATUS_UNKNOWN: Final = "jobStatus must be 'SUCCEEDED' or 'FAILED'"
DELETION_TTL_NEGATIVE: Final = "ttlSeconds must not be negative"
DELETION_RULES_WITH_SHUTDOWN: Final = (
    "deletionRules cannot be used with shutdownAfterJobFinishes: true; say what to delete in the rules"
)
DELETION_RULES_EMPTY: Final = "deletionRules must hold at least one rule"
DELETION_RULE_DUPLICATE: Final = "two rules have the same policy and jobStatus"
DELETION_WITH_CLUSTER_SELECTOR: Final = (
    "DeleteCluster and DeleteWorkers cannot be used with clusterSelector: the job does not own the cluster"
)
DELETE_WORKERS_WITH_AUTOSCALER: Final = (
    "DeleteWorkers cannot be used with enableInTreeAutoscaling: the autoscaler would bring the workers back"
)
DELETION_TTL_ORDER: Final = (
    "rules for one jobStatus must delete in order: DeleteWorkers no later than DeleteCluster, "
    "DeleteCluster no later than DeleteSelf"
)
RUNTIME_ENV_INVALID: Final = "runtimeEnvYAML must be a YAML mapping"
METADATA_NEEDS_NEWER_RAY: Final = "metadata needs rayClusterSpec.rayVersion 2.6.0 or later"
WAITING_WITHOUT_INTERACTIVE: Final = "status.jobDeploymentStatus is Waiting, which only InteractiveMode uses"
