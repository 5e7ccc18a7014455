"""What a :class:`~kuberay_py.testing.faultproxy.FaultProxy` sees in each request and which fault it injects.

Pure and synchronous, so classification and rule selection are tested without a server. Paths are parsed the
way the API server's RequestInfoFactory does: ``/api/v1/...`` (core) or ``/apis/GROUP/VERSION/...``, then an
optional legacy ``watch/`` segment, an optional ``namespaces/NS``, the resource, its name and a subresource.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack


class RequestClass(enum.StrEnum):
    POD_CREATE = "pod-create"  # POST .../pods
    POD_DELETE = "pod-delete"  # DELETE .../pods/NAME
    POD_WRITE = "pod-write"  # other pod writes: status, patch, update, eviction, binding, deletecollection
    LEASE = "lease"  # coordination.k8s.io leases, except watches of them
    WATCH = "watch"  # ?watch=true|1 (or a legacy /watch/ path), any resource
    OTHER = "other"  # reads (get, list) and everything else


class Action(enum.StrEnum):
    DROP_RESPONSE = "drop-response"  # forward, let it take effect, then reset the client connection
    DELAY = "delay"  # wait `seconds`, then forward
    RESET = "reset"  # reset the client connection without forwarding
    ERROR = "error"  # answer `status` with a Kubernetes Status body without forwarding
    HOLD = "hold"  # forward a watch, then deliver nothing of it for `seconds`


@dataclass(frozen=True, slots=True)
class RequestInfo:
    method: str
    request_class: RequestClass
    group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""
    subresource: str = ""


_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_TRUE = ("1", "t", "T", "true", "TRUE", "True")


def classify(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """The class of one request, from its method, (decoded) path and query parameters."""
    method = method.upper()
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:  # /healthz, /version, /openapi/v2, discovery of /api and /apis
        return RequestInfo(method, RequestClass.OTHER)
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    namespace = ""
    if len(rest) > 1 and rest[0] == "namespaces":
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource, name, subresource = (*rest, "", "", "")[:3]
    # As in the API server, only a list becomes a watch; strconv.ParseBool decides what "true" is.
    watch = method == "GET" and not name and (legacy_watch or query.get("watch", "") in _TRUE)
    request_class = _class_of(method, group, resource, name, subresource, watch)
    return RequestInfo(method, request_class, group, resource, namespace, name, subresource)


def _class_of(
    method: str, group: str, resource: str, name: str, subresource: str, watch: bool
) -> RequestClass:
    if watch:
        return RequestClass.WATCH
    if group == "coordination.k8s.io" and resource == "leases":
        return RequestClass.LEASE
    if group == "" and resource == "pods" and method in _WRITE_METHODS:
        if method == "POST" and not name:
            return RequestClass.POD_CREATE
        if method == "DELETE" and name and not subresource:
            return RequestClass.POD_DELETE
        return RequestClass.POD_WRITE
    return RequestClass.OTHER


_REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}


@dataclass(eq=False)
class Rule:
    """One fault for requests of some classes, injected with a probability, at most `times` times.

    Build rules with :func:`drop_response`, :func:`delay`, :func:`reset`, :func:`error` and :func:`hold`.
    ``resource`` narrows a rule to one resource (the plural, e.g. ``pods``); ``fired`` counts injections.
    """

    action: Action
    classes: frozenset[RequestClass]
    probability: float = 1.0
    seconds: float = 0.0
    status: int = 0
    retry_after: int = 1
    resource: str | None = None
    times: int | None = None
    fired: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability {self.probability} is not within [0, 1]")
        if not self.classes:
            raise ValueError("a rule needs at least one request class")
        if self.action in (Action.DELAY, Action.HOLD) and self.seconds <= 0:
            raise ValueError(f"{self.action} needs seconds > 0")
        if self.action is Action.HOLD and self.classes != {RequestClass.WATCH}:
            raise ValueError("only watches can be held")
        if self.action is Action.ERROR and self.status not in _REASONS:
            raise ValueError(f"error status must be one of {sorted(_REASONS)}")

    @property
    def kind(self) -> str:
        """The fault's name in the proxy's counts: the action, with the status for errors (``error-429``)."""
        return f"{self.action}-{self.status}" if self.action is Action.ERROR else str(self.action)

    def matches(self, info: RequestInfo) -> bool:
        return (
            info.request_class in self.classes
            and (self.resource is None or self.resource == info.resource)
            and (self.times is None or self.fired < self.times)
            and self.probability > 0.0
        )


def select(rules: Sequence[Rule], info: RequestInfo, rng: random.Random) -> Rule | None:
    """The first matching rule whose draw succeeds, counted as fired; None to forward the request untouched.

    Only rules with a probability strictly between 0 and 1 draw from `rng`, so a seeded generator gives the
    same faults for the same sequence of requests.
    """
    for rule in rules:
        if not rule.matches(info):
            continue
        if rule.probability < 1.0 and rng.random() >= rule.probability:
            continue
        rule.fired += 1
        return rule
    return None


def status_body(status: int, message: str, retry_after: int | None = None) -> dict[str, Any]:
    """The ``Status`` object the API server sends with an error."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(status, "InternalError"),
        "code": status,
    }
    if retry_after is not None:
        body["details"] = {"retryAfterSeconds": retry_after}
    return body


ClassSpec = RequestClass | str


class RuleOptions(TypedDict, total=False):
    """The options of every builder but :func:`hold`; one left out has :class:`Rule`'s default."""

    probability: float
    resource: str | None
    times: int | None


def _classes(classes: Iterable[ClassSpec]) -> frozenset[RequestClass]:
    return frozenset(RequestClass(c) for c in classes)


def drop_response(*classes: ClassSpec, **options: Unpack[RuleOptions]) -> Rule:
    """Forward the request (it takes effect), then reset the client's connection instead of answering."""
    return Rule(Action.DROP_RESPONSE, _classes(classes), **options)


def delay(seconds: float, *classes: ClassSpec, **options: Unpack[RuleOptions]) -> Rule:
    """Wait `seconds` before forwarding."""
    return Rule(Action.DELAY, _classes(classes), seconds=seconds, **options)


def reset(*classes: ClassSpec, **options: Unpack[RuleOptions]) -> Rule:
    """Reset the client's connection; the API server never sees the request."""
    return Rule(Action.RESET, _classes(classes), **options)


def error(status: int, *classes: ClassSpec, retry_after: int = 1, **options: Unpack[RuleOptions]) -> Rule:
    """Answer `status` (429, 500, 503 or 504) without forwarding; 429 and 503 carry ``Retry-After``."""
    return Rule(Action.ERROR, _classes(classes), status=status, retry_after=retry_after, **options)


def hold(
    seconds: float, resource: str | None = None, *, probability: float = 1.0, times: int | None = None
) -> Rule:
    """Watches opened while this rule is set reach the API server, but nothing of their answer (not even its
    headers) reaches the client for `seconds`; then it streams on from the start."""
    return Rule(
        Action.HOLD,
        frozenset({RequestClass.WATCH}),
        probability,
        seconds,
        resource=resource,
        times=times,
    )
