"""Reading what the operator made, through kubectl as the cluster admin."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from kuberay_py.testing.controlplane import ControlPlane


async def get_json(plane: ControlPlane, *args: str) -> Any:
    done = await asyncio.to_thread(plane.kubectl, "get", *args, "-o", "json")
    return json.loads(done.stdout)


async def pods_of(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get_json(plane, "pods", "-n", namespace, "-l", selector))["items"]
    return items


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or valueFrom) of a container's variables."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}
