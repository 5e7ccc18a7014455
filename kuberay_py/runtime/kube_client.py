"""The :class:`~kuberay_py.runtime.client.Client` for a real API server.

kubernetes-asyncio provides configuration loading (kubeconfig, in-cluster), authentication (tokens, exec
plugins, client certificates), TLS and one pooled aiohttp session; everything above that is done here, on raw
JSON: no model classes are built, and watch streams are parsed line by line as they arrive.

Create one client per process with :func:`connect` (inside the event loop) and share it::

    client = await connect()                      # --kubeconfig / $KUBECONFIG / in-cluster / ~/.kube/config
    pod = await client.get(PODS, "web-0", "default")
    await client.close()

Every request is counted in ``rest_client_requests_total{verb,code}``.

:meth:`KubeClient.with_own_pool` opens a second client on the same configuration (credentials and all) but
its own connection pool, for requests that must never queue behind others, such as lease renewals.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, TypedDict, Unpack
from urllib.parse import urlencode

import aiohttp

from kuberay_py.runtime import metrics
from kuberay_py.runtime.client import (
    Client,
    DeleteOptions,
    EventType,
    ListOptions,
    ObjectList,
    PatchOptions,
    PatchType,
    SelectorOptions,
    WatchEvent,
    WatchOptions,
)
from kuberay_py.runtime.errors import ApiError, TransportError, error_from_status
from kuberay_py.runtime.kubernetes_config import (
    KUBE_CONFIG_DEFAULT_LOCATION,
    ApiClient,
    Configuration,
    load_incluster_config,
    load_kube_config,
)
from kuberay_py.runtime.objects import Obj, metadata
from kuberay_py.runtime.resources import Resource

DEFAULT_FIELD_MANAGER = "kuberay-py"
USER_AGENT = "kuberay-py/0.1.0"
# A server that holds a watch open past its own timeoutSeconds by this much is presumed dead.
_WATCH_GRACE_SECONDS = 30.0


def _kubeconfig_path(kubeconfig: str | os.PathLike[str] | None) -> str | None:
    """The kubeconfig file to load, or None to use the in-cluster service account."""
    env_path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    path = str(kubeconfig) if kubeconfig else env_path
    if not path and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        path = os.path.expanduser(KUBE_CONFIG_DEFAULT_LOCATION)
    if path and Path(path).exists():
        return path
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    raise FileNotFoundError(f"no kubeconfig at {path!r} and not running in a cluster")


async def load_configuration(
    kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None
) -> Any:
    """A kubernetes-asyncio ``Configuration``, found the way controller-runtime finds one.

    Order: the ``kubeconfig`` argument, ``$KUBECONFIG``, the in-cluster service account, ``~/.kube/config``.
    """
    configuration = Configuration()
    path = _kubeconfig_path(kubeconfig)
    if path is not None:
        await load_kube_config(
            config_file=path, context=context, client_configuration=configuration, persist_config=False
        )
    else:
        load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


async def connect(
    kubeconfig: str | os.PathLike[str] | None = None,
    *,
    context: str | None = None,
    max_connections: int = 32,
    request_timeout: float = 30.0,
    field_manager: str = DEFAULT_FIELD_MANAGER,
) -> KubeClient:
    """Load configuration (see :func:`load_configuration`) and open a client. Call inside the event loop."""
    configuration = await load_configuration(kubeconfig, context)
    return KubeClient(
        configuration,
        max_connections=max_connections,
        request_timeout=request_timeout,
        field_manager=field_manager,
    )


class KubeClient(Client):
    """A client on one aiohttp connection pool of at most ``max_connections`` connections.

    Open watches hold one connection each for their lifetime; keep ``max_connections`` well above the number
    of informers. Each connection costs asyncio's TLS read buffer, which stays resident after a burst, so the
    default is modest. ``request_timeout`` bounds every non-watch request.
    """

    def __init__(
        self,
        configuration: Any,
        *,
        max_connections: int = 32,
        request_timeout: float = 30.0,
        field_manager: str = DEFAULT_FIELD_MANAGER,
    ) -> None:
        self._configuration = configuration
        # A copy sized for this pool: a sibling (with_own_pool) sizes its own. The copy shares the api_key
        # dict, so a refreshed token reaches both.
        sized = copy.copy(configuration)
        sized.connection_pool_maxsize = max_connections
        self._api = ApiClient(sized)
        # kubernetes-asyncio's session reads proxy and netrc settings from the environment on every request,
        # in a worker thread: two thread hops per call. Ours shares its connector (pool, TLS context) but not
        # that; an explicitly configured proxy is still honoured.
        self._session = aiohttp.ClientSession(
            connector=self._api.rest_client.pool_manager.connector,
            connector_owner=False,
            # One watch event line holds a whole object, up to the API server's size limit.
            read_bufsize=2**21,
        )
        self._proxy = configuration.proxy
        self._proxy_headers = configuration.proxy_headers
        self._server_hostname = configuration.tls_server_name
        self._host = configuration.host.rstrip("/")
        self._request_timeout = request_timeout
        self.field_manager = field_manager

    @property
    def host(self) -> str:
        return str(self._host)

    def with_own_pool(self, max_connections: int) -> KubeClient:
        """A new client on this one's configuration with a pool of its own; the caller closes it."""
        return KubeClient(
            self._configuration,
            max_connections=max_connections,
            request_timeout=self._request_timeout,
            field_manager=self.field_manager,
        )

    async def close(self) -> None:
        await self._session.close()
        await self._api.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- reads -------------------------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        result: Obj = await self._call("get", "GET", resource.path(namespace, name))
        return result

    async def list(
        self, resource: Resource, namespace: str | None = None, **options: Unpack[ListOptions]
    ) -> ObjectList:
        query = _selector_query(options)
        if limit := options.get("limit"):
            query["limit"] = str(limit)
        if continue_token := options.get("continue_token"):
            query["continue"] = continue_token
        if (resource_version := options.get("resource_version")) is not None:
            query["resourceVersion"] = resource_version
        body = await self._call("list", "GET", resource.path(namespace), query=query)
        meta = body.get("metadata") or {}
        return ObjectList(
            body.get("items") or [], str(meta.get("resourceVersion", "")), meta.get("continue") or None
        )

    async def watch(
        self, resource: Resource, namespace: str | None = None, **options: Unpack[WatchOptions]
    ) -> AsyncIterator[WatchEvent]:
        query = _selector_query(options)
        query["watch"] = "true"
        if resource_version := options.get("resource_version"):
            query["resourceVersion"] = resource_version
        if options.get("allow_bookmarks", True):
            query["allowWatchBookmarks"] = "true"
        if timeout_seconds := options.get("timeout_seconds"):
            query["timeoutSeconds"] = str(max(1, round(timeout_seconds)))
        timeout = aiohttp.ClientTimeout(
            total=timeout_seconds + _WATCH_GRACE_SECONDS if timeout_seconds else None,
            sock_connect=self._request_timeout,
        )
        response = await self._send("watch", "GET", resource.path(namespace), timeout, query=query)
        try:
            if response.status >= 400:
                raise await _error_of(response)
            async for line in _lines(response):
                yield _watch_event(line)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransportError(f"watch {resource} interrupted: {exc!r}") from exc
        finally:
            response.close()

    # -- writes ------------------------------------------------------------------------------------------

    async def create(
        self, resource: Resource, obj: Obj, namespace: str | None = None, *, field_manager: str | None = None
    ) -> Obj:
        namespace = namespace or metadata(obj).get("namespace")
        query = {"fieldManager": field_manager or self.field_manager}
        result: Obj = await self._call("create", "POST", resource.path(namespace), query=query, body=obj)
        return result

    async def update(self, resource: Resource, obj: Obj, *, field_manager: str | None = None) -> Obj:
        meta = metadata(obj)
        query = {"fieldManager": field_manager or self.field_manager}
        path = resource.path(meta.get("namespace"), meta["name"])
        result: Obj = await self._call("update", "PUT", path, query=query, body=obj)
        return result

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        **options: Unpack[PatchOptions],
    ) -> Obj:
        query = {"fieldManager": options.get("field_manager") or self.field_manager}
        result: Obj = await self._call(
            "patch",
            "PATCH",
            resource.path(namespace, name, options.get("subresource")),
            query=query,
            body=patch,
            content_type=str(options.get("patch_type", PatchType.MERGE)),
        )
        return result

    async def delete(
        self, resource: Resource, name: str, namespace: str | None = None, **options: Unpack[DeleteOptions]
    ) -> Obj | None:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if preconditions := options.get("preconditions"):
            body["preconditions"] = preconditions.to_api()
        if propagation_policy := options.get("propagation_policy"):
            body["propagationPolicy"] = str(propagation_policy)
        if (grace_period_seconds := options.get("grace_period_seconds")) is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        status: Obj = await self._call("delete", "DELETE", resource.path(namespace, name), body=body)
        return None if status.get("kind") == "Status" else status

    # -- plumbing ----------------------------------------------------------------------------------------

    async def _call(self, verb: str, method: str, path: str, **request: Unpack[_Request]) -> Any:
        """Send one request and return its decoded JSON body, or raise the mapped error."""
        timeout = aiohttp.ClientTimeout(total=self._request_timeout)
        response = await self._send(verb, method, path, timeout, **request)
        try:
            if response.status >= 400:
                raise await _error_of(response)
            data = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransportError(f"{verb} {path}: {exc!r}") from exc
        finally:
            response.release()
        return json.loads(data) if data else {}

    async def _send(
        self,
        verb: str,
        method: str,
        path: str,
        client_timeout: aiohttp.ClientTimeout,
        **request: Unpack[_Request],
    ) -> aiohttp.ClientResponse:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        data = None
        query, body = request.get("query"), request.get("body")
        if body is not None:
            headers["Content-Type"] = request.get("content_type") or "application/json"
            data = json.dumps(body, separators=(",", ":")).encode()
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        url = self._host + path + ("?" + urlencode(query) if query else "")
        extra: dict[str, Any] = {}
        if self._proxy:
            extra.update(proxy=self._proxy, proxy_headers=self._proxy_headers)
        if self._server_hostname:
            extra["server_hostname"] = self._server_hostname
        started = time.monotonic()
        code = "<error>"
        try:
            response = await self._session.request(
                method, url, headers=headers, data=data, timeout=client_timeout, **extra
            )
            code = str(response.status)
            return response
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"{verb} {path}: {exc!r}") from exc
        finally:
            metrics.REST_CLIENT_REQUESTS.labels(verb, code).inc()
            metrics.REST_CLIENT_DURATION.labels(verb).observe(time.monotonic() - started)


class _Request(TypedDict, total=False):
    """What a request carries besides its verb, method and path."""

    query: Mapping[str, str]
    body: Any
    content_type: str


def _selector_query(options: SelectorOptions) -> dict[str, str]:
    query: dict[str, str] = {}
    if label_selector := options.get("label_selector"):
        query["labelSelector"] = label_selector
    if field_selector := options.get("field_selector"):
        query["fieldSelector"] = field_selector
    return query


async def _error_of(response: aiohttp.ClientResponse) -> ApiError:
    data = await response.read()
    try:
        status = json.loads(data)
    except ValueError:
        status = {"message": data.decode(errors="replace")[:1000]}
    if not isinstance(status, dict):
        status = {}
    return error_from_status(response.status, status)


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The newline-separated records of a streamed body, however the bytes were chunked."""
    pending = bytearray()
    async for chunk in response.content.iter_any():
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            if end > start:
                yield bytes(pending[start:end])
            start = end + 1
        del pending[:start]
    if pending.strip():
        yield bytes(pending)


def _watch_event(line: bytes) -> WatchEvent:
    event = json.loads(line)
    kind = event.get("type")
    obj = event.get("object") or {}
    if kind == "ERROR":
        raise error_from_status(int(obj.get("code") or 500), obj)
    return WatchEvent(EventType(kind), obj)
