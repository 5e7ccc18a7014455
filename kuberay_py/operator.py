"""Run the operator: connect, check the cluster is ready for us, and run the manager with the controllers.

Problems a user can fix (no kubeconfig, API server unreachable, CRD not installed, a missing permission) are
raised as `OperatorError` with one line that says what to do; the CLI prints it and exits non-zero.

Before starting, the operator asks the API server (SelfSubjectAccessReview) whether it may do what it cannot
run without: list and watch everything it caches, and hold its Lease. Without that the caches would never
sync and the process would hang half-started. Write permissions are not checked up front: a missing one is
reported on each RayCluster it affects (a ReplicaFailure condition and a Warning Event) while the operator
keeps serving the others.
"""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from kuberay_py.api.constants import CRD_NAME, JOB_CRD_NAME
from kuberay_py.builders import BuildOptions
from kuberay_py.controllers.raycluster import (
    ReconcilerOptions,
    add_raycluster_controller,
    cache_selectors,
    cache_transforms,
)
from kuberay_py.controllers.raycluster.metrics import report_rayclusters
from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS
from kuberay_py.controllers.rayjob import RAYJOBS, DashboardClient, RayJobOptions, add_rayjob_controller
from kuberay_py.runtime import (
    LEASES,
    ApiError,
    CacheSyncTimeout,
    Forbidden,
    KubeClient,
    LeaderElectionLost,
    Manager,
    ManagerOptions,
    NotFound,
    Resource,
    TransportError,
    Unauthorized,
    allocator,
    configure_logging,
    connect,
)

log = structlog.get_logger("kuberay_py.operator")

LEADER_ELECTION_ID = "kuberay-py-operator"
# A metrics or health address that is taken, not ours, or not allowed.
_BIND_ERRORS = (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES)
_REVIEWS_IN_FLIGHT = 4
SELF_SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False
)
SELF_SUBJECT_REVIEWS = Resource(
    "authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", namespaced=False
)


class OperatorError(Exception):
    """A problem the user must fix; the message is one line."""


@dataclass
class OperatorConfig:
    kubeconfig: str | None = None
    namespace: str | None = None
    leader_elect: bool = False
    leader_election_namespace: str | None = None
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    metrics_addr: str = ":8080"
    health_addr: str = ":8081"
    workers: int = 16
    log_format: str = "json"
    log_level: str = "info"
    cluster_domain: str = "cluster.local"
    enable_metrics: bool = True
    """KubeRay's RayCluster metrics (``kuberay_cluster_*``) on /metrics; the runtime's are always there."""
    ray_dashboard_address: Literal["service", "pod-ip"] = "service"
    """How RayJobs reach their cluster's dashboard: the head Service's DNS name, or the head pod's IP."""
    dashboard_timeout: float = 5.0
    """Seconds one request to a Ray dashboard may take."""
    extra: dict[str, str] = field(default_factory=dict)


def _describe_kubeconfig(config: OperatorConfig) -> str:
    return config.kubeconfig or os.environ.get("KUBECONFIG") or "in-cluster configuration"


def _kubeconfig_problem(config: OperatorConfig) -> str | None:
    path = config.kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        missing = [p for p in path.split(os.pathsep) if p and not Path(p).exists()]
        return f"kubeconfig not found: {missing[0]}" if missing else None
    if not os.environ.get("KUBERNETES_SERVICE_HOST") and not (Path.home() / ".kube" / "config").exists():
        return "no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run inside a cluster"
    return None


async def open_client(config: OperatorConfig) -> KubeClient:
    """A client for the configured cluster, or an OperatorError that says why there is none."""
    problem = await asyncio.to_thread(_kubeconfig_problem, config)
    if problem:
        raise OperatorError(problem)
    try:
        return await connect(config.kubeconfig)
    except Exception as exc:
        raise OperatorError(f"cannot load {_describe_kubeconfig(config)}: {exc}") from exc


@dataclass(frozen=True)
class Permission:
    """One verb on one resource, in one namespace (None: all namespaces), optionally on one object."""

    verb: str
    resource: Resource
    namespace: str | None = None
    name: str | None = None


def startup_permissions(manager: Manager) -> list[Permission]:
    """What the manager cannot run without: list and watch what it caches; get, create, update its Lease."""
    needed = [
        Permission(verb, informer.resource, informer.namespace)
        for informer in manager.cache.informers
        for verb in ("list", "watch")
    ]
    elector = manager.elector
    if elector is not None:
        needed.append(Permission("create", LEASES, elector.namespace))
        needed += [Permission(verb, LEASES, elector.namespace, elector.name) for verb in ("get", "update")]
    return needed


async def missing_permissions(client: KubeClient, needed: Sequence[Permission]) -> list[Permission]:
    """The permissions the API server says we lack (one SelfSubjectAccessReview each, a few at a time)."""
    # All at once would open a TLS connection per review, each holding its buffers until the pool closes it.
    in_flight = asyncio.Semaphore(_REVIEWS_IN_FLIGHT)

    async def allowed(permission: Permission) -> bool:
        attributes = {
            "verb": permission.verb,
            "group": permission.resource.group,
            "resource": permission.resource.plural,
            "namespace": permission.namespace or "",
            "name": permission.name or "",
        }
        review = {
            "apiVersion": SELF_SUBJECT_ACCESS_REVIEWS.api_version,
            "kind": SELF_SUBJECT_ACCESS_REVIEWS.kind,
            "spec": {"resourceAttributes": attributes},
        }
        try:
            async with in_flight:
                answer = await client.create(SELF_SUBJECT_ACCESS_REVIEWS, review)
        except ApiError:
            return True  # cannot ask (reviews disabled): let the informers find out
        return bool((answer.get("status") or {}).get("allowed"))

    answers = await asyncio.gather(*(allowed(p) for p in needed))
    return [p for p, ok in zip(needed, answers, strict=True) if not ok]


def describe_permissions(permissions: Sequence[Permission]) -> str:
    """`list, watch pods, services in all namespaces; ...`: verbs and resources grouped to stay one line."""
    verbs: dict[tuple[str, str], list[str]] = {}
    for p in permissions:
        what = f"{p.resource} {p.name}" if p.name else str(p.resource)
        where = f"in namespace {p.namespace}" if p.namespace else "in all namespaces"
        verbs.setdefault((what, where), []).append(p.verb)
    grouped: dict[tuple[str, str], list[str]] = {}
    for (what, where), names in verbs.items():
        grouped.setdefault((", ".join(names), where), []).append(what)
    return "; ".join(f"{v} {', '.join(whats)} {where}" for (v, where), whats in grouped.items())


async def _identity(client: KubeClient) -> str:
    """Who the API server thinks we are, for error messages; empty when it will not say."""
    review = {"apiVersion": SELF_SUBJECT_REVIEWS.api_version, "kind": SELF_SUBJECT_REVIEWS.kind}
    try:
        answer = await client.create(SELF_SUBJECT_REVIEWS, review)
    except ApiError:
        return ""
    return str(((answer.get("status") or {}).get("userInfo") or {}).get("username") or "")


async def check_permissions(client: KubeClient, needed: Sequence[Permission]) -> None:
    missing = await missing_permissions(client, needed)
    if not missing:
        return
    who = await _identity(client)
    raise OperatorError(
        f"missing permissions{f' for {who}' if who else ''}: {describe_permissions(missing)}"
        " (apply config/rbac, or install the Helm chart, and run as its ServiceAccount)"
    )


async def preflight(client: KubeClient, config: OperatorConfig) -> None:
    """Fail fast with one clear line: API server unreachable, credentials refused, or the CRD missing."""
    try:
        await client.list(RAYCLUSTERS, config.namespace, limit=1)
    except TransportError as exc:
        raise OperatorError(
            f"cannot reach the Kubernetes API server ({_describe_kubeconfig(config)}): {exc}"
        ) from exc
    except NotFound as exc:
        raise OperatorError(
            f"the RayCluster CRD ({CRD_NAME}) is not installed: run `kuberay-py crd | kubectl apply -f -`"
        ) from exc
    except Unauthorized as exc:
        raise OperatorError(f"the API server rejected our credentials: {exc}") from exc
    except Forbidden:
        pass  # the review below names everything that is missing, not just this first refusal
    except ApiError as exc:
        raise OperatorError(f"the API server refused the first request: {exc}") from exc


async def rayjobs_served(client: KubeClient, config: OperatorConfig) -> bool:
    """Whether the RayJob CRD is installed; without it only RayClusters are reconciled."""
    try:
        await client.list(RAYJOBS, config.namespace, limit=1)
    except NotFound:
        log.warning(f"the RayJob CRD ({JOB_CRD_NAME}) is not installed: RayJobs are not reconciled")
        return False
    except ApiError:
        pass  # reported by the preflight
    return True


def build_manager(client: KubeClient, config: OperatorConfig, *, rayjobs: bool = True) -> Manager:
    manager = Manager(
        client,
        ManagerOptions(
            namespace=config.namespace,
            cache_selectors=cache_selectors(),
            cache_transforms=cache_transforms(),
            leader_election=config.leader_elect,
            leader_election_id=LEADER_ELECTION_ID,
            leader_election_namespace=config.leader_election_namespace,
            lease_duration=config.lease_duration,
            renew_deadline=config.renew_deadline,
            retry_period=config.retry_period,
            metrics_bind_address=config.metrics_addr,
            health_probe_bind_address=config.health_addr,
        ),
    )
    options = ReconcilerOptions(build=BuildOptions(cluster_domain=config.cluster_domain))
    add_raycluster_controller(manager, workers=config.workers, options=options)
    if rayjobs:
        jobs_api = DashboardClient(timeout=config.dashboard_timeout)
        job_options = RayJobOptions(
            dashboard_address=config.ray_dashboard_address, cluster_domain=config.cluster_domain
        )
        add_rayjob_controller(manager, jobs_api, workers=config.workers, options=job_options)
        manager.add_runnable(_closing(jobs_api), needs_leader=False)
    if config.enable_metrics:
        report_rayclusters(manager)
    manager.add_runnable(allocator.release_periodically, needs_leader=False)
    return manager


def _closing(jobs_api: DashboardClient) -> Callable[[], Coroutine[None, None, None]]:
    """A runnable that holds the dashboard client's connections until the manager stops."""

    async def hold() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await jobs_api.close()

    return hold


async def run_operator(config: OperatorConfig) -> None:
    allocator.tune()
    configure_logging(config.log_format, config.log_level)  # type: ignore[arg-type]
    client = await open_client(config)
    try:
        await preflight(client, config)
        try:
            manager = build_manager(client, config, rayjobs=await rayjobs_served(client, config))
        except ValueError as exc:  # lease timings that cannot work together
            raise OperatorError(f"leader election: {exc}") from exc
        # Everything the manager caches must be listable and watchable, or it would hang half-started.
        await check_permissions(client, startup_permissions(manager))
        log.info(
            "starting",
            namespace=config.namespace or "(all)",
            leader_election=config.leader_elect,
            workers=config.workers,
        )
        await manager.run()
    except CacheSyncTimeout as exc:
        raise OperatorError(f"{exc}: is the API server overloaded, or a permission missing?") from exc
    except LeaderElectionLost as exc:
        raise OperatorError("lost leadership; exiting so that a restart rejoins as a standby") from exc
    except OSError as exc:
        if exc.errno not in _BIND_ERRORS:
            raise
        raise OperatorError(f"cannot serve the metrics and health endpoints: {exc}") from exc
    finally:
        await asyncio.shield(client.close())
