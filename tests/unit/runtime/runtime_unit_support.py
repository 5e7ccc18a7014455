"""Small helpers shared by the runtime unit tests."""

from __future__ import annotations

from typing import Any

from kuberay_py.runtime.metrics import REGISTRY


def sample(metric: str, /, **labels: str) -> float:
    """The current value of one metric sample (0 when it has never been set)."""
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def configmap(name: str, namespace: str = "default", **fields: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    meta.update(fields.pop("metadata", {}))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, **fields}
