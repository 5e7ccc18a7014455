"""A minimal JSON-in, JSON-out Kubernetes API helper for the test tools (simulated kubelet, demo).

kubernetes-asyncio supplies configuration, TLS and authentication; objects stay plain dicts because the
generated model classes cost far more CPU than the simulated kubelet can spare at thousands of pods.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            message = json.loads(body).get("message", body)
        except ValueError:
            message = body
        super().__init__(f"HTTP {status}: {message}")


class RawApi:
    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client

    @classmethod
    async def from_kubeconfig(cls, kubeconfig: Path | str | None = None) -> RawApi:
        configuration = client.Configuration()
        if kubeconfig is None:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = 64
        return cls(client.ApiClient(configuration))

    async def close(self) -> None:
        await self._client.close()

    async def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None,
        body: Any,
        content_type: str,
        timeout: float | None,
    ) -> Any:
        return await self._client.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _request_timeout=timeout,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 60.0,
    ) -> dict[str, Any]:
        response = await self._send(method, path, query, body, content_type, timeout)
        async with response:
            text = await response.text()
            if not 200 <= response.status < 300:
                raise ApiError(response.status, text)
        result: dict[str, Any] = json.loads(text) if text else {}
        return result

    async def watch(self, path: str, query: list[tuple[str, str]]) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events until the server ends the stream; an ERROR event is raised as ApiError."""
        response = await self._send("GET", path, [*query, ("watch", "true")], None, "application/json", None)
        async with response:
            if response.status != 200:
                raise ApiError(response.status, await response.text())
            async for line in response.content:
                if not line.strip():
                    continue
                event: dict[str, Any] = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    raise ApiError(int(status.get("code", 500)), json.dumps(status))
                yield event
