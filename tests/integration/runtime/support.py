"""Retry helpers for runtime tests against the real API server."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

from kuberay_py.runtime import ApiError, NotFound
from kuberay_py.testing.controlplane import ControlPlane


async def retrying(call: Callable[[], Awaitable[Any]], attempts: int = 20, delay: float = 0.5) -> Any:
    """Retry an API call through transient errors (a restarting API server, stale pooled connections)."""
    for attempt in range(attempts):
        try:
            return await call()
        except NotFound:
            raise
        except ApiError:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def compact_etcd(plane: ControlPlane) -> int:
    """Compact etcd's history up to its current revision, as the API server does every few minutes; watches
    from older resourceVersions then get 410 Gone. Returns the revision compacted to."""
    base = f"http://127.0.0.1:{plane.ports.etcd_client}/v3/kv"

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{base}/{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    key = base64.b64encode(b"/registry/").decode()
    revision = int(post("range", {"key": key, "limit": 1})["header"]["revision"])
    post("compaction", {"revision": str(revision), "physical": True})
    return revision
