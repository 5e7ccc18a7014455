"""`kuberay-py demo`: a local control plane, the operator and a sample RayCluster, running until Ctrl-C.

The control plane (etcd, kube-apiserver, controller-manager, scheduler, simulated kubelet) runs in this
process's care, the operator as its own process, exactly as the tests run them. Everything lives in one
temporary directory; SIGINT or SIGTERM stops every process and removes it.

Steps before the cluster is ready retry transient failures (connection trouble, timeouts, throttling, server
errors) for a bounded time, then stop with one line naming the step; other failures stop at once. When the
demo fails, the end of the operator's log (and of a control-plane component's, if one failed) is printed
before the directory, logs included, is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import yaml
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_before_delay,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import CRD_NAME, HEAD_GROUP_NAME, JOB_CRD_NAME
from kuberay_py.api.crd import render_crds
from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS
from kuberay_py.demo_ray import DASHBOARD_PORT, how_to_submit, scale_lines, submit_job
from kuberay_py.runtime import PODS, ApiError, Informer, KubeClient, configure_logging, connect
from kuberay_py.runtime.errors import is_retriable
from kuberay_py.testing import podproxy
from kuberay_py.testing.binaries import BinariesError, find_kubectl
from kuberay_py.testing.controlplane import ControlPlane, ControlPlaneError, last_lines
from kuberay_py.testing.operator_process import OperatorProcess
from kuberay_py.testing.pki import PKIError
from kuberay_py.testing.podaccess import PortForward

T = TypeVar("T")
Obj = dict[str, Any]

SAMPLE = Path(__file__).resolve().parents[1] / "config" / "samples" / "ray-cluster.heterogeneous.yaml"
READY_LINE = "is ready"
LOG_TAIL_LINES = 30
# What kubectl prints when the cause may pass: no connection, a timeout, throttling, an overloaded server.
# A CRD that was just established can also be missing from discovery for a moment ("no matches for kind").
TRANSIENT_KUBECTL_OUTPUT = (
    "connection refused",
    "the connection to the server",  # kubectl's own words for a refused connection
    "connection reset",
    "broken pipe",
    "unable to connect to the server",
    ": eof",
    "unexpected eof",
    "http2: client connection lost",
    "goaway",
    "i/o timeout",
    "tls handshake timeout",
    "timed out",
    "timeout exceeded",
    "context deadline exceeded",
    "(timeout)",
    "(servertimeout)",
    "(toomanyrequests)",
    "too many requests",
    "(internalerror)",
    "internal error occurred",
    "(serviceunavailable)",
    "the server is currently unable to handle the request",
    "etcdserver:",
    "no matches for kind",
)


class DemoError(Exception):
    """The demo cannot go on; the message is one line."""


def is_transient(error: BaseException) -> bool:
    """Whether a failed step may succeed if tried again unchanged."""
    if isinstance(error, subprocess.CalledProcessError):
        output = str(error.stderr or "").lower()
        return any(marker in output for marker in TRANSIENT_KUBECTL_OUTPUT)
    if isinstance(error, ApiError):
        return is_retriable(error)
    return isinstance(error, subprocess.TimeoutExpired | ConnectionError | TimeoutError)


def describe(error: BaseException) -> str:
    """An error on one line: kubectl's own message when it has one."""
    if isinstance(error, subprocess.CalledProcessError):
        text = str(error.stderr or "") or f"kubectl exited with {error.returncode}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


BACKOFF: wait_base = wait_random_exponential(multiplier=0.5, max=5)


async def retry_step(
    step: str,
    action: Callable[[], Awaitable[T]],
    budget: float,
    *,
    backoff: wait_base = BACKOFF,
    notify: Callable[[str], None] | None = None,
) -> T:
    """`action`, tried again on transient errors for up to `budget` seconds; failure is one DemoError line.

    `notify` hears of each retry, so a wait does not look like a hang.
    """
    began = time.monotonic()
    attempts = 0

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if notify is not None and error is not None:
            notify(f"{step}: {describe(error)}; trying again")

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        stop=stop_before_delay(budget),
        wait=backoff,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                attempts += 1
                return await action()
    except Exception as error:
        if not is_transient(error):
            raise DemoError(f"{step} failed: {describe(error)}") from error
        spent = time.monotonic() - began
        raise DemoError(
            f"{step} failed after {attempts} attempts in {spent:.0f}s: {describe(error)}"
        ) from error
    raise AssertionError("tenacity ended without a result or an error")


def print_log_tail(title: str, path: Path, count: int = LOG_TAIL_LINES, stream: TextIO | None = None) -> None:
    """Print the end of a log that is about to be removed with the working directory."""
    out = stream or sys.stderr
    try:
        lines = last_lines(path, count)
    except OSError as error:
        print(f"{title}: cannot read {path}: {error.strerror or error}", file=out)
        return
    if not lines:
        print(f"{title} ({path}) is empty", file=out)
        return
    print(f"last {len(lines)} lines of {title} ({path}):", file=out)
    for line in lines:
        print(f"  {line}", file=out)


@dataclass(frozen=True)
class DemoOptions:
    sample: Path = SAMPLE
    namespace: str = "default"
    nodes: int = 4
    ready_timeout: float = 300.0
    exit_when_ready: bool = False
    ray: bool = False  # real Ray under the process kubelet, a job, and the autoscaler's decisions
    retry_seconds: float = 30.0  # how long a step before ready retries transient errors


def say(message: str = "") -> None:
    print(message, flush=True)  # flushed at once: the demo's output is often read through a pipe


def sample_cluster_name(sample: Path) -> str:
    """The name of the RayCluster in the sample manifest; an unusable sample fails at once."""
    try:
        documents = [d for d in yaml.safe_load_all(sample.read_text()) if d]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DemoError(f"cannot read the sample {sample}: {describe(error)}") from error
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "RayCluster":
            name = (document.get("metadata") or {}).get("name")
            if isinstance(name, str) and name:
                return name
            raise DemoError(f"the RayCluster in {sample} has no metadata.name")
    raise DemoError(f"{sample} holds no RayCluster")


def headline(error: BaseException) -> str:
    """An error's first line: a component's log is printed on its own, in full."""
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


class _OnChange:
    """An informer handler that calls back on every add, update and delete."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback

    def on_add(self, obj: Obj) -> None:
        self._callback()

    def on_update(self, old: Obj, new: Obj) -> None:
        self._callback()

    def on_delete(self, obj: Obj) -> None:
        self._callback()


def _pod_ready(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def progress_line(cluster: Obj | None, pods: list[Obj]) -> str:
    """`pods: 5 created, 4 running, 3 ready [headgroup 1/1, small-group 2/3] state: -` for one moment."""
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    running = [p for p in live if (p.get("status") or {}).get("phase") == "Running"]
    ready = [p for p in live if _pod_ready(p)]
    groups: list[str] = []
    if cluster is not None:
        with contextlib.suppress(ValueError):
            spec = RayCluster.from_manifest(cluster).spec
            wanted = {HEAD_GROUP_NAME: 1, **{g.group_name: g.desired_pods() for g in spec.worker_groups()}}
            for group, count in wanted.items():
                have = sum(1 for p in ready if p["metadata"].get("labels", {}).get("ray.io/group") == group)
                groups.append(f"{group} {have}/{count}")
    state = ((cluster or {}).get("status") or {}).get("state") or "-"
    detail = f" [{', '.join(groups)}]" if groups else ""
    return f"pods: {len(live)} created, {len(running)} running, {len(ready)} ready{detail}  state: {state}"


class Demo:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.workdir = Path(tempfile.mkdtemp(prefix="kuberay-py-demo-"))
        # A failed start keeps its logs: the demo prints their end before it removes the directory.
        self.plane = ControlPlane(
            self.workdir / "control-plane",
            nodes=options.nodes,
            kubelet_kind="process" if options.ray else "simulated",
            kubelet_args=["--image-env=RAY_USAGE_STATS_ENABLED=0"] if options.ray else [],
            log=say,
            keep_failed=True,
        )
        self.operator = OperatorProcess(self.plane.kubeconfig, self.workdir / "operator.log")
        # One thread runs every blocking step, for the demo's whole life: the control plane's children are
        # told to die with the thread that started them (PR_SET_PDEATHSIG), and steps queue in order, so
        # teardown runs after a step an interrupt left half done.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kuberay-py-demo")
        self.began = time.monotonic()
        self.ready_at: float | None = None

    async def _blocking(self, step: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, step)

    def _kubectl(self, *args: str, input: str | None = None) -> str:
        return self.plane.kubectl(*args, input=input).stdout

    async def _step(self, step: str, action: Callable[[], T]) -> T:
        """A blocking step, retried on transient errors within the options' time bound."""
        return await retry_step(
            step, lambda: self._blocking(action), self.options.retry_seconds, notify=self._say_timed
        )

    def _say_timed(self, message: str) -> None:
        say(f"{self._elapsed()}  {message}")

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.began:6.1f}s"

    async def run(self) -> None:
        """Start everything, follow the sample to ready, print what to try, and keep following changes."""
        configure_logging("console", "warning")  # the runtime's informers run here too: only their trouble
        name = sample_cluster_name(self.options.sample)
        say(f"kuberay-py demo: working directory {self.workdir}")
        say("starting the local control plane: etcd, kube-apiserver, controller-manager, scheduler, kubelet")
        await self._blocking(self.plane.start)
        crds = render_crds()
        await self._step(
            "installing the RayCluster and RayJob CRDs",
            lambda: self._kubectl("apply", "--server-side", "-f", "-", input=crds),
        )
        await self._step(
            "waiting for the CRDs to be established",
            lambda: self._kubectl(
                "wait",
                "--for=condition=Established",
                f"crd/{CRD_NAME}",
                f"crd/{JOB_CRD_NAME}",
                "--timeout=60s",
            ),
        )
        say(f"{self._elapsed()}  installed the RayCluster and RayJob CRDs")
        proxy = await self._pod_proxy() if self.options.ray else None
        await self._start_operator()
        client = await connect(self.plane.kubeconfig)
        try:
            await self._while_operator_runs(self._follow(client, name))
        finally:
            await client.close()
            if proxy is not None:
                proxy.close()

    async def _pod_proxy(self) -> asyncio.Server:
        """The operator is outside the pods' network: RayJobs reach their dashboards through this proxy."""
        server = await asyncio.start_server(podproxy.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.operator.extra_args.append("--ray-dashboard-address=pod-ip")
        self.operator.env = {"HTTP_PROXY": f"http://127.0.0.1:{port}", "NO_PROXY": "localhost,127.0.0.1"}
        return server

    async def _while_operator_runs(self, work: Coroutine[Any, Any, None]) -> None:
        """`work`, given up as soon as the operator process exits: nothing would change any more."""
        task = asyncio.create_task(work)
        watch = asyncio.create_task(self._operator_exit())
        try:
            await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
            (watch if watch.done() else task).result()
        finally:
            for pending in (task, watch):
                pending.cancel()
            await asyncio.gather(task, watch, return_exceptions=True)

    async def _operator_exit(self) -> None:
        proc = self.operator.proc
        assert proc is not None, "the operator has not been started"
        # A plain Popen child, not an asyncio one: polling is the only way to hear of its exit here.
        while proc.poll() is None:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        raise DemoError(f"the operator exited with {proc.returncode}; see {self.operator.log_path}")

    async def _start_operator(self) -> None:
        await self._blocking(lambda: self.operator.start(wait_ready=False))
        deadline = time.monotonic() + 60
        while (await self._blocking(lambda: self.operator.get("/readyz", self.operator.health_port))) != "ok":
            proc = self.operator.proc
            if proc is not None and proc.poll() is not None:
                raise DemoError(f"the operator exited with {proc.returncode}; see {self.operator.log_path}")
            if time.monotonic() > deadline:
                raise DemoError(f"the operator is not ready after 60s; see {self.operator.log_path}")
            await asyncio.sleep(0.1)
        say(f"{self._elapsed()}  operator running (pid {self.operator.pid}, log {self.operator.log_path})")

    async def _follow(self, client: KubeClient, name: str) -> None:
        namespace = self.options.namespace
        pods = Informer(client, PODS, namespace=namespace, label_selector=f"ray.io/cluster={name}")
        clusters = Informer(client, RAYCLUSTERS, namespace=namespace, field_selector=f"metadata.name={name}")
        ready = asyncio.Event()
        last = ""
        last_cluster: Obj | None = None

        def changed() -> None:
            nonlocal last, last_cluster
            cluster = next(iter(clusters.store.values()), None)
            if cluster is not None:
                for scaled in scale_lines(last_cluster, cluster):
                    say(f"{self._elapsed()}  {scaled}")
                last_cluster = cluster
            line = progress_line(cluster, pods.store.values())
            if line != last:
                last = line
                say(f"{self._elapsed()}  {line}")
            if ((cluster or {}).get("status") or {}).get("state") == "ready":
                ready.set()

        handler = _OnChange(changed)
        pods.add_handler(handler)
        clusters.add_handler(handler)
        tasks = [asyncio.create_task(informer.run()) for informer in (pods, clusters)]
        try:
            await pods.wait_synced()
            await clusters.wait_synced()
            say(f"{self._elapsed()}  creating RayCluster {name} from {self.options.sample.name}")
            await self._step(
                f"creating RayCluster {name}",
                lambda: self._kubectl("apply", "-n", namespace, "-f", str(self.options.sample)),
            )
            try:
                async with asyncio.timeout(self.options.ready_timeout):
                    await ready.wait()
            except TimeoutError:
                raise DemoError(
                    f"{name} is not ready after {self.options.ready_timeout:.0f}s;"
                    f" see the operator log {self.operator.log_path}"
                ) from None
            self.ready_at = time.monotonic()
            say(f"{self._elapsed()}  RayCluster {name} {READY_LINE}")
            cluster = next(iter(clusters.store.values()))
            await self._show(cluster, pods.store.values())
            if self.options.ray:
                await self._run_ray_job(cluster, list(pods.store.values()))
            if self.options.exit_when_ready:
                return
            await asyncio.Event().wait()  # keep printing changes until interrupted
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _show(self, cluster: Obj, pods: list[Obj]) -> None:
        namespace = self.options.namespace
        name = cluster["metadata"]["name"]
        table = await self._step(
            "listing the cluster's objects",
            lambda: self._kubectl("get", "rayclusters,pods,svc", "-n", namespace, "-o", "wide"),
        )
        say()
        say(f"$ kubectl get rayclusters,pods,svc -n {namespace}")
        say(table.rstrip())
        groups = (cluster.get("spec") or {}).get("workerGroupSpecs") or [{}]
        first = groups[0].get("groupName")
        workers = sorted(
            p["metadata"]["name"]
            for p in pods
            if p["metadata"].get("labels", {}).get("ray.io/group") == first
        )
        victim = workers[0] if workers else "<worker pod name>"
        kubectl_dir = Path(find_kubectl()).parent
        scale = '[{"op":"replace","path":"/spec/workerGroupSpecs/0/replicas","value":5}]'
        remove = (
            '[{"op":"replace","path":"/spec/workerGroupSpecs/0/replicas","value":2},'
            '{"op":"add","path":"/spec/workerGroupSpecs/0/scaleStrategy",'
            f'"value":{{"workersToDelete":["{victim}"]}}}}]'
        )
        ns = "" if namespace == "default" else f" -n {namespace}"
        rayjob = ""
        if self.options.ray:  # a job needs real Ray's job server
            rayjob = (
                "\n  # a RayJob: a cluster of its own, a Ray program run on it to Complete, the cluster gone"
                f"\n  kubectl create{ns} -f {SAMPLE.parent / 'ray-job.sample.yaml'}"
                f"\n  kubectl get rayjobs{ns} -w"
            )
        say(
            f"""
Try it from another terminal:

  export KUBECONFIG={self.plane.kubeconfig}
  export PATH="{kubectl_dir}:$PATH"   # the kubectl used here

  kubectl get rayclusters{ns} -w                  # follow state and worker counts
  kubectl get pods{ns} -l ray.io/cluster={name} -w
  # scale the first worker group to 5
  kubectl patch raycluster {name}{ns} --type=json -p '{scale}'
  # remove one chosen worker from it, the way the Ray autoscaler does
  kubectl patch raycluster {name}{ns} --type=json -p '{remove}'
  # delete the cluster: its pods and Service go with it
  kubectl delete raycluster {name}{ns}{rayjob}

Changes show up here as they happen. Press Ctrl-C to stop everything and remove {self.workdir}.
"""
        )

    async def _run_ray_job(self, cluster: Obj, pods: list[Obj]) -> None:
        """Forward the dashboard to the host, print how to use it, and submit a job that needs scaling up."""
        head = next(p for p in pods if (p["metadata"].get("labels") or {}).get("ray.io/node-type") == "head")
        key = f"{head['metadata']['namespace']}/{head['metadata']['name']}"
        async with PortForward(key, DASHBOARD_PORT) as dashboard:
            address = f"http://127.0.0.1:{dashboard.local_port}"
            say(f"Ray dashboard: {address}  (forwarded from {key}:{DASHBOARD_PORT})")
            say(f"Submit a job from this machine:\n  {how_to_submit(address)}")
            say()
            say(f"{self._elapsed()}  submitting a job that needs more workers than the cluster has")
            code = await submit_job(address, say)
            if code != 0:
                raise DemoError(f"the Ray job failed (ray job submit exited {code})")
            say(f"{self._elapsed()}  the Ray job succeeded")
            if self.options.exit_when_ready:
                return
            name = cluster["metadata"]["name"]
            say(f"idle workers go after the sample's idleTimeoutSeconds; follow it here or in {name}'s spec")
            await asyncio.Event().wait()

    def print_failure_logs(self, error: BaseException) -> None:
        """The end of every log that explains `error`, while the working directory still holds them."""
        failed_log = error.log_path if isinstance(error, ControlPlaneError) else None
        if failed_log is not None:
            print_log_tail(f"the {failed_log.stem} log", failed_log)
        if self.operator.proc is not None:
            print_log_tail("the operator log", self.operator.log_path)

    async def teardown(self) -> None:
        """Stop the operator, then the control plane, and remove the working directory."""
        say("stopping the operator and the control plane")
        try:
            await self._blocking(self.operator.stop)
            await self._blocking(self.plane.stop)
            await self._blocking(lambda: shutil.rmtree(self.workdir, ignore_errors=True))
        finally:
            self._thread.shutdown(wait=True)
        say(f"stopped; removed {self.workdir}")


async def run_demo(options: DemoOptions) -> int:
    """Run the demo until it is interrupted (or ready, with `exit_when_ready`); returns the exit status."""
    if options.ray and os.geteuid() != 0:
        print("kuberay-py demo: --ray runs pods in namespaces of their own: it needs root", file=sys.stderr)
        return 1
    if not options.sample.is_file():
        print(f"kuberay-py demo: sample not found: {options.sample} (pass --sample)", file=sys.stderr)
        return 1
    try:
        demo = Demo(options)
    except BinariesError as exc:
        print(f"kuberay-py demo: {exc}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[signal.Signals] = []

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            say("still shutting down; it takes a few seconds")
            return
        say(f"\n{sig.name} received: shutting down")
        received.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    work = asyncio.create_task(demo.run())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        work.cancel()
        await asyncio.wait({work})  # not `await work`: that would raise its error here, unreported
        # Interrupted: the normal end once the cluster was shown, else 128 + signal. A terminal's Ctrl-C also
        # reaches the operator, whose exit must not then count as a failure.
        if received or work.cancelled():
            return 0 if demo.ready_at is not None else 128 + received[0].value
        error = work.exception()
        if error is None:
            return 0
        known = isinstance(error, DemoError | ControlPlaneError | BinariesError | PKIError)
        if known:
            print(f"kuberay-py demo: {headline(error)}", file=sys.stderr)
        demo.print_failure_logs(error)  # before teardown removes them
        if not known:
            raise error
        return 1
    finally:
        stopped.cancel()
        await demo.teardown()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
