"""One benchmark case's world: a fresh local control plane with the simulated kubelet, the RayCluster CRD
(and the RayJob CRD when a case asks), the operator as its own process, and a client of our own runtime for
the benchmark's reads and writes."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from benchmarks.manifests import raycluster, rayjob
from benchmarks.metrics import Scrape
from benchmarks.procfs import cpu_seconds, machine_busy_seconds, own_cpu_seconds
from benchmarks.writes import admit_operator, issue_operator_identity
from kuberay_py.controllers.raycluster import RAYCLUSTERS
from kuberay_py.controllers.rayjob import RAYJOBS
from kuberay_py.runtime import KubeClient, connect
from kuberay_py.testing.binaries import KubeRay
from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import KubeRayProcess, OperatorProcess
from kuberay_py.testing.pki import KeyPair

REPO = Path(__file__).resolve().parents[1]
CRD = REPO / "config" / "crd" / "ray.io_rayclusters.yaml"
JOB_CRD = REPO / "config" / "crd" / "ray.io_rayjobs.yaml"
# 25 nodes x 250 pods holds the largest case (5,000 pods) with room to spare; pods request 10m CPU and 32Mi.
NODES = 25
PODS_PER_NODE = 250
WARM_UP_NAMESPACE = "kube-public"


class Operators:
    """The operators a case can run against: ours, KubeRay's at its defaults, and KubeRay tuned (as many
    reconciles at once as ours runs workers, and its client's rate limit raised to match ours)."""

    OURS = "kuberay-py"
    KUBERAY = "KubeRay"
    KUBERAY_TUNED = "KubeRay tuned"
    NONE = "none"
    """No operator acts: the plain-client reference."""
    ALL = (OURS, KUBERAY, KUBERAY_TUNED)


KUBERAY_TUNED_ARGS = ("--reconcile-concurrency=16", "--qps=1000", "--burst=2000")


@dataclass(frozen=True)
class StackOptions:
    """What a case needs of its stack beyond the default (the RayCluster CRD, the operator as the admin)."""

    rayjobs: bool = False
    """Install our RayJob CRD too (KubeRay's CRDs always include theirs) and warm RayJob writes up."""
    operator_identity: bool = False
    """Run the operator under a client certificate of its own, so that its requests can be counted apart
    from everyone else's (see benchmarks.writes)."""
    dashboards_refused: bool = False
    """Every plain-HTTP request of the operator (its calls to Ray dashboards) goes to an HTTP proxy on a
    loopback port where nothing listens, so it is refused at once. No dashboard runs on a simulated kubelet
    anyway; without this, each call first looks up the head Service's DNS name on the host's resolver, which
    answers most lookups at once but leaves some unanswered until they time out, and a call holding a
    worker that long is a cost of the machine, not of the operator. Both operators honour HTTP_PROXY (ours
    through aiohttp, KubeRay through Go's default transport); their API server is HTTPS on loopback, which
    neither proxies."""


class Stack:
    """Use as `async with Stack(...) as stack:`; everything it started is stopped on exit."""

    def __init__(
        self,
        log_dir: Path,
        name: str,
        operator: str = Operators.OURS,
        kuberay: KubeRay | None = None,
        options: StackOptions | None = None,
    ) -> None:
        if operator in (Operators.KUBERAY, Operators.KUBERAY_TUNED) and kuberay is None:
            raise ValueError(f"{operator} needs KubeRay's binary")
        self.log_dir = log_dir
        self.name = name
        self.operator_kind = operator
        self.kuberay = kuberay
        self.options = options or StackOptions()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.plane = ControlPlane(
            nodes=NODES, kubelet_args=[f"--pods-per-node={PODS_PER_NODE}"], log=lambda _message: None
        )
        self.operator: OperatorProcess | None = None
        # The operator's own kubeconfig and certificate, with `StackOptions.operator_identity`.
        self.operator_kubeconfig: Path | None = None
        self.operator_cert: KeyPair | None = None
        # Bound but never listening: connections to it are refused, and no one else can take the port.
        self._refusing: socket.socket | None = None
        self._client: KubeClient | None = None
        self._restarts = 0
        self._retired_operator_cpu = 0.0
        # CPU of control-plane processes replaced by a restart, so a case's totals include them.
        self._retired_component_cpu: dict[str, float] = {}
        # Final scrapes of operator processes already stopped, so a case's totals include them.
        self.retired_scrapes: list[Scrape] = []

    async def __aenter__(self) -> Stack:
        await asyncio.to_thread(self.plane.start)
        try:
            await asyncio.to_thread(self._install_crd)
            self._client = await connect(self.plane.kubeconfig)
            if self.options.operator_identity:
                kubeconfig, cert = await asyncio.to_thread(
                    issue_operator_identity, self.plane, self.plane.workdir / "operator-identity"
                )
                await admit_operator(self.client, self.plane, cert)
                self.operator_kubeconfig, self.operator_cert = kubeconfig, cert
            await self._warm_up()
            await self.start_operator()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.close()
        await asyncio.to_thread(self._stop_operator)
        await asyncio.to_thread(self.plane.stop)
        if self._refusing is not None:
            self._refusing.close()

    @property
    def client(self) -> KubeClient:
        assert self._client is not None, "the stack is not running"
        return self._client

    def _install_crd(self) -> None:
        """Each operator with its own CRDs: KubeRay's needs its RayJob and RayService CRDs too."""
        ours = [CRD, JOB_CRD] if self.options.rayjobs else [CRD]
        crds = self.kuberay.crds if self.kuberay and self.operator_kind != Operators.OURS else ours
        for crd in crds:
            # Server-side: KubeRay's CRDs are too large for the annotation a client-side apply writes.
            self.plane.kubectl("apply", "--server-side", "-f", str(crd))
        wait = ("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        for _ in range(10):
            # Right after the create, a loaded API server may still answer that the CRD is not found.
            if self.plane.kubectl(*wait, check=False).returncode == 0:
                return
            time.sleep(1.0)
        self.plane.kubectl(*wait)

    async def _warm_up(self) -> None:
        """Create and delete one RayCluster before the operator starts. A fresh API server's first write of
        a RayCluster usually takes about 2 s (a later one, milliseconds), which would land in the first
        case's timing; a long-running cluster paid it long ago. The same for a RayJob, when the case has
        them."""
        name = "warm-up"
        await self.client.create(RAYCLUSTERS, raycluster(name, 0), WARM_UP_NAMESPACE)
        await self.client.delete(RAYCLUSTERS, name, WARM_UP_NAMESPACE)
        if self.options.rayjobs:
            await self.client.create(RAYJOBS, rayjob(name), WARM_UP_NAMESPACE)
            await self.client.delete(RAYJOBS, name, WARM_UP_NAMESPACE)

    # -- the operator --------------------------------------------------------------------------------------
    async def start_operator(self, kubeconfig: Path | None = None) -> None:
        """Start the operator, talking to the API server directly or through `kubeconfig` (a proxy's)."""
        if self.operator is not None:
            raise RuntimeError("an operator is already running on this stack; two would fight over every pod")
        suffix = f"-{self._restarts}" if self._restarts else ""
        log_path = self.log_dir / f"operator-{self.name}{suffix}.log"
        config = kubeconfig or self.operator_kubeconfig or self.plane.kubeconfig
        env = self._operator_env()
        if self.operator_kind == Operators.OURS or self.kuberay is None:
            self.operator = OperatorProcess(config, log_path, env=env)
        else:
            tuned = KUBERAY_TUNED_ARGS if self.operator_kind == Operators.KUBERAY_TUNED else ()
            self.operator = KubeRayProcess(self.kuberay.binary, config, log_path, extra_args=tuned, env=env)
        await asyncio.to_thread(self.operator.start)

    def _operator_env(self) -> dict[str, str] | None:
        if not self.options.dashboards_refused:
            return None
        if self._refusing is None:
            self._refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._refusing.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{self._refusing.getsockname()[1]}"
        direct = "127.0.0.1,localhost"
        return {"HTTP_PROXY": proxy, "http_proxy": proxy, "NO_PROXY": direct, "no_proxy": direct}

    async def restart_operator(self, kubeconfig: Path | None = None) -> None:
        await asyncio.to_thread(self._stop_operator)
        self._restarts += 1
        await self.start_operator(kubeconfig)

    async def restart_apiserver(self) -> None:
        """Restart kube-apiserver, keeping the CPU the old process spent in the stack's totals."""
        name = "kube-apiserver"
        spent = cpu_seconds(self.plane.pids[name])
        await asyncio.to_thread(self.plane.restart_apiserver)
        self._retired_component_cpu[name] = self._retired_component_cpu.get(name, 0.0) + spent

    async def kill_operator(self) -> None:
        """SIGKILL the operator, as a crash would: no scrape, no clean shutdown."""
        assert self.operator is not None and self.operator.pid is not None, "the operator is not running"
        self._retired_operator_cpu += cpu_seconds(self.operator.pid)
        await asyncio.to_thread(self.operator.kill)
        self.operator = None
        self._restarts += 1

    def _stop_operator(self) -> None:
        if self.operator is None:
            return
        text = self.operator.metrics()
        if text:
            self.retired_scrapes.append(Scrape.parse(text))
        if self.operator.pid is not None:
            self._retired_operator_cpu += cpu_seconds(self.operator.pid)
        self.operator.stop()
        self.operator = None

    @property
    def operator_pid(self) -> int:
        assert self.operator is not None and self.operator.pid is not None, "the operator is not running"
        return self.operator.pid

    async def operator_metrics(self) -> Scrape:
        assert self.operator is not None, "the operator is not running"
        text = await asyncio.to_thread(self.operator.metrics)
        if not text:
            raise RuntimeError(f"the operator's /metrics did not answer:\n{self.operator.log_tail()}")
        return Scrape.parse(text)

    # -- the API server ------------------------------------------------------------------------------------
    def _admin_get(self, path: str) -> bytes:
        pki = self.plane.pki
        context = ssl.create_default_context(cafile=str(pki.ca.cert))
        context.load_cert_chain(str(pki.admin.cert), str(pki.admin.key))
        with urllib.request.urlopen(self.plane.server + path, context=context, timeout=30) as response:
            body: bytes = response.read()
            return body

    async def apiserver_metrics(self) -> Scrape:
        """The API server's own /metrics (the admin certificate may read it)."""
        return Scrape.parse((await asyncio.to_thread(self._admin_get, "/metrics")).decode())

    async def kubernetes_version(self) -> str:
        body = await asyncio.to_thread(self._admin_get, "/version")
        return str(json.loads(body).get("gitVersion", "unknown"))

    # -- CPU accounting ------------------------------------------------------------------------------------
    def cpu_snapshot(self) -> dict[str, float]:
        """CPU seconds so far of every process in play, the benchmark itself included."""
        snapshot = {
            name: self._retired_component_cpu.get(name, 0.0) + cpu_seconds(pid)
            for name, pid in self.plane.pids.items()
        }
        running = self.operator.pid if self.operator is not None else None
        # Every operator process of this stack counts, so a restart does not lose the CPU spent before it.
        snapshot["operator"] = self._retired_operator_cpu + (cpu_seconds(running) if running else 0.0)
        snapshot["benchmark"] = own_cpu_seconds()
        return snapshot


class CpuMeter:
    """CPU seconds each process of a stack spent between `start()` and `stop()`, the wall time, and what
    the rest of the machine used meanwhile ("other": busy CPU time not spent by any of these processes)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._start: dict[str, float] = {}
        self._busy = 0.0
        self._wall = 0.0

    def start(self) -> None:
        self._start = self.stack.cpu_snapshot()
        self._busy = machine_busy_seconds()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        end = self.stack.cpu_snapshot()
        used = {name: value - self._start.get(name, 0.0) for name, value in end.items()}
        used["other"] = max(0.0, machine_busy_seconds() - self._busy - sum(used.values()))
        used["wall"] = time.monotonic() - self._wall
        return {name: round(value, 2) for name, value in used.items()}
