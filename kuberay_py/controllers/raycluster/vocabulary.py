"""The words the RayCluster controller writes: its resource, condition types and reasons, Event reasons, and
why it deletes a pod. KubeRay's where it has one, so that alerts written for it keep working."""

from enum import StrEnum

from kuberay_py.api.constants import GROUP, KIND, PLURAL, VERSION
from kuberay_py.runtime import Resource

RAYCLUSTERS = Resource(GROUP, VERSION, PLURAL, KIND, has_status=True)


class ConditionType(StrEnum):
    HEAD_POD_READY = "HeadPodReady"
    PROVISIONED = "RayClusterProvisioned"
    REPLICA_FAILURE = "ReplicaFailure"
    SUSPENDING = "RayClusterSuspending"
    SUSPENDED = "RayClusterSuspended"
    # kuberay-py's own.
    SPEC_VALID = "SpecValid"
    PODS_UP_TO_DATE = "PodsUpToDate"
    CACHE_SYNCED = "PodCacheSynced"
    """False while the pod cache lags this operator's own writes for long: no pods are created or deleted."""
    UNSUPPORTED_FIELDS = "UnsupportedFields"
    """True while the cluster sets KubeRay fields kuberay-py accepts but does not act on."""
    TOKEN_AUTHENTICATION = "TokenAuthentication"
    """Whether and how Ray authenticates requests, so that users see auth is on."""


class ConditionReason(StrEnum):
    HEAD_POD_NOT_FOUND = "HeadPodNotFound"
    HEAD_POD_RUNNING_AND_READY = "HeadPodRunningAndReady"
    UNKNOWN = "Unknown"
    ALL_READY_FIRST_TIME = "AllPodRunningAndReadyFirstTime"
    PODS_PROVISIONING = "RayClusterPodsProvisioning"
    # ReplicaFailure's.
    FAILED_CREATE_HEAD_POD = "FailedCreateHeadPod"
    FAILED_CREATE_WORKER_POD = "FailedCreateWorkerPod"
    FAILED_DELETE_ALL_PODS = "FailedDeleteAllPods"
    FAILED_DELETE_HEAD_POD = "FailedDeleteHeadPod"
    FAILED_DELETE_WORKER_POD = "FailedDeleteWorkerPod"
    FAILED_ADOPT_POD = "FailedAdoptPod"
    # kuberay-py's own conditions'.
    VALID = "Valid"
    INVALID_SPEC = "InvalidSpec"
    OUTDATED_TEMPLATE = "OutdatedTemplate"
    ALL_PODS_UP_TO_DATE = "AllPodsUpToDate"
    CACHE_CAUGHT_UP = "CacheCaughtUp"
    POD_CACHE_BEHIND = "PodCacheBehind"
    ALL_FIELDS_SUPPORTED = "AllFieldsSupported"
    UNSUPPORTED_FIELD = "UnsupportedField"
    AUTH_DISABLED = "AuthDisabled"
    KUBERNETES_TOKENS = "KubernetesTokens"
    SECRET_TOKEN = "SecretToken"


class EventReason(StrEnum):
    CREATED_HEAD_POD = "CreatedHeadPod"
    CREATED_WORKER_POD = "CreatedWorkerPod"
    DELETED_HEAD_POD = "DeletedHeadPod"
    DELETED_WORKER_POD = "DeletedWorkerPod"
    DELETED_POD = "DeletedPod"
    FAILED_TO_CREATE_HEAD_POD = "FailedToCreateHeadPod"
    FAILED_TO_CREATE_WORKER_POD = "FailedToCreateWorkerPod"
    FAILED_TO_DELETE_HEAD_POD = "FailedToDeleteHeadPod"
    FAILED_TO_DELETE_WORKER_POD = "FailedToDeleteWorkerPod"
    FAILED_TO_DELETE_POD_COLLECTION = "FailedToDeletePodCollection"
    FAILED_TO_DELETE_WORKER_POD_COLLECTION = "FailedToDeleteWorkerPodCollection"
    CREATED_SERVICE = "CreatedService"
    FAILED_TO_CREATE_SERVICE = "FailedToCreateService"
    CREATED_SERVICE_ACCOUNT = "CreatedServiceAccount"
    FAILED_TO_CREATE_SERVICE_ACCOUNT = "FailedToCreateServiceAccount"
    CREATED_ROLE = "CreatedRole"
    FAILED_TO_CREATE_ROLE = "FailedToCreateRole"
    CREATED_ROLE_BINDING = "CreatedRoleBinding"
    FAILED_TO_CREATE_ROLE_BINDING = "FailedToCreateRoleBinding"
    CREATED_REDIS_CLEANUP_JOB = "CreatedRedisCleanupJob"
    FAILED_TO_CREATE_REDIS_CLEANUP_JOB = "FailedToCreateRedisCleanupJob"
    INVALID_SPEC = "InvalidRayClusterSpec"
    FAILED_UPDATE_STATUS = "FailedUpdateStatus"
    # kuberay-py's own.
    FAILED_ADOPT_POD = "FailedAdoptPod"
    UNSUPPORTED_FIELD = "UnsupportedField"
    FAILED_RECONCILE = "FailedReconcile"
    SERVICE_ACCOUNT_NOT_FOUND = "AutoscalerServiceAccountNotFound"
    CREATED_SECRET = "CreatedSecret"
    FAILED_TO_CREATE_SECRET = "FailedToCreateSecret"
    REDIS_CLEANUP_COMPLETED = "RedisCleanupCompleted"
    REDIS_CLEANUP_FAILED = "RedisCleanupFailed"
    REDIS_CLEANUP_TIMED_OUT = "RedisCleanupTimedOut"
    REDIS_CLEANUP_SKIPPED = "RedisCleanupSkipped"


class DeleteReason(StrEnum):
    """Why the controller deletes a pod (shown in the Event that says so)."""

    FINISHED = "PodFinished"
    SUSPENDED = "Suspended"
    GROUP_SUSPENDED = "GroupSuspended"
    GROUP_REMOVED = "GroupRemoved"
    WORKERS_TO_DELETE = "WorkersToDelete"
    SCALE_DOWN = "ScaleDown"
    DUPLICATE_HEAD = "DuplicateHead"
    RECREATE = "Recreate"
    ROLLING_UPDATE = "RollingUpdate"
    REPLICA_INCOMPLETE = "ReplicaIncomplete"
    CLUSTER_DELETED = "ClusterDeleted"
