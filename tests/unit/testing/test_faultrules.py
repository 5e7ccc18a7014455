"""The fault proxy's request classification and rule selection, without a server."""

from __future__ import annotations

import random

import pytest

from kuberay_py.testing.faultrules import (
    Action,
    RequestClass,
    Rule,
    classify,
    delay,
    drop_response,
    error,
    hold,
    reset,
    select,
    status_body,
)

C = RequestClass
NS = "/api/v1/namespaces/ns"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/ns/leases"


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("POST", f"{NS}/pods", {}, C.POD_CREATE),
        ("post", f"{NS}/pods", {"fieldManager": "kuberay-py"}, C.POD_CREATE),
        ("DELETE", f"{NS}/pods/head-0", {}, C.POD_DELETE),
        ("DELETE", f"{NS}/pods", {}, C.POD_WRITE),  # deletecollection
        ("PUT", f"{NS}/pods/head-0/status", {}, C.POD_WRITE),
        ("PATCH", f"{NS}/pods/head-0/status", {}, C.POD_WRITE),
        ("PATCH", f"{NS}/pods/head-0", {}, C.POD_WRITE),
        ("PUT", f"{NS}/pods/head-0", {}, C.POD_WRITE),
        ("POST", f"{NS}/pods/head-0/eviction", {}, C.POD_WRITE),
        ("POST", f"{NS}/pods/head-0/binding", {}, C.POD_WRITE),
        ("GET", f"{NS}/pods/head-0", {}, C.OTHER),
        ("GET", f"{NS}/pods", {}, C.OTHER),
        ("GET", "/api/v1/pods", {"labelSelector": "ray.io/cluster=a"}, C.OTHER),
        ("GET", f"{NS}/pods/head-0/log", {}, C.OTHER),
        ("GET", f"{NS}/pods", {"watch": "true"}, C.WATCH),
        ("GET", f"{NS}/pods", {"watch": "1"}, C.WATCH),
        ("GET", "/api/v1/pods", {"watch": "True", "resourceVersion": "10"}, C.WATCH),
        ("GET", f"{NS}/pods", {"watch": "false"}, C.OTHER),
        ("GET", f"{NS}/pods", {"watch": "yes"}, C.OTHER),  # not a Go boolean
        ("GET", "/api/v1/watch/namespaces/ns/pods", {}, C.WATCH),
        ("GET", LEASES, {"watch": "true"}, C.WATCH),
        ("GET", f"{LEASES}/kuberay-py", {}, C.LEASE),
        ("PUT", f"{LEASES}/kuberay-py", {}, C.LEASE),
        ("POST", LEASES, {}, C.LEASE),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leasecandidates", {}, C.OTHER),
        ("POST", "/apis/other.example.com/v1/namespaces/ns/leases", {}, C.OTHER),
        ("POST", f"{NS}/services", {}, C.OTHER),
        ("POST", "/apis/apps/v1/namespaces/ns/pods", {}, C.OTHER),  # not the core group
        ("PATCH", "/apis/ray.io/v1/namespaces/ns/rayclusters/rc/status", {}, C.OTHER),
        ("GET", "/apis/ray.io/v1/namespaces/ns/rayclusters", {"watch": "true"}, C.WATCH),
        ("GET", "/readyz", {}, C.OTHER),
        ("GET", "/api", {}, C.OTHER),
        ("GET", "/apis/ray.io/v1", {}, C.OTHER),
        ("DELETE", "/api/v1/namespaces/pods", {}, C.OTHER),  # the namespace called "pods"
    ],
)
def test_classification(method: str, path: str, query: dict[str, str], expected: RequestClass) -> None:
    assert classify(method, path, query).request_class is expected


def test_request_info_names_the_object() -> None:
    info = classify("PATCH", f"{NS}/pods/head-0/status", {})
    assert (info.group, info.resource, info.namespace, info.name, info.subresource) == (
        "",
        "pods",
        "ns",
        "head-0",
        "status",
    )
    watch = classify("GET", "/apis/ray.io/v1/rayclusters", {"watch": "1"})
    assert (watch.group, watch.resource, watch.namespace) == ("ray.io", "rayclusters", "")
    namespace = classify("PUT", "/api/v1/namespaces/ns/finalize", {})
    assert (namespace.resource, namespace.name, namespace.subresource) == ("namespaces", "ns", "finalize")


def test_a_get_of_one_object_with_watch_is_not_a_watch() -> None:
    # The API server only turns a list into a watch.
    assert classify("GET", f"{NS}/pods/head-0", {"watch": "true"}).request_class is C.OTHER


def test_first_matching_rule_wins_and_is_counted() -> None:
    rng = random.Random(1)
    creates = drop_response(C.POD_CREATE)
    everything = reset(*RequestClass)
    rules = [creates, everything]
    assert select(rules, classify("POST", f"{NS}/pods", {}), rng) is creates
    assert select(rules, classify("GET", f"{NS}/pods", {}), rng) is everything
    assert (creates.fired, everything.fired) == (1, 1)


def test_no_match_forwards() -> None:
    rules = [error(500, C.POD_DELETE), delay(1.0, C.LEASE)]
    assert select(rules, classify("POST", f"{NS}/pods", {}), random.Random(1)) is None
    assert select([], classify("POST", f"{NS}/pods", {}), random.Random(1)) is None


def test_resource_narrows_a_rule() -> None:
    pods_only = hold(5.0, "pods")
    rng = random.Random(1)
    assert select([pods_only], classify("GET", f"{NS}/pods", {"watch": "1"}), rng) is pods_only
    assert select([pods_only], classify("GET", f"{NS}/services", {"watch": "1"}), rng) is None


def test_times_limits_how_often_a_rule_fires() -> None:
    once = reset(C.POD_CREATE, times=1)
    info = classify("POST", f"{NS}/pods", {})
    rng = random.Random(1)
    assert select([once], info, rng) is once
    assert select([once], info, rng) is None
    assert once.fired == 1


def test_probability_is_reproducible_with_a_seed() -> None:
    info = classify("POST", f"{NS}/pods", {})

    def pattern(seed: int) -> list[bool]:
        rule = error(429, C.POD_CREATE, probability=0.3)
        rng = random.Random(seed)
        return [select([rule], info, rng) is rule for _ in range(200)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 30 < sum(pattern(7)) < 90


def test_a_failed_draw_falls_through_to_the_next_rule() -> None:
    never = Rule(Action.RESET, frozenset({C.POD_CREATE}), probability=0.0)
    rarely = reset(C.POD_CREATE, probability=1e-9)
    always = delay(0.5, C.POD_CREATE)
    info = classify("POST", f"{NS}/pods", {})
    assert select([never, rarely, always], info, random.Random(3)) is always
    assert never.fired == rarely.fired == 0


def test_certain_rules_draw_nothing() -> None:
    rng = random.Random(5)
    expected = random.Random(5).random()
    select([reset(C.OTHER), error(500, C.OTHER)], classify("GET", "/api/v1/pods", {}), rng)
    assert rng.random() == expected


def test_rule_kinds_and_validation() -> None:
    assert error(504, "pod-create").kind == "error-504"
    assert drop_response("pod-create").kind == "drop-response"
    assert hold(1.0).classes == {C.WATCH}
    with pytest.raises(ValueError):
        error(404, C.POD_CREATE)
    with pytest.raises(ValueError):
        delay(0, C.POD_CREATE)
    with pytest.raises(ValueError):
        reset(C.POD_CREATE, probability=1.5)
    with pytest.raises(ValueError):
        reset()
    with pytest.raises(ValueError):
        Rule(Action.HOLD, frozenset({C.POD_CREATE}), seconds=1.0)
    with pytest.raises(ValueError):
        drop_response("pod-creation")


def test_status_bodies_look_like_the_api_servers() -> None:
    body = status_body(429, "slow down", retry_after=2)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert (body["code"], body["reason"], body["details"]) == (
        429,
        "TooManyRequests",
        {"retryAfterSeconds": 2},
    )
    assert status_body(504, "late")["reason"] == "Timeout"
    assert "details" not in status_body(500, "boom")
