"""The head group and the worker groups: which pods a RayCluster runs and how Ray starts in them."""

from typing import Annotated, Any, ClassVar

from pydantic import Field

from kuberay_py.api import constants as c
from kuberay_py.api import messages as m
from kuberay_py.api import patterns as pat
from kuberay_py.api.base import KubeModel
from kuberay_py.api.enums import ServiceType, values
from kuberay_py.api.markers import Rule, Schema, at_least, one_of
from kuberay_py.api.types import Bool, Int32, KubeObject, PodTemplateSpec, Str


def _valid_label_keys(labels: dict[str, str]) -> bool:
    return all(len(k) <= pat.MAX_LABEL_KEY_LENGTH and pat.matches(pat.LABEL_KEY, k) for k in labels)


def _values_match(pattern: str, message: str) -> Rule:
    """A rule on a map: every value matches `pattern`."""
    return Rule(
        cel=f"self.all(k, self[k].matches({pat.cel(pattern)}))",
        message=message,
        check=lambda entries: all(pat.matches(pattern, v) for v in entries.values()),
    )


RayStartParams = Annotated[
    dict[str, Str],
    Field(max_length=c.MAX_RAY_START_PARAMS),
    Schema(
        rules=(
            Rule(
                cel="self.all(k, !k.startsWith('-'))",
                message=m.RAY_START_PARAM_WITH_DASHES,
                check=lambda params: not any(k.startswith("-") for k in params),
            ),
        )
    ),
]

GroupResources = Annotated[
    dict[str, Annotated[Str, Field(max_length=c.MAX_RESOURCE_VALUE_LENGTH)]],
    Field(max_length=c.MAX_GROUP_RESOURCES),
    Schema(rules=(_values_match(pat.QUANTITY, m.RESOURCE_NOT_QUANTITY),)),
]

NodeLabels = Annotated[
    dict[str, Annotated[Str, Field(max_length=c.MAX_LABEL_VALUE_LENGTH)]],
    Field(max_length=c.MAX_GROUP_LABELS),
    Schema(
        rules=(
            Rule(
                cel=(
                    f"self.all(k, k.size() <= {pat.MAX_LABEL_KEY_LENGTH} && "
                    f"k.matches({pat.cel(pat.LABEL_KEY)}))"
                ),
                message=m.LABEL_KEY_INVALID,
                check=_valid_label_keys,
            ),
            _values_match(pat.LABEL_VALUE, m.LABEL_VALUE_INVALID),
        )
    ),
]


def _resources_set_once(group: "RayGroupSpec") -> bool:
    if not group.resources or not group.ray_start_params:
        return True
    return not any(group.ray_start_params.get(k, "") != "" for k in c.RAY_START_RESOURCE_PARAMS)


def _labels_set_once(group: "RayGroupSpec") -> bool:
    if not group.labels or not group.ray_start_params:
        return True
    return group.ray_start_params.get("labels", "") == ""


_RESOURCE_PARAMS_CEL = ", ".join(f"'{p}'" for p in c.RAY_START_RESOURCE_PARAMS)


class RayGroupSpec(KubeModel):
    """What the head group and the worker groups have in common."""

    template: PodTemplateSpec
    """The pod template (a PodTemplateSpec). Its first container runs Ray."""
    ray_start_params: RayStartParams | None = None
    """Flags for `ray start`, without the leading dashes; every value is a string ("true" gives a bare
    flag)."""
    resources: GroupResources | None = None
    """Ray resources of each node of the group, e.g. {CPU: "2", GPU: "1", memory: "8Gi", TPU: "4"}. They
    override what the operator derives from the container's limits, but do not change the container's own
    requests and limits."""
    labels: NodeLabels | None = None
    """Ray node labels of the group's nodes, also added to its pods."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        Rule(
            cel=(
                "!has(self.resources) || size(self.resources) == 0 || !has(self.rayStartParams) || "
                f"![{_RESOURCE_PARAMS_CEL}].exists(p, "
                "p in self.rayStartParams && self.rayStartParams[p] != '')"
            ),
            message=m.RESOURCES_IN_BOTH_PLACES,
            check=_resources_set_once,
            field_path=".resources",
        ),
        Rule(
            cel=(
                "!has(self.labels) || size(self.labels) == 0 || !has(self.rayStartParams) || "
                "!('labels' in self.rayStartParams) || self.rayStartParams['labels'] == ''"
            ),
            message=m.LABELS_IN_BOTH_PLACES,
            check=_labels_set_once,
            field_path=".labels",
        ),
    )

    def containers(self) -> list[dict[str, Any]]:
        """The template's containers (empty when the template has none)."""
        spec = self.template.get("spec")
        containers = spec.get("containers") if isinstance(spec, dict) else None
        return [ctr for ctr in containers if isinstance(ctr, dict)] if isinstance(containers, list) else []

    def ray_container(self) -> dict[str, Any] | None:
        """The container that runs Ray: the template's first container."""
        containers = self.containers()
        return containers[0] if containers else None

    def restart_policy_never_or_unset(self) -> bool:
        """Whether the template's restartPolicy is Never or unset: what a Ray node that must not restart
        in place needs."""
        spec = self.template.get("spec")
        policy = spec.get("restartPolicy") if isinstance(spec, dict) else None
        return policy in (None, "", "Never")

    def start_params(self) -> dict[str, str]:
        """`rayStartParams`, empty when unset."""
        return dict(self.ray_start_params or {})


class HeadGroupSpec(RayGroupSpec):
    """The head pod: one per cluster, running the GCS, the dashboard and (with autoscaling) the autoscaler."""

    service_type: Annotated[Str, one_of(values(ServiceType), m.SERVICE_TYPE_UNKNOWN)] | None = None
    """Type of the head Service: ClusterIP (default), NodePort, LoadBalancer or ExternalName."""
    head_service: KubeObject | None = None
    """A whole Service to use as the head Service instead of the default one; the operator fills in the
    selector and the ports it leaves out."""
    enable_ingress: Bool | None = None
    """Create an Ingress for the dashboard."""
    ingress_options: KubeObject | None = None
    """Host, path, path type and TLS of that Ingress."""
    replicas: Int32 | None = None
    """Deprecated and ignored: a cluster always has exactly one head pod. Accepted so that old manifests
    apply."""

    admission_rules: ClassVar[tuple[Rule, ...]] = RayGroupSpec.admission_rules


class ScaleStrategy(KubeModel):
    """Which worker pods to remove. The Ray autoscaler writes this together with `replicas`."""

    workers_to_delete: (
        Annotated[
            list[
                Annotated[
                    Str,
                    Field(max_length=c.MAX_POD_NAME_LENGTH),
                    Schema(rules=(Rule(cel="self != ''", message=m.WORKER_TO_DELETE_EMPTY, check=bool),)),
                ]
            ],
            Field(max_length=c.MAX_WORKERS_TO_DELETE),
        ]
        | None
    ) = None
    """Names of pods of this group to delete. Names of pods that are already gone are ignored."""


GroupName = Annotated[
    Str,
    Field(max_length=c.MAX_GROUP_NAME_LENGTH),
    Schema(
        rules=(
            Rule(
                cel=f"self.matches({pat.cel(pat.DNS1123_LABEL)})",
                message=m.GROUP_NAME_NOT_DNS_LABEL,
                check=lambda name: pat.matches(pat.DNS1123_LABEL, name),
            ),
            Rule(
                cel=f"self != '{c.HEAD_GROUP_NAME}'",
                message=m.GROUP_NAME_RESERVED,
                check=lambda name: name != c.HEAD_GROUP_NAME,
            ),
        )
    ),
]


class WorkerGroupSpec(RayGroupSpec):
    """A group of identical worker pods that scales between `minReplicas` and `maxReplicas`."""

    group_name: GroupName
    """The group's name, unique within the cluster; it becomes the pods' `ray.io/group` label."""
    replicas: Annotated[Int32, at_least(0, m.REPLICAS_NEGATIVE)] = c.DEFAULT_REPLICAS
    """Desired replicas; the operator keeps it within [minReplicas, maxReplicas]. The autoscaler sets it when
    autoscaling is on."""
    min_replicas: Annotated[Int32, at_least(0, m.MIN_REPLICAS_NEGATIVE)] = c.DEFAULT_MIN_REPLICAS
    """Fewest replicas of the group."""
    max_replicas: Annotated[Int32, at_least(0, m.MAX_REPLICAS_NEGATIVE)] = c.DEFAULT_MAX_REPLICAS
    """Most replicas of the group."""
    num_of_hosts: Annotated[Int32, at_least(1, m.NUM_OF_HOSTS_TOO_SMALL)] = c.DEFAULT_NUM_OF_HOSTS
    """Pods per replica (hosts of a multi-host replica, e.g. a TPU slice)."""
    idle_timeout_seconds: Annotated[Int32, at_least(0, m.IDLE_TIMEOUT_NEGATIVE)] | None = None
    """Seconds a worker of this group may stay idle before the autoscaler v2 removes it; overrides
    autoscalerOptions.idleTimeoutSeconds."""
    priority: Int32 = 0
    """Preference of the autoscaler v2 for this group when several can satisfy a demand (higher wins)."""
    suspend: Bool | None = None
    """Delete all pods of this group and create none until it is false again."""
    scale_strategy: ScaleStrategy = Field(default_factory=ScaleStrategy)
    """Which pods to remove on scale-down."""

    admission_rules: ClassVar[tuple[Rule, ...]] = (
        *RayGroupSpec.admission_rules,
        Rule(
            cel="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",
            message=m.MIN_ABOVE_MAX,
            check=lambda g: g.min_replicas <= g.max_replicas,
            field_path=".minReplicas",
        ),
    )

    def desired_replicas(self) -> int:
        """`replicas` kept within [minReplicas, maxReplicas]; 0 while the group is suspended."""
        if self.suspend:
            return 0
        return min(max(self.replicas, self.min_replicas), self.max_replicas)

    def desired_pods(self) -> int:
        """How many pods the group should have: desired replicas x numOfHosts."""
        return self.desired_replicas() * self.num_of_hosts

    @property
    def workers_to_delete(self) -> list[str]:
        """Pod names the autoscaler asked to delete (empty when none)."""
        return list(self.scale_strategy.workers_to_delete or [])
