"""The words the RayJob controller writes: its resource and its Event reasons."""

from enum import StrEnum

from kuberay_py.api.constants import GROUP, JOB_KIND, JOB_PLURAL, VERSION
from kuberay_py.runtime import Resource

RAYJOBS = Resource(GROUP, VERSION, JOB_PLURAL, JOB_KIND, has_status=True)


class EventReason(StrEnum):
    """Event reasons; KubeRay's where it has one, so that alerts written for it keep working."""

    CREATED_RAY_CLUSTER = "CreatedRayCluster"
    FAILED_TO_CREATE_RAY_CLUSTER = "FailedToCreateRayCluster"
    DELETED_RAY_CLUSTER = "DeletedRayCluster"
    FAILED_TO_DELETE_RAY_CLUSTER = "FailedToDeleteRayCluster"
    UPDATED_RAY_CLUSTER = "UpdatedRayCluster"
    FAILED_TO_UPDATE_RAY_CLUSTER = "FailedToUpdateRayCluster"
    RAY_CLUSTER_NOT_FOUND = "RayClusterNotFound"
    CREATED_SUBMITTER = "CreatedRayJobSubmitter"
    FAILED_TO_CREATE_SUBMITTER = "FailedToCreateRayJobSubmitter"
    DELETED_SUBMITTER = "DeletedRayJobSubmitter"
    FAILED_TO_DELETE_SUBMITTER = "FailedToDeleteRayJobSubmitter"
    INVALID_SPEC = "InvalidRayJobSpec"
    # kuberay-py's own.
    SUBMITTED = "SubmittedRayJob"
    FAILED_TO_SUBMIT = "FailedToSubmitRayJob"
    DASHBOARD_UNREACHABLE = "RayDashboardUnreachable"
    STOPPED_RAY_JOB = "StoppedRayJob"
    FAILED_TO_STOP_RAY_JOB = "FailedToStopRayJob"
    DELETED_RAY_JOB = "DeletedRayJob"
    FAILED_TO_DELETE_RAY_JOB = "FailedToDeleteRayJob"
    FAILED_UPDATE_STATUS = "FailedUpdateStatus"
    # A change of status.jobDeploymentStatus; the message says from what, to what and why.
    DEPLOYMENT_STATUS_CHANGED = "JobDeploymentStatusChanged"
