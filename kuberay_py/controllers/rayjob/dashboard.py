"""A client of Ray's job server (the dashboard's Jobs REST API), bounded in time.

Every request has a deadline (`timeout`), so a slow or dead dashboard costs the one RayJob that uses it
at most that long and never holds up the others; connections are shared across clusters, and a bounded
number are open at once. HTTP_PROXY, HTTPS_PROXY and NO_PROXY are honoured, for an operator that reaches
the pods' network through a proxy. Errors are `DashboardError`, with what to tell the user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Protocol

import aiohttp

# Replies bigger than this are not read: a job's details are a few kilobytes.
_MAX_REPLY_BYTES: Final = 1 << 20
JOBS_PATH: Final = "/api/jobs/"


class DashboardError(Exception):
    """The job server could not be reached or did not answer as Ray does."""


@dataclass(frozen=True)
class JobInfo:
    """What Ray's job server says of one job."""

    status: str
    message: str = ""
    start_time_ms: int = 0
    end_time_ms: int = 0
    error_type: str | None = None

    @classmethod
    def from_reply(cls, body: dict[str, Any]) -> JobInfo:
        return cls(
            status=str(body.get("status") or ""),
            message=str(body.get("message") or ""),
            start_time_ms=int(body.get("start_time") or 0),
            end_time_ms=int(body.get("end_time") or 0),
            error_type=body.get("error_type"),
        )


class JobsApi(Protocol):
    """The three calls the RayJob controller makes; `base_url` is `http://host:port`."""

    async def job_info(self, base_url: str, submission_id: str) -> JobInfo | None:
        """The job, or None when the job server has no job of that ID."""
        ...

    async def submit(self, base_url: str, request: dict[str, Any]) -> None:
        """Submit the job; a submission ID the server already has counts as submitted."""
        ...

    async def stop(self, base_url: str, submission_id: str) -> None:
        """Ask the job to stop; a job that is gone or already ended counts as stopped."""
        ...


class DashboardClient:
    """`JobsApi` over HTTP with aiohttp; one per operator."""

    def __init__(self, *, timeout: float = 5.0, max_connections: int = 64) -> None:
        self.timeout = timeout
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=4)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=True
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        try:
            async with self._client().request(method, url, json=body) as reply:
                raw = await reply.content.read(_MAX_REPLY_BYTES)
                text = raw.decode("utf-8", "replace")
                try:
                    parsed: Any = json.loads(text) if text else None
                except ValueError:
                    parsed = text
                return reply.status, parsed
        except TimeoutError as error:
            raise DashboardError(f"{method} {url}: no answer within {self.timeout:g}s") from error
        except (aiohttp.ClientError, OSError) as error:
            raise DashboardError(f"{method} {url}: {error or type(error).__name__}") from error

    async def job_info(self, base_url: str, submission_id: str) -> JobInfo | None:
        status, body = await self._request("GET", f"{base_url}{JOBS_PATH}{submission_id}")
        if status == 404:
            return None
        if status != 200 or not isinstance(body, dict):
            raise DashboardError(f"getting job {submission_id}: HTTP {status}: {_short(body)}")
        return JobInfo.from_reply(body)

    async def submit(self, base_url: str, request: dict[str, Any]) -> None:
        status, body = await self._request("POST", f"{base_url}{JOBS_PATH}", request)
        if status == 200:
            return
        if status in (400, 409, 500) and "already exists" in _short(body).lower():
            return  # a submission whose answer was lost, sent again
        raise DashboardError(f"submitting job {request.get('submission_id')}: HTTP {status}: {_short(body)}")

    async def stop(self, base_url: str, submission_id: str) -> None:
        status, body = await self._request("POST", f"{base_url}{JOBS_PATH}{submission_id}/stop")
        if status in (200, 404):
            return
        raise DashboardError(f"stopping job {submission_id}: HTTP {status}: {_short(body)}")


def _short(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return text if len(text) <= 300 else text[:300] + "..."
