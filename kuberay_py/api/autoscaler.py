"""Options of the Ray autoscaler sidecar that runs in the head pod."""

from typing import Annotated

from kuberay_py.api import messages as m
from kuberay_py.api.base import KubeModel
from kuberay_py.api.enums import AutoscalerVersion, PullPolicy, UpscalingMode, values
from kuberay_py.api.markers import at_least, one_of
from kuberay_py.api.types import Int32, KubeObject, Str

PullPolicyField = Annotated[Str, one_of(values(PullPolicy), m.IMAGE_PULL_POLICY_UNKNOWN)]


class AutoscalerOptions(KubeModel):
    """Settings of the autoscaler container (`enableInTreeAutoscaling: true`).

    The operator only builds the container from these; `idleTimeoutSeconds`, `upscalingMode` and `version` are
    read by the Ray autoscaler itself.
    """

    resources: KubeObject | None = None
    """Requests and limits of the autoscaler container (a ResourceRequirements). Default: 500m CPU and 512Mi,
    request equal to limit."""
    image: Str | None = None
    """The autoscaler's image. Default: the head's Ray image."""
    image_pull_policy: PullPolicyField | None = None
    """Always, IfNotPresent or Never."""
    security_context: KubeObject | None = None
    """A SecurityContext for the autoscaler container."""
    idle_timeout_seconds: Annotated[Int32, at_least(0, m.IDLE_TIMEOUT_NEGATIVE)] | None = None
    """Seconds a worker may stay idle before the autoscaler removes it. Default: 60."""
    upscaling_mode: Annotated[Str, one_of(values(UpscalingMode), m.UPSCALING_MODE_UNKNOWN)] | None = None
    """Default or Aggressive (no rate limit), or Conservative (pending workers at most the cluster's size)."""
    version: Annotated[Str, one_of(values(AutoscalerVersion), m.AUTOSCALER_VERSION_UNKNOWN)] | None = None
    """v1 or v2. Default: chosen by the Ray version (v2 from Ray 2.47)."""
    env: list[KubeObject] | None = None
    """Extra environment variables (EnvVar) of the autoscaler container."""
    env_from: list[KubeObject] | None = None
    """Extra EnvFromSource entries of the autoscaler container."""
    volume_mounts: list[KubeObject] | None = None
    """Extra VolumeMounts of the autoscaler container, e.g. for TLS material."""
    command: list[Str] | None = None
    """Replaces the autoscaler container's command."""
    args: list[Str] | None = None
    """Replaces the autoscaler container's arguments."""
