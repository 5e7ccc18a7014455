"""Small helpers shared by the runtime unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kuberay_py.runtime.metrics import REGISTRY


async def eventually(check: Callable[[], Any], within: float = 5.0, interval: float = 0.005) -> None:
    """Wait until ``check()`` is truthy; fail with the last value after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = check()
        if value:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s (last value: {value!r})")
        await asyncio.sleep(interval)


def sample(metric: str, /, **labels: str) -> float:
    """The current value of one metric sample (0 when it has never been set)."""
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def configmap(name: str, namespace: str = "default", **fields: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    meta.update(fields.pop("metadata", {}))
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, **fields}
