"""Run the operator: connect, check the cluster is ready for us, and run the manager with the controllers.

Problems a user can fix (no kubeconfig, API server unreachable, CRD not installed, a missing permission) are
raised as `OperatorError` with one line that says what to do; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from kuberay_py.api.constants import CRD_NAME, GROUP, PLURAL, VERSION
from kuberay_py.builders import BuildOptions
from kuberay_py.controllers.raycluster import ReconcilerOptions, add_raycluster_controller, cache_selectors
from kuberay_py.controllers.raycluster.resources import RAYCLUSTERS
from kuberay_py.runtime import (
    ApiError,
    Forbidden,
    KubeClient,
    Manager,
    ManagerOptions,
    NotFound,
    TransportError,
    Unauthorized,
    configure_logging,
    connect,
)

log = structlog.get_logger("kuberay_py.operator")


class OperatorError(Exception):
    """A problem the user must fix; the message is one line."""


@dataclass
class OperatorConfig:
    kubeconfig: str | None = None
    namespace: str | None = None
    leader_elect: bool = False
    leader_election_namespace: str | None = None
    metrics_addr: str = ":8080"
    health_addr: str = ":8081"
    workers: int = 16
    log_format: str = "json"
    log_level: str = "info"
    cluster_domain: str = "cluster.local"
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


async def preflight(client: KubeClient, config: OperatorConfig) -> None:
    """Fail fast with one clear line: API server unreachable, CRD missing, or listing forbidden."""
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
    except Forbidden as exc:
        where = f"namespace {config.namespace}" if config.namespace else "all namespaces"
        raise OperatorError(
            f"missing permission to list {PLURAL}.{GROUP}/{VERSION} in {where}: apply config/rbac ({exc})"
        ) from exc
    except ApiError as exc:
        raise OperatorError(f"the API server refused the first request: {exc}") from exc


def build_manager(client: KubeClient, config: OperatorConfig) -> Manager:
    manager = Manager(
        client,
        ManagerOptions(
            namespace=config.namespace,
            cache_selectors=cache_selectors(),
            leader_election=config.leader_elect,
            leader_election_id="kuberay-py-operator",
            leader_election_namespace=config.leader_election_namespace,
            metrics_bind_address=config.metrics_addr,
            health_probe_bind_address=config.health_addr,
        ),
    )
    options = ReconcilerOptions(build=BuildOptions(cluster_domain=config.cluster_domain))
    add_raycluster_controller(manager, workers=config.workers, options=options)
    return manager


async def run_operator(config: OperatorConfig) -> None:
    configure_logging(config.log_format, config.log_level)  # type: ignore[arg-type]
    client = await open_client(config)
    try:
        await preflight(client, config)
        manager = build_manager(client, config)
        log.info(
            "starting",
            namespace=config.namespace or "(all)",
            leader_election=config.leader_elect,
            workers=config.workers,
        )
        await manager.run()
    finally:
        await asyncio.shield(client.close())
