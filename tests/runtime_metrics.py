"""The controller-runtime metric families the runtime exports, for unit and integration tests alike."""

from __future__ import annotations

from collections.abc import Iterable

CONTROLLER_RUNTIME_FAMILIES = (
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "controller_runtime_reconcile_time_seconds",
    "controller_runtime_active_workers",
    "controller_runtime_max_concurrent_reconciles",
    "workqueue_depth",
    "workqueue_adds_total",
    "workqueue_retries_total",
    "workqueue_queue_duration_seconds",
    "workqueue_work_duration_seconds",
    "workqueue_unfinished_work_seconds",
    "workqueue_longest_running_processor_seconds",
    "rest_client_requests_total",
    "leader_election_master_status",
)


def untyped(text: str, families: Iterable[str] = CONTROLLER_RUNTIME_FAMILIES) -> list[str]:
    """The `families` that `text`, a Prometheus exposition, gives no `# TYPE` line."""
    return [name for name in families if f"# TYPE {name} " not in text]
