"""The demo's steps before ready: which failures are retried, and how a step ends when retries run out."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from tenacity import wait_fixed

from kuberay_py.demo import DemoError, describe, is_transient, retry_step, sample_cluster_name
from kuberay_py.runtime.errors import (
    Forbidden,
    Invalid,
    NotFound,
    ServerError,
    ServerTimeout,
    TooManyRequests,
    TransportError,
    error_from_status,
)

FAST = wait_fixed(0.01)


def kubectl_failure(stderr: str) -> subprocess.CalledProcessError:
    return subprocess.CalledProcessError(1, ["kubectl", "apply"], "", stderr)


TRANSIENT_KUBECTL = [
    "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
    "Unable to connect to the server: dial tcp 127.0.0.1:6443: connect: connection refused",
    'error: Get "https://127.0.0.1:6443/api?timeout=32s": read tcp 127.0.0.1:1->127.0.0.1:2: read: '
    "connection reset by peer",
    "Unable to connect to the server: net/http: TLS handshake timeout",
    'error: Get "https://127.0.0.1:6443/openapi/v2": EOF',
    "Error from server (TooManyRequests): the server has received too many requests and has asked us to "
    "try again later",
    "Error from server (ServiceUnavailable): the server is currently unable to handle the request",
    "Error from server (InternalError): Internal error occurred: etcdserver: request timed out",
    "Error from server (Timeout): the server was unable to return a response in the time allotted",
    'error: resource mapping not found for name: "x" namespace: "" from "STDIN": no matches for kind '
    '"RayCluster" in version "ray.io/v1"',
]

PERMANENT_KUBECTL = [
    'error: the path "/nowhere/sample.yaml" does not exist',
    'Error from server (Forbidden): rayclusters.ray.io "x" is forbidden: User "u" cannot create resource',
    'The RayCluster "x" is invalid: spec.headGroupSpec: Invalid value: "string": must be of type object',
    'Error from server (BadRequest): error when creating "STDIN": RayCluster in version "v1" cannot be '
    'handled as a RayCluster: strict decoding error: unknown field "spec.bogus"',
    "",
]


@pytest.mark.parametrize("stderr", TRANSIENT_KUBECTL)
def test_kubectl_failures_with_a_passing_cause_are_transient(stderr: str) -> None:
    assert is_transient(kubectl_failure(stderr))


@pytest.mark.parametrize("stderr", PERMANENT_KUBECTL)
def test_other_kubectl_failures_are_not(stderr: str) -> None:
    assert not is_transient(kubectl_failure(stderr))


@pytest.mark.parametrize(
    "error",
    [
        TransportError("connection reset"),
        TooManyRequests(),
        ServerError(),
        ServerTimeout(),
        error_from_status(503, {"code": 503, "message": "unavailable"}),
        ConnectionRefusedError(111, "Connection refused"),
        ConnectionResetError(),
        TimeoutError(),
        subprocess.TimeoutExpired(["kubectl", "wait"], 120),
    ],
)
def test_transient_errors(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        Forbidden("no"),
        Invalid("bad field"),
        NotFound(),
        error_from_status(422, {"code": 422}),
        FileNotFoundError(2, "No such file or directory"),
        ValueError("bad"),
        DemoError("the sample holds no RayCluster"),
    ],
)
def test_permanent_errors(error: BaseException) -> None:
    assert not is_transient(error)


def test_describe_is_one_line_with_kubectls_own_message() -> None:
    error = kubectl_failure('The RayCluster "x" is invalid:\n* spec.a: Required value\n* spec.b: bad\n')
    assert describe(error) == 'The RayCluster "x" is invalid: * spec.a: Required value * spec.b: bad'
    assert describe(subprocess.CalledProcessError(3, ["kubectl"], "", "")) == "kubectl exited with 3"


class Flaky:
    """An action that fails with `errors` in turn, then returns "done"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_transient_failures_are_retried_until_the_step_succeeds() -> None:
    action = Flaky(TooManyRequests(), kubectl_failure("Unable to connect to the server: i/o timeout"))
    heard: list[str] = []
    result = await retry_step("installing the CRD", action, budget=5, backoff=FAST, notify=heard.append)
    assert result == "done"
    assert action.calls == 3
    assert len(heard) == 2 and all(line.startswith("installing the CRD: ") for line in heard)
    assert heard[1].endswith("Unable to connect to the server: i/o timeout; trying again")


async def test_a_permanent_failure_ends_the_step_at_once() -> None:
    action = Flaky(kubectl_failure('error: the path "/nowhere/s.yaml" does not exist\n'))
    with pytest.raises(DemoError) as raised:
        await retry_step("creating RayCluster x", action, budget=30, backoff=FAST)
    assert action.calls == 1
    assert (
        str(raised.value) == 'creating RayCluster x failed: error: the path "/nowhere/s.yaml" does not exist'
    )


async def test_retries_stop_after_the_budget_with_one_line_naming_step_and_last_error() -> None:
    class AlwaysRefused:
        calls = 0

        async def __call__(self) -> str:
            self.calls += 1
            raise kubectl_failure(
                f"Unable to connect to the server:\ndial tcp: connection refused #{self.calls}"
            )

    action = AlwaysRefused()
    began = time.monotonic()
    with pytest.raises(DemoError) as raised:
        await retry_step("installing the CRD", action, budget=0.3, backoff=FAST)
    assert time.monotonic() - began < 2
    assert action.calls > 2
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"installing the CRD failed after {action.calls} attempts in ")
    assert message.endswith(f"Unable to connect to the server: dial tcp: connection refused #{action.calls}")


async def test_cancellation_is_not_retried_nor_turned_into_an_error() -> None:
    action = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry_step("installing the CRD", action, budget=5, backoff=FAST)
    assert action.calls == 1


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("kind: RayCluster\nmetadata: {name: [unclosed\n", "cannot read the sample"),
        ("kind: RayCluster\nspec: {}\n", r"has no metadata\.name"),
        ("just a string\n---\nkind: ConfigMap\nmetadata: {name: c}\n", "holds no RayCluster"),
    ],
    ids=["broken", "nameless", "other"],
)
def test_an_unusable_sample_fails_before_anything_starts(tmp_path: Path, text: str, error: str) -> None:
    sample = tmp_path / "sample.yaml"
    sample.write_text(text)
    with pytest.raises(DemoError, match=error):
        sample_cluster_name(sample)


def test_the_sample_names_its_first_raycluster(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("kind: ConfigMap\nmetadata: {name: c}\n---\nkind: RayCluster\nmetadata: {name: rc}\n")
    assert sample_cluster_name(good) == "rc"
