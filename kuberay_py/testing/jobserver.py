"""An in-process stand-in for Ray's job server (the dashboard's Jobs REST API), for tests and benchmarks.

Under the simulated kubelet (:mod:`kuberay_py.testing.kubelet`) pods get loopback IPs in 127.16.0.0/12 and run
nothing, so no Ray dashboard answers at a head pod's address. This module answers in its place: it polls the
API server for head pods (``ray.io/node-type=head``, all namespaces) and listens on each one's ``podIP:port``,
the port being the head container's port named ``dashboard`` (else 8265). Every head is a Ray cluster of its
own, with its own jobs; a head that goes away or changes IP takes its jobs with it, as Ray without fault
tolerance does, and so does a restart of its Ray container unless the pod says ``ray.io/ft-enabled: "true"``
(GCS fault tolerance would keep the jobs in Redis). Addresses outside 127.0.0.0/8 are refused with an
exception, so a test never listens beyond loopback.

The API follows Ray 2.60's ``ray/dashboard/modules/job`` (``job_head.py``, ``job_agent.py``,
``job_manager.py``, ``job_supervisor.py``, ``common.py``, ``pydantic_models.py``): ``GET /api/version``, ``GET
/api/gcs_healthz``, ``POST /api/jobs/``, ``GET /api/jobs/``, ``GET``/``DELETE /api/jobs/{id}``, ``POST
/api/jobs/{id}/stop`` and ``GET /api/jobs/{id}/logs``, with Ray's JSON bodies, status codes and messages: an
unknown id is 404 ``Job <id> does not exist``; a submission id already used is 500 (the head wraps its agent's
400) whose text ends in ``Job with submission_id <id> already exists. Please use a different submission_id.``;
deleting a job that is not terminal is 500; a malformed request is 400.

A job's entrypoint is a script. It is PENDING for ``pending_seconds``, then RUNNING, then runs its statements,
separated by ``;``, ``&&`` or newlines (read with :mod:`shlex`): ``sleep N`` waits N seconds, ``echo TEXT``
appends a line to the logs, ``exit K`` ends it (0: SUCCEEDED, else FAILED with Ray's message for a failed
entrypoint, which quotes the last log lines), ``hang`` runs until stopped; anything else (``python
my_script.py``) appends ``ran: <statement>`` and goes on. The end of the script is exit 0. A stop gives
STOPPED. The logs begin with the two lines Ray itself writes to a job's driver log.

It also plays the submitter of K8sJobMode: each Running pod labelled ``batch.kubernetes.io/job-name`` whose
first container has ``RAY_DASHBOARD_ADDRESS`` and ``RAY_JOB_SUBMISSION_ID`` has its shell line read
(:func:`parse_submitter`) and acted out as the ``ray`` CLI would: ``ray job status`` (skip the submission if
the job exists), ``ray job submit`` (the request the CLI sends; a refusal fails the pod), ``ray job logs
--follow`` (wait for a terminal state: the CLI then exits 0 whether the job succeeded, failed or was stopped;
a bare ``ray job submit`` without ``--no-wait`` exits 1 for FAILED). The pod's exit is told to the simulated
kubelet with ``sim.kuberay-py.io/succeed: "true"`` or ``sim.kuberay-py.io/fail: "<message>"``. A dashboard
that cannot be reached fails the pod, unless the line first waits for it (KubeRay's ``until ... gcs_healthz``
loop). A pod annotated ``jobserver.kuberay-py.io/skip: "true"`` is left alone.

What it does not do: run anything (no Ray, no processes, no resources: ``entrypoint_num_cpus`` and friends are
recorded, never waited for), stream logs (no ``/api/jobs/{id}/logs/tail`` websocket), upload packages, serve
the rest of the dashboard, authenticate (no token auth), or keep jobs across a new head pod, even with fault
tolerance. Driver-type jobs do not exist: every job is a submission, and it gets its driver (``job_id``,
``driver_info``) when it starts running, whatever its entrypoint. The submitter's calls are made in-process:
they are neither counted nor delayed as HTTP requests are. The entrypoint keeps the text of the submitter
line; the real CLI re-quotes the shell words it received (``shlex.join``), which differs only for quoted text.

    async with JobServer(kubeconfig=plane.kubeconfig) as server:
        ...  # create a RayJob; the operator and its submitter talk to `server`
        await eventually(lambda: (job := server.job(ip, "my-job")) and job.status == "SUCCEEDED")
        assert server.submissions("my-job") == 1 and server.refused("my-job") == 0
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import re
import secrets
import shlex
import socket
import string
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiohttp import web

from kuberay_py.runtime.client import Client
from kuberay_py.runtime.errors import ApiError, NotFound
from kuberay_py.runtime.objects import Obj
from kuberay_py.runtime.resources import PODS, SERVICES
from kuberay_py.runtime.selectors import LabelSelector
from kuberay_py.testing.kubelet import FAIL_ANNOTATION, SUCCEED_ANNOTATION
from kuberay_py.testing.lifecycle import StartStop, cancel_and_wait

log = logging.getLogger("kuberay_py.testing.jobserver")

# What Ray 2.60.0 answers on /api/version (ray.__version__, ray.__commit__, dashboard/modules/version.py).
RAY_VERSION = "2.60.0"
RAY_COMMIT = "b7f4259e944bf6959f721b106adc366ddfa0c356"
API_VERSION = "4"
DEFAULT_DASHBOARD_PORT = 8265
AGENT_HTTP_PORT = 52365  # the dashboard agent's default port: Ray names it in driver_agent_http_address

HEAD_SELECTOR = "ray.io/node-type=head"
SUBMITTER_SELECTOR = "batch.kubernetes.io/job-name"
FT_ANNOTATION = "ray.io/ft-enabled"
SKIP_ANNOTATION = "jobserver.kuberay-py.io/skip"
ADDRESS_ENV = "RAY_DASHBOARD_ADDRESS"
SUBMISSION_ID_ENV = "RAY_JOB_SUBMISSION_ID"
DASHBOARD_PORT_NAME = "dashboard"

_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# Ray's JobLogStorageClient: a failed job's message quotes this many last log lines, at most this many chars.
_LOG_LINES_ON_ERROR = 10
_MAX_LOG_CHARS = 20000
_MAX_ANNOTATION_CHARS = 4096
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})
_SEPARATOR = re.compile(r"(?:;|&&|\n)+")
# Ray's generate_job_id(): letters and digits without the confusable ones.
_ID_CHARS = "".join(sorted(set(string.ascii_letters + string.digits) - set("IloO0")))


class JobStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.STOPPED, JobStatus.SUCCEEDED, JobStatus.FAILED)


# -- entrypoint scripts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """One statement of an entrypoint: ``verb`` is sleep, echo, exit, hang or run (anything else)."""

    verb: str
    text: str
    seconds: float = 0.0
    code: int = 0


def parse_entrypoint(entrypoint: str) -> list[Statement]:
    """The statements of an entrypoint; quoting as in a POSIX shell. Unbalanced quotes give ``exit 2``
    after the line a shell prints, as ``/bin/sh`` would fail on it."""
    lexer = shlex.shlex(entrypoint, posix=True, punctuation_chars=";&\n")
    lexer.whitespace = " \t\r"  # newlines separate statements, as in a shell
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return [
            Statement("echo", "/bin/sh: 1: Syntax error: Unterminated quoted string"),
            Statement("exit", "", code=2),
        ]
    statements: list[Statement] = []
    words: list[str] = []
    for token in [*tokens, ";"]:
        if _SEPARATOR.fullmatch(token):
            if words:
                statements.append(_statement(words))
            words = []
        else:
            words.append(token)
    return statements


def _statement(words: list[str]) -> Statement:
    verb, args, text = words[0], words[1:], " ".join(words)
    if verb == "echo":
        return Statement("echo", " ".join(args))
    if verb == "hang" and not args:
        return Statement("hang", text)
    with contextlib.suppress(ValueError):
        if verb == "sleep" and len(args) == 1 and float(args[0]) >= 0:
            return Statement("sleep", text, seconds=float(args[0]))
        if verb == "exit" and len(args) <= 1:
            # A shell keeps the low byte of the status.
            return Statement("exit", text, code=int(args[0]) % 256 if args else 0)
    return Statement("run", text)


# -- submitter lines -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubmitterCommand:
    """What a submitter's shell line does, in order: maybe wait for the dashboard, maybe check the job's
    status, maybe submit (``request``: the JSON ``ray job submit`` sends, but for ``submission_id``), maybe
    follow the logs."""

    waits_for_dashboard: bool
    checks_status: bool
    submits: bool
    no_wait: bool
    follows: bool
    entrypoint: str | None
    request: dict[str, Any]
    submission_id: str | None  # --submission-id, if given

    @property
    def blocks(self) -> bool:
        """Whether the pod runs until the job is terminal."""
        return self.follows or (self.submits and not self.no_wait)


def submitter_script(container: Obj) -> str | None:
    """The shell line a submitter container runs: the argument of ``sh -c`` (``bash -ce --`` ...), or its
    command and args joined when no shell wraps them."""
    argv = [str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
    if not argv:
        return None
    if os.path.basename(argv[0]) in _SHELLS:
        rest = argv[1:]
        while rest and rest[0].startswith("-"):
            rest = rest[1:]
        return rest[0] if rest else None
    return shlex.join(argv)


_SUBMIT = re.compile(r"\bray\s+job\s+submit\b")
_STATUS_CHECK = re.compile(r"\bif\s+!\s*ray\s+job\s+status\b")
_LOGS = re.compile(r"\bray\s+job\s+logs\b([^;&\n]*)")
_WAIT_LOOP = re.compile(r"(?:^|[;&\n])\s*until\b")
_FI = re.compile(r";\s*fi\b")
_DASHES = re.compile(r"(?:^|\s)--(?:\s|$)")


def parse_submitter(script: str) -> SubmitterCommand | None:
    """Read a submitter line such as KubeRay's ``if ! ray job status --address http://A ID >/dev/null 2>&1 ;
    then ray job submit --address http://A --no-wait --submission-id ID ... -- ENTRYPOINT ; fi ; ray job logs
    --address http://A --follow ID``. The entrypoint is the text after ``--`` up to the ``;`` before ``fi``
    (to the end of the line without ``fi``). None when the line neither submits nor follows a job."""
    logs = _LOGS.search(script)
    follows = bool(logs) and bool({"--follow", "-f"} & set(_split(logs.group(1) if logs else "")))
    submit = _SUBMIT.search(script)
    if submit is None and not follows:
        return None
    entrypoint: str | None = None
    request: dict[str, Any] = {}
    options: dict[str, str | bool] = {}
    if submit is not None:
        dashes = _DASHES.search(script, submit.end())
        options_end = dashes.start() if dashes else len(script)
        options = _options(_split(script[submit.end() : options_end]))
        if dashes is not None:
            fis = list(_FI.finditer(script, dashes.end()))
            end = fis[-1].start() if fis else len(script)
            entrypoint = script[dashes.end() : end].strip().removesuffix(";").strip()
        request = _submit_request(entrypoint or "", options)
    submission_id = options.get("--submission-id") or options.get("--job-id")
    return SubmitterCommand(
        waits_for_dashboard=bool(_WAIT_LOOP.search(script)),
        checks_status=bool(_STATUS_CHECK.search(script)),
        submits=submit is not None,
        no_wait=bool(options.get("--no-wait")),
        follows=follows,
        entrypoint=entrypoint,
        request=request,
        submission_id=submission_id if isinstance(submission_id, str) else None,
    )


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


_FLAGS = frozenset({"--no-wait", "-v", "--verbose", "--log-color", "--log-style"})


def _options(words: list[str]) -> dict[str, str | bool]:
    """Click-style options: ``--name value``, ``--name=value`` and the ``--no-wait`` flag."""
    options: dict[str, str | bool] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and "=" in word:
            name, value = word.split("=", 1)
            options[name] = value
        elif word == "--no-wait":
            options[word] = True
        elif word.startswith("-") and word not in _FLAGS and i + 1 < len(words):
            options[word] = words[i + 1]
            i += 1
        i += 1
    return options


def _submit_request(entrypoint: str, options: dict[str, str | bool]) -> dict[str, Any]:
    """The body ``ray job submit`` posts (Ray's cli.py and sdk.py): runtime_env and metadata are always
    there, ``{}`` when not given; the numbers only when given."""

    def text(name: str) -> str | None:
        value = options.get(name)
        return value if isinstance(value, str) else None

    runtime_env = _json_object(text("--runtime-env-json")) or {}
    if working_dir := text("--working-dir"):
        runtime_env["working_dir"] = working_dir
    request: dict[str, Any] = {
        "entrypoint": entrypoint,
        "runtime_env": _normalize_runtime_env(runtime_env),
        "metadata": _json_object(text("--metadata-json")) or {},
    }
    for option, key, kind in (
        ("--entrypoint-num-cpus", "entrypoint_num_cpus", float),
        ("--entrypoint-num-gpus", "entrypoint_num_gpus", float),
        ("--entrypoint-memory", "entrypoint_memory", int),
    ):
        if (value := text(option)) is not None:
            with contextlib.suppress(ValueError):
                request[key] = kind(value)
    if (resources := _json_object(text("--entrypoint-resources"))) is not None:
        request["entrypoint_resources"] = resources
    if (selector := _json_object(text("--entrypoint-label-selector"))) is not None:
        request["entrypoint_label_selector"] = selector
    return request


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _normalize_runtime_env(runtime_env: dict[str, Any]) -> dict[str, Any]:
    """What the SDK's ``RuntimeEnv(...).to_dict()`` makes of the common cases: a pip list becomes a dict,
    and pip or conda pin the client's Ray commit."""
    env = dict(runtime_env)
    if isinstance(env.get("pip"), list):
        env["pip"] = {"packages": env["pip"], "pip_check": False}
    if (env.get("pip") or env.get("conda")) and "_ray_commit" not in env:
        env["_ray_commit"] = RAY_COMMIT
    return env


# -- jobs ----------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class JobRecord:
    """One submitted job of one cluster (head IP). ``details()`` is Ray's JobDetails JSON."""

    ip: str
    submission_id: str
    entrypoint: str
    metadata: dict[str, str] | None = None
    runtime_env: dict[str, Any] | None = None
    entrypoint_num_cpus: float | None = None
    entrypoint_num_gpus: float | None = None
    entrypoint_memory: int | None = None
    entrypoint_resources: dict[str, float] | None = None
    entrypoint_label_selector: dict[str, str] | None = None
    status: JobStatus = JobStatus.PENDING
    message: str = ""
    error_type: str | None = None
    start_time: int = field(default_factory=lambda: _now_ms())
    end_time: int | None = None
    job_id: str | None = None  # the driver's Ray JobID, once it runs
    driver_pid: int | None = None
    driver_agent_http_address: str | None = None
    driver_node_id: str | None = None
    driver_exit_code: int | None = None
    log_lines: list[str] = field(default_factory=list)
    stop_requested: bool = False
    statements: list[Statement] = field(default_factory=list)
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.message = self._pending_message()
        self.statements = parse_entrypoint(self.entrypoint)
        # Ray's JobManager writes this to the driver log at submission, before the entrypoint's output.
        self.log_lines.append(f"{_log_time()}\tINFO job_manager.py:581 -- Runtime env is setting up.\n")

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def logs(self) -> str:
        """What ``GET /api/jobs/{id}/logs`` returns: nothing until the job has a driver node."""
        return "".join(self.log_lines) if self.driver_agent_http_address else ""

    def details(self) -> dict[str, Any]:
        driver = None
        if self.job_id is not None:
            driver = {"id": self.job_id, "node_ip_address": self.ip, "pid": str(self.driver_pid)}
        return {
            "type": "SUBMISSION",
            "job_id": self.job_id,
            "submission_id": self.submission_id,
            "driver_info": driver,
            "status": str(self.status),
            "entrypoint": self.entrypoint,
            "message": self.message,
            "error_type": self.error_type,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "metadata": self.metadata,
            "runtime_env": self.runtime_env,
            "driver_agent_http_address": self.driver_agent_http_address,
            "driver_node_id": self.driver_node_id,
            "driver_exit_code": self.driver_exit_code,
        }

    def _pending_message(self) -> str:
        # JobInfo.__post_init__ in Ray's common.py.
        message = "Job has not started yet."
        if (
            (self.entrypoint_num_cpus or 0) > 0
            or (self.entrypoint_num_gpus or 0) > 0
            or (self.entrypoint_memory or 0) > 0
            or self.entrypoint_resources
        ):
            message += (
                " It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available."
            )
        if self.runtime_env:
            message += " It may be waiting for the runtime environment to be set up."
        return message

    def _start(self, job_id: str, pid: int, node_id: str, agent_address: str) -> None:
        if self.status is not JobStatus.PENDING:
            return
        self.status, self.message = JobStatus.RUNNING, "Job is currently running."
        self.job_id, self.driver_pid, self.driver_node_id = job_id, pid, node_id
        self.driver_agent_http_address = agent_address
        # JobSupervisor writes this line before starting the entrypoint.
        self.log_lines.append(f"Running entrypoint for job {self.submission_id}: {self.entrypoint}\n")

    def _echo(self, text: str) -> None:
        self.log_lines.append(text + "\n")

    def _exit(self, code: int) -> None:
        if self.terminal:
            return
        self.driver_exit_code = code
        if code == 0:
            self._end(JobStatus.SUCCEEDED, "Job finished successfully.")
            return
        # JobSupervisor.run: the message for an entrypoint that exited non-zero.
        tail = "".join("".join(self.log_lines).splitlines(keepends=True)[-_LOG_LINES_ON_ERROR:])[
            -_MAX_LOG_CHARS:
        ]
        if tail:
            message = (
                f"Job entrypoint command failed with exit code {code}, "
                "last available logs (truncated to 20,000 chars):\n" + tail
            )
        else:
            message = f"Job entrypoint command failed with exit code {code}. No logs available."
        self.error_type = "JOB_ENTRYPOINT_COMMAND_ERROR"
        self._end(JobStatus.FAILED, message)

    def _stopped(self) -> None:
        if not self.terminal:
            self._end(JobStatus.STOPPED, "Job was intentionally stopped.")

    def _end(self, status: JobStatus, message: str) -> None:
        self.status, self.message, self.end_time = status, message, _now_ms()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _log_time() -> str:
    now = datetime.now()
    return now.strftime("%Y-%m-%d %H:%M:%S") + f",{now.microsecond // 1000:03d}"


def generate_submission_id() -> str:
    """Ray's ``generate_job_id()``: ``raysubmit_`` and sixteen unambiguous letters and digits."""
    return "raysubmit_" + "".join(secrets.choice(_ID_CHARS) for _ in range(16))


# -- listening -----------------------------------------------------------------------------------------------
def check_loopback(host: str) -> None:
    """Raise ValueError unless ``host`` is an IPv4 address in 127.0.0.0/8."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"the job server listens only on loopback IP addresses, not {host!r}") from None
    if address not in _LOOPBACK:
        raise ValueError(f"the job server listens only on 127.0.0.0/8, not {host}")


class _Listener:
    """One listening socket. Opening and closing are synchronous, so a test's ``set_down`` takes effect at
    once: the socket is bound and listening before the server starts accepting, and closing also drops every
    open connection (and with it any reply in flight)."""

    def __init__(
        self, host: str, port: int, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ):
        check_loopback(host)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.host, self.port = host, int(sock.getsockname()[1])
        self._sock = sock
        self._web = web.Server(handler, handler_cancellation=True, access_log=None)
        self._server: asyncio.Server | None = None
        self._closed = False
        self._starting = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        # Only this task closes the socket before the server owns it, so neither closes it twice.
        if self._closed:
            self._sock.close()
            return
        try:
            server = await asyncio.get_running_loop().create_server(self._web, sock=self._sock)
        except BaseException:
            self._sock.close()
            raise
        self._server = server
        if self._closed:
            server.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        for connection in self._web.connections:
            connection.force_close()

    async def wait_closed(self) -> None:
        self.close()
        with contextlib.suppress(Exception):
            await self._starting
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)


@dataclass(eq=False)
class _Cluster:
    """One head's Ray cluster: its jobs and, while it serves, its listener."""

    ip: str
    port: int
    identity: tuple[Any, ...]  # what makes it the same Ray cluster; another value is a new, empty cluster
    from_pod: bool
    serving: bool = True
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    listener: _Listener | None = None
    next_job: int = 2  # the next driver's JobID number: the dashboard's own driver holds the first
    node_id: str = field(default_factory=lambda: secrets.token_hex(28))
    session_name: str = field(
        default_factory=lambda: datetime.now().strftime("session_%Y-%m-%d_%H-%M-%S_%f_") + str(os.getpid())
    )

    @property
    def listening(self) -> bool:
        return self.listener is not None

    def find(self, job_or_submission_id: str) -> JobRecord | None:
        """Ray's find_job_by_ids: a submission id, or the Ray JobID of a submission's driver."""
        record = self.jobs.get(job_or_submission_id)
        if record is None:
            record = next((r for r in self.jobs.values() if r.job_id == job_or_submission_id), None)
        return record


@dataclass(eq=False)
class _Submitter:
    """A submitter pod being played: what its line does and how far it got."""

    namespace: str
    name: str
    address: str
    submission_id: str
    command: SubmitterCommand | None
    cluster: _Cluster | None = None
    record: JobRecord | None = None
    outcome: tuple[str, str] | None = None  # (annotation, value) to write
    done: bool = False


# -- the server ----------------------------------------------------------------------------------------------
class JobServer(StartStop):
    """Ray's job server for every head pod (with ``kubeconfig`` or ``client``), or at addresses given to
    :meth:`serve_at`. Start and stop it with ``async with`` or :meth:`start`/:meth:`stop`.

    ``port`` is the dashboard port of a head container that names none, ``pending_seconds`` how long a new job
    stays PENDING, ``stop_seconds`` how long a stopped job takes to be STOPPED, ``poll_interval`` the time
    between two rounds of listing pods. Every method runs on the event loop the server was started on.
    """

    def __init__(
        self,
        kubeconfig: Path | str | None = None,
        *,
        client: Client | None = None,
        port: int = DEFAULT_DASHBOARD_PORT,
        pending_seconds: float = 0.3,
        stop_seconds: float = 0.0,
        poll_interval: float = 0.2,
    ) -> None:
        if kubeconfig is not None and client is not None:
            raise ValueError("give a kubeconfig or a client, not both")
        self.kubeconfig = kubeconfig
        self.port = port
        self.pending_seconds = pending_seconds
        self.stop_seconds = stop_seconds  # from a stop request to STOPPED (Ray signals the entrypoint first)
        self.poll_interval = poll_interval
        self._client = client
        self._owns_client = False
        self._clusters: dict[str, _Cluster] = {}
        self._submitters: dict[str, _Submitter] = {}
        self._accepted: Counter[tuple[str, str]] = Counter()
        self._refused: Counter[tuple[str, str]] = Counter()
        self._requests: dict[str, Counter[str]] = {}
        self._delays: dict[str, float] = {}
        self._down: set[str] = set()
        self._warned: set[str] = set()
        self._poller: asyncio.Task[None] | None = None
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            raise RuntimeError("the job server is already running")
        self._started = True
        if self.kubeconfig is not None:
            from kuberay_py.runtime import connect

            self._client = await connect(str(self.kubeconfig))
            self._owns_client = True
        if self._client is not None:
            try:
                await self.poll_once()
            except BaseException:
                await self.stop()
                raise
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def stop(self) -> None:
        """Stop polling, close every listener and end every job's task; safe to call twice."""
        if self._poller is not None:
            await cancel_and_wait(self._poller)
            self._poller = None
        for ip in list(self._clusters):
            await self._drop(ip)
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client, self._owns_client = None, False
        self._started = False

    async def serve_at(self, host: str, port: int = DEFAULT_DASHBOARD_PORT) -> str:
        """Serve a new, empty cluster at ``host:port`` (port 0: a free one) without Kubernetes; returns its
        URL. ``host`` must be an IP in 127.0.0.0/8 and not served already."""
        check_loopback(host)
        if host in self._clusters:
            raise ValueError(f"{host} is served already")
        cluster = _Cluster(host, port, ("manual", host, port), from_pod=False)
        self._clusters[host] = cluster
        try:
            self._sync_listener(cluster)
        except BaseException:
            del self._clusters[host]
            raise
        assert cluster.listener is not None
        cluster.port = cluster.listener.port
        return self.url(host)

    async def unserve(self, host: str) -> None:
        """Forget the cluster at ``host`` (its jobs too) and stop listening there."""
        await self._drop(host)

    # -- what tests read and control -------------------------------------------------------------------------
    def url(self, ip: str) -> str:
        cluster = self._clusters[ip]
        return f"http://{ip}:{cluster.port}"

    def heads(self) -> list[str]:
        """The IPs of the clusters known now (listening or not)."""
        return list(self._clusters)

    def job(self, ip: str, submission_id: str) -> JobRecord | None:
        cluster = self._clusters.get(ip)
        return cluster.jobs.get(submission_id) if cluster else None

    def jobs(self) -> list[JobRecord]:
        """Every job of every cluster known now, in submission order per cluster."""
        return [record for cluster in self._clusters.values() for record in cluster.jobs.values()]

    def submissions(self, submission_id: str, ip: str | None = None) -> int:
        """Accepted submissions of this id (at ``ip``, or at every head ever served)."""
        return _count(self._accepted, submission_id, ip)

    def refused(self, submission_id: str, ip: str | None = None) -> int:
        """Submissions of this id refused because a job with it already existed."""
        return _count(self._refused, submission_id, ip)

    def requests(self, ip: str) -> int:
        """HTTP requests this head has answered or is answering (the submitter's calls are not counted)."""
        return sum(self._requests.get(ip, Counter()).values())

    def request_counts(self, ip: str) -> Counter[str]:
        """The same by route, as ``"GET /api/jobs/{id}"``."""
        return Counter(self._requests.get(ip, Counter()))

    def set_delay(self, ip: str, seconds: float) -> None:
        """Delay every reply from this head by ``seconds`` (the request takes effect first): a slow
        dashboard. Zero restores it."""
        if seconds > 0:
            self._delays[ip] = seconds
        else:
            self._delays.pop(ip, None)

    def set_down(self, ip: str, down: bool = True) -> None:
        """Close this head's listener, and its open connections, now (a dead dashboard; the cluster and its
        jobs go on), or listen again. Holds for a head that appears later at this IP, too."""
        if down:
            self._down.add(ip)
        else:
            self._down.discard(ip)
        if (cluster := self._clusters.get(ip)) is not None:
            self._sync_listener(cluster)

    def finish(self, ip: str, submission_id: str, exit_code: int = 0) -> bool:
        """End a job now, as if its entrypoint exited with ``exit_code``; False if it was already over,
        KeyError if there is no such job."""
        cluster = self._clusters[ip]
        record = cluster.jobs[submission_id]
        if record.terminal:
            return False
        _cancel(record)
        self._start(cluster, record)
        record._exit(exit_code % 256)
        return True

    # -- the Jobs API ----------------------------------------------------------------------------------------
    def submit(self, ip: str, request: Any) -> tuple[int, str]:
        """Submit as ``POST /api/jobs/`` does, without HTTP: Ray's status code and body text."""
        return self._submit(self._clusters[ip], request)

    def _submit(self, cluster: _Cluster, request: Any) -> tuple[int, str]:
        if not isinstance(request, dict):
            return 500, "500 Internal Server Error\n\nServer got itself in trouble"
        request = {k: v for k, v in request.items() if v is not None}
        problem = _invalid_request(request)
        if problem is not None:
            return 400, _traceback("utils.py", "parse_and_validate_request", problem)
        submission_id = request.get("submission_id") or request.get("job_id") or generate_submission_id()
        if submission_id in cluster.jobs:
            self._refused[(cluster.ip, submission_id)] += 1
            inner = _traceback(
                "job_manager.py",
                "submit_job",
                f"ValueError: Job with submission_id {submission_id} already exists. "
                "Please use a different submission_id.",
            )
            return 500, _traceback(
                "job_head.py", "submit_job", f"RuntimeError: Request failed with status code 400: {inner}."
            )
        record = JobRecord(
            ip=cluster.ip,
            submission_id=submission_id,
            entrypoint=request["entrypoint"],
            metadata=request.get("metadata"),
            runtime_env=request.get("runtime_env"),
            entrypoint_num_cpus=request.get("entrypoint_num_cpus"),
            entrypoint_num_gpus=request.get("entrypoint_num_gpus"),
            entrypoint_memory=request.get("entrypoint_memory"),
            entrypoint_resources=request.get("entrypoint_resources"),
            entrypoint_label_selector=request.get("entrypoint_label_selector"),
        )
        cluster.jobs[submission_id] = record
        self._accepted[(cluster.ip, submission_id)] += 1
        record.task = asyncio.get_running_loop().create_task(self._run(cluster, record))
        return 200, json.dumps({"job_id": submission_id, "submission_id": submission_id})

    def _stop_job(self, cluster: _Cluster, record: JobRecord) -> bool:
        # Ray answers whether the job's supervisor actor was alive; it goes when the job is over.
        if record.terminal:
            return False
        if not record.stop_requested:
            record.stop_requested = True
            _cancel(record)
            self._start(cluster, record)  # the supervisor marks a job RUNNING before it can see a stop
            if self.stop_seconds > 0:
                record.task = asyncio.get_running_loop().create_task(self._stop_later(record))
            else:
                record._stopped()
        return True

    async def _stop_later(self, record: JobRecord) -> None:
        await asyncio.sleep(self.stop_seconds)
        record._stopped()

    async def _run(self, cluster: _Cluster, record: JobRecord) -> None:
        await asyncio.sleep(self.pending_seconds)
        self._start(cluster, record)
        for statement in record.statements:
            if statement.verb == "sleep":
                await asyncio.sleep(statement.seconds)
            elif statement.verb == "echo":
                record._echo(statement.text)
            elif statement.verb == "exit":
                record._exit(statement.code)
                return
            elif statement.verb == "hang":
                await asyncio.Event().wait()  # until stopped or finished (cancelled)
            else:
                record._echo(f"ran: {statement.text}")
        record._exit(0)

    def _start(self, cluster: _Cluster, record: JobRecord) -> None:
        if record.status is not JobStatus.PENDING:
            return
        number = cluster.next_job
        cluster.next_job += 1
        # A Ray JobID is a little-endian integer, shown as hex.
        job_id = number.to_bytes(4, "little").hex()
        record._start(job_id, 1000 + number, cluster.node_id, f"http://{cluster.ip}:{AGENT_HTTP_PORT}")

    async def _handle(self, cluster: _Cluster, request: web.BaseRequest) -> web.StreamResponse:
        route, handler = self._route(request.method, request.path)
        self._requests.setdefault(cluster.ip, Counter())[route] += 1
        response = await handler(cluster, request)
        if (delay := self._delays.get(cluster.ip, 0.0)) > 0:
            await asyncio.sleep(delay)
        return response

    def _route(
        self, method: str, path: str
    ) -> tuple[str, Callable[[_Cluster, web.BaseRequest], Awaitable[web.StreamResponse]]]:
        for pattern, template, handlers in self._routes():
            match = pattern.fullmatch(path)
            if match is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                return f"{method} {template}", _static(405, "405: Method Not Allowed")
            job_ref = match.group(1) if match.groups() else ""
            return f"{method} {template}", _bind(handler, job_ref)
        return f"{method} {path}", _static(404, "404: Not Found")

    def _routes(self) -> Iterator[tuple[re.Pattern[str], str, dict[str, JobHandler]]]:
        yield _VERSION, "/api/version", {"GET": self._version}
        yield _HEALTHZ, "/api/gcs_healthz", {"GET": self._healthz}
        yield _JOBS, "/api/jobs/", {"GET": self._list, "POST": self._post}
        yield _JOB, "/api/jobs/{id}", {"GET": self._get, "DELETE": self._delete}
        yield _STOP, "/api/jobs/{id}/stop", {"POST": self._stop}
        yield _LOGS_ROUTE, "/api/jobs/{id}/logs", {"GET": self._logs}

    async def _version(self, cluster: _Cluster, request: web.BaseRequest, _: str) -> web.StreamResponse:
        body = {
            "version": API_VERSION,
            "ray_version": RAY_VERSION,
            "ray_commit": RAY_COMMIT,
            "session_name": cluster.session_name,
        }
        return _json(body)

    async def _healthz(self, cluster: _Cluster, request: web.BaseRequest, _: str) -> web.StreamResponse:
        return web.Response(text="success", content_type="application/text")

    async def _list(self, cluster: _Cluster, request: web.BaseRequest, _: str) -> web.StreamResponse:
        return _json([record.details() for record in cluster.jobs.values()])

    async def _post(self, cluster: _Cluster, request: web.BaseRequest, _: str) -> web.StreamResponse:
        try:
            payload = json.loads(await request.read())
        except ValueError:
            payload = None  # Ray's handler raises outside its try: aiohttp's own 500
        status, text = self._submit(cluster, payload)
        if status == 200:
            return web.Response(text=text, content_type="application/json")
        return web.Response(text=text, status=status)

    async def _get(self, cluster: _Cluster, request: web.BaseRequest, ref: str) -> web.StreamResponse:
        record = cluster.find(ref)
        return _json(record.details()) if record else _missing(ref)

    async def _delete(self, cluster: _Cluster, request: web.BaseRequest, ref: str) -> web.StreamResponse:
        record = cluster.find(ref)
        if record is None:
            return _missing(ref)
        if not record.terminal:
            inner = _traceback(
                "job_manager.py",
                "delete_job",
                f"RuntimeError: Attempted to delete job '{record.submission_id}', "
                f"but it is in a non-terminal state {record.status}.",
            )
            text = _traceback(
                "job_head.py", "delete_job", f"RuntimeError: Request failed with status code 500: {inner}."
            )
            return web.Response(text=text, status=500)
        del cluster.jobs[record.submission_id]
        return _json({"deleted": True})

    async def _stop(self, cluster: _Cluster, request: web.BaseRequest, ref: str) -> web.StreamResponse:
        record = cluster.find(ref)
        return _json({"stopped": self._stop_job(cluster, record)}) if record else _missing(ref)

    async def _logs(self, cluster: _Cluster, request: web.BaseRequest, ref: str) -> web.StreamResponse:
        record = cluster.find(ref)
        return _json({"logs": record.logs}) if record else _missing(ref)

    # -- clusters and their listeners ------------------------------------------------------------------------
    def _sync_listener(self, cluster: _Cluster) -> None:
        """Listen exactly while the cluster serves and its IP is not set down."""
        wanted = cluster.serving and cluster.ip not in self._down
        if wanted and cluster.listener is None:

            async def handle(request: web.BaseRequest) -> web.StreamResponse:
                return await self._handle(cluster, request)

            cluster.listener = _Listener(cluster.ip, cluster.port, handle)
        elif not wanted and cluster.listener is not None:
            cluster.listener.close()
            cluster.listener = None

    async def _drop(self, ip: str) -> None:
        cluster = self._clusters.pop(ip, None)
        if cluster is None:
            return
        for record in cluster.jobs.values():
            _cancel(record)
        if cluster.listener is not None:
            listener, cluster.listener = cluster.listener, None
            await listener.wait_closed()

    # -- polling the API server ------------------------------------------------------------------------------
    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await self.poll_once()
            except ApiError as error:
                log.warning("job server: listing pods failed: %s", error)
            except Exception:
                log.exception("job server: poll failed")

    async def poll_once(self) -> None:
        """One round: follow the head pods, then play the submitter pods."""
        assert self._client is not None
        heads = await self._client.list(PODS, label_selector=HEAD_SELECTOR)
        await self._sync_heads(heads.items)
        submitters = await self._client.list(PODS, label_selector=SUBMITTER_SELECTOR)
        seen = set()
        for pod in submitters.items:
            seen.add(pod["metadata"]["uid"])
            try:
                await self._play(pod)
            except ApiError as error:
                log.warning("job server: submitter %s: %s", pod["metadata"]["name"], error)
        for uid in set(self._submitters) - seen:
            del self._submitters[uid]

    async def _sync_heads(self, pods: list[Obj]) -> None:
        wanted: dict[str, tuple[tuple[Any, ...], int, bool]] = {}
        for pod in pods:
            ip = (pod.get("status") or {}).get("podIP")
            if not ip:
                continue
            try:
                check_loopback(ip)
            except ValueError as error:
                self._warn_once(ip, "job server: not serving head pod %s: %s", pod["metadata"]["name"], error)
                continue
            port = _dashboard_port(pod, self.port)
            wanted[ip] = (_incarnation(pod, ip, port), port, _serving(pod))
        for ip, known in list(self._clusters.items()):
            if known.from_pod and (ip not in wanted or wanted[ip][0] != known.identity):
                await self._drop(ip)
        for ip, (identity, port, serving) in wanted.items():
            cluster = self._clusters.get(ip) or _Cluster(ip, port, identity, from_pod=True, serving=serving)
            if not cluster.from_pod:
                continue
            self._clusters[ip] = cluster
            cluster.serving = serving
            try:
                self._sync_listener(cluster)
            except OSError as error:
                self._warn_once(
                    f"bind {ip}:{port}", "job server: cannot listen on %s:%s: %s", ip, port, error
                )

    async def _play(self, pod: Obj) -> None:
        meta = pod["metadata"]
        annotations = meta.get("annotations") or {}
        state = self._submitters.get(meta["uid"])
        if state is not None and state.done:
            return
        if annotations.get(SKIP_ANNOTATION) == "true" or FAIL_ANNOTATION in annotations:
            return
        if SUCCEED_ANNOTATION in annotations or meta.get("deletionTimestamp"):
            return
        if (pod.get("status") or {}).get("phase") != "Running":
            return
        if state is None:
            state = self._new_submitter(pod)
            if state is None:
                return
            self._submitters[meta["uid"]] = state
        if state.command is None:
            return
        if state.outcome is None:
            await self._advance(state, pod)
        if state.outcome is not None:
            key, value = state.outcome
            patch = {"metadata": {"annotations": {key: value}}}
            with contextlib.suppress(NotFound):
                await self._client_or_fail().patch(PODS, state.name, patch, state.namespace)
            state.done = True

    def _new_submitter(self, pod: Obj) -> _Submitter | None:
        containers = (pod.get("spec") or {}).get("containers") or []
        if not containers:
            return None
        env = {e.get("name"): e.get("value") for e in containers[0].get("env") or []}
        address, submission_id = env.get(ADDRESS_ENV), env.get(SUBMISSION_ID_ENV)
        if not address or not submission_id:
            return None
        script = submitter_script(containers[0])
        command = parse_submitter(script) if script else None
        meta = pod["metadata"]
        if command is None:
            log.warning(
                "job server: submitter %s/%s runs no ray job command", meta["namespace"], meta["name"]
            )
        return _Submitter(meta["namespace"], meta["name"], str(address), str(submission_id), command)

    async def _advance(self, state: _Submitter, pod: Obj) -> None:
        command = state.command
        assert command is not None
        url = state.address if "://" in state.address else f"http://{state.address}"
        unreachable = (
            FAIL_ANNOTATION,
            _clip(f"ConnectionError: Failed to connect to Ray at address: {url}."),
        )
        if state.cluster is None:
            cluster = await self._resolve(state.address, pod)
            if cluster is None or not cluster.listening:
                if not command.waits_for_dashboard:  # else: the line's own loop waits for the dashboard
                    state.outcome = unreachable
                return
            exists = state.submission_id in cluster.jobs
            if command.submits and not (command.checks_status and exists):
                status, text = self._submit(
                    cluster, {**command.request, "submission_id": state.submission_id}
                )
                if status != 200:
                    message = f"RuntimeError: Request failed with status code {status}: {text}."
                    state.outcome = (FAIL_ANNOTATION, _clip(message))
                    return
            elif not exists:
                missing = f"Job {state.submission_id} does not exist"
                state.outcome = (
                    FAIL_ANNOTATION,
                    f"RuntimeError: Request failed with status code 404: {missing}.",
                )
                return
            state.cluster, state.record = cluster, cluster.jobs[state.submission_id]
            if not command.blocks:
                state.outcome = (SUCCEED_ANNOTATION, "true")
                return
        record = state.record
        assert record is not None and state.cluster is not None
        if record.terminal:
            # `ray job logs --follow` succeeds however the job ended; a waiting submit fails if it FAILED.
            if record.status is JobStatus.FAILED and not command.follows:
                message = f"Job '{state.submission_id}' failed\nStatus message: {record.message}"
                state.outcome = (FAIL_ANNOTATION, _clip(message))
            else:
                state.outcome = (SUCCEED_ANNOTATION, "true")
        elif self._clusters.get(state.cluster.ip) is not state.cluster or not state.cluster.listening:
            state.outcome = unreachable  # the log stream broke, and the status check after it cannot connect

    async def _resolve(self, address: str, pod: Obj) -> _Cluster | None:
        """The served cluster at a dashboard address: an IP, or a Service's DNS name (``svc``,
        ``svc.namespace``, ``svc.namespace.svc.cluster.local``) resolved through its selector."""
        host, port = _host_port(address)
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(host)
            cluster = self._clusters.get(host)
            return cluster if cluster is not None and cluster.port == port else None
        parts = host.split(".")
        namespace = parts[1] if len(parts) > 1 else pod["metadata"]["namespace"]
        client = self._client_or_fail()
        try:
            service = await client.get(SERVICES, parts[0], namespace)
        except NotFound:
            return None
        spec = service.get("spec") or {}
        target: int | str = port
        for entry in spec.get("ports") or []:
            if entry.get("port") == port:
                target = entry.get("targetPort") or port
        selector = spec.get("selector") or {}
        if not selector:
            return None
        pods = await client.list(
            PODS, namespace, label_selector=str(LabelSelector.from_match_labels(selector))
        )
        for candidate in pods.items:
            cluster = self._clusters.get((candidate.get("status") or {}).get("podIP") or "")
            if cluster is not None and cluster.port == _target_port(candidate, target):
                return cluster
        return None

    def _client_or_fail(self) -> Client:
        if self._client is None:
            raise RuntimeError("the job server has no Kubernetes client")
        return self._client

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message, *args)


JobHandler = Callable[[_Cluster, web.BaseRequest, str], Awaitable[web.StreamResponse]]

_VERSION = re.compile(r"/api/version")
_HEALTHZ = re.compile(r"/api/gcs_healthz")
_JOBS = re.compile(r"/api/jobs/")
_JOB = re.compile(r"/api/jobs/([^/]+)")
_STOP = re.compile(r"/api/jobs/([^/]+)/stop")
_LOGS_ROUTE = re.compile(r"/api/jobs/([^/]+)/logs")


def _bind(
    handler: JobHandler, ref: str
) -> Callable[[_Cluster, web.BaseRequest], Awaitable[web.StreamResponse]]:
    async def bound(cluster: _Cluster, request: web.BaseRequest) -> web.StreamResponse:
        return await handler(cluster, request, ref)

    return bound


def _static(status: int, text: str) -> Callable[[_Cluster, web.BaseRequest], Awaitable[web.StreamResponse]]:
    async def respond(cluster: _Cluster, request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(text=text, status=status)

    return respond


def _json(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type="application/json")


def _missing(ref: str) -> web.Response:
    return web.Response(text=f"Job {ref} does not exist", status=404)


def _traceback(filename: str, function: str, last_line: str) -> str:
    """The shape of the ``traceback.format_exc()`` text Ray answers errors with."""
    return (
        "Traceback (most recent call last):\n"
        f'  File "/ray/dashboard/modules/job/{filename}", in {function}\n'
        f"{last_line}\n"
    )


def _invalid_request(request: dict[str, Any]) -> str | None:
    """The TypeError JobSubmitRequest raises for this body (Ray's common.py), if any."""
    known = {
        "entrypoint": (str,),
        "submission_id": (str,),
        "job_id": (str,),
        "runtime_env": (dict,),
        "metadata": (dict,),
        "entrypoint_num_cpus": (int, float),
        "entrypoint_num_gpus": (int, float),
        "entrypoint_memory": (int,),
        "entrypoint_resources": (dict,),
        "entrypoint_label_selector": (dict,),
    }
    for key in request:
        if key not in known:
            return f"TypeError: JobSubmitRequest.__init__() got an unexpected keyword argument '{key}'"
    if "entrypoint" not in request:
        return "TypeError: JobSubmitRequest.__init__() missing 1 required positional argument: 'entrypoint'"
    for key, kinds in known.items():
        value = request.get(key)
        if value is not None and not isinstance(value, kinds):
            kind = "a string" if kinds == (str,) else "a dict" if kinds == (dict,) else "a number"
            if key == "entrypoint_memory":
                kind = "an integer"
            return f"TypeError: {key} must be {kind}, got {type(value)}"
    for key, values in (
        ("metadata", str),
        ("entrypoint_resources", (int, float)),
        ("entrypoint_label_selector", str),
    ):
        mapping = request.get(key) or {}
        for v in mapping.values():
            if not isinstance(v, values):
                kind = "numbers" if key == "entrypoint_resources" else "strings"
                return f"TypeError: {key} values must be {kind}, got {type(v)}"
    return None


def _count(counter: Counter[tuple[str, str]], submission_id: str, ip: str | None) -> int:
    return sum(n for (at, sid), n in counter.items() if sid == submission_id and ip in (None, at))


def _cancel(record: JobRecord) -> None:
    if record.task is not None and not record.task.done():
        record.task.cancel()
    record.task = None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ANNOTATION_CHARS else text[: _MAX_ANNOTATION_CHARS - 3] + "..."


def _host_port(address: str) -> tuple[str, int]:
    rest = address.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, 80  # no port: plain HTTP's
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return rest, 80


def _head_container(pod: Obj) -> Obj:
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return dict(containers[0])


def _dashboard_port(pod: Obj, default: int) -> int:
    for entry in _head_container(pod).get("ports") or []:
        if entry.get("name") == DASHBOARD_PORT_NAME and entry.get("containerPort"):
            return int(entry["containerPort"])
    return default


def _target_port(pod: Obj, target: int | str) -> int | None:
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for entry in container.get("ports") or []:
            if entry.get("name") == target:
                return int(entry["containerPort"])
    return None


def _head_status(pod: Obj) -> Obj:
    name = _head_container(pod).get("name")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return next((s for s in statuses if s.get("name") == name), {})


def _incarnation(pod: Obj, ip: str, port: int) -> tuple[Any, ...]:
    """The same pod at the same address is the same Ray cluster, unless its Ray container restarted without
    GCS fault tolerance (which would have kept the jobs in Redis)."""
    annotations = pod["metadata"].get("annotations") or {}
    restarts = (
        0 if annotations.get(FT_ANNOTATION) == "true" else int(_head_status(pod).get("restartCount") or 0)
    )
    return (pod["metadata"].get("uid"), ip, port, restarts)


def _serving(pod: Obj) -> bool:
    """A dashboard answers while the pod runs and its Ray container is running."""
    if (pod.get("status") or {}).get("phase") != "Running":
        return False
    status = _head_status(pod)
    return not status or "running" in (status.get("state") or {})
