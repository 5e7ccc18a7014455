"""A real, local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
the simulated kubelet, all on loopback with free ports and one temporary directory.

Used three ways: as a pytest fixture (start/stop in one process), by `hack/control-plane up|down|env`
(processes detached, state kept in a well-known directory), and by `kuberay-py demo`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kuberay_py.testing.binaries import Binaries, ensure_binaries, find_kubectl
from kuberay_py.testing.pki import KeyPair, LocalPKI, create_local_pki

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# The controllers a cluster user relies on: cascading deletion, namespaces, default ServiceAccounts and their
# CA ConfigMap, Deployments for the smoke test, and Jobs (the Redis cleanup of fault-tolerant clusters). Node
# lifecycle is left out: the kubelet owns the nodes.
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
    "pod-garbage-collector-controller",
    "job-controller",
)
# Service addresses, for the process kubelet's cluster DNS; only where that kubelet runs, since it adds load.
PROCESS_KUBELET_CONTROLLERS = ("endpointslice-controller",)
STATE_FILE = "state.json"
# "simulated": statuses only, for scale; "process": one Node whose pods run as real processes (needs root).
KUBELET_KINDS = ("simulated", "process")
COMPONENT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")


class ControlPlaneError(RuntimeError):
    """A component failed to start; the message names it and points at its log, `log_path` when known."""

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def default_state_dir() -> Path:
    """Where `hack/control-plane up` keeps its state so that `env` and `down` find it."""
    base = os.environ.get("KUBERAY_PY_CONTROL_PLANE_DIR")
    if base:
        return Path(base)
    return Path(tempfile.gettempdir()) / f"kuberay-py-control-plane-{os.getuid()}"


def die_with_parent() -> None:
    """Children of a test run must not outlive it, even if it is killed: ask Linux to SIGTERM them."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Ports:
    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    controller_manager: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)


class ControlPlane:
    """`start()` blocks until every component is ready, `stop()` ends them all; also a context manager."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        nodes: int = 4,
        kubelet: bool = True,
        kubelet_kind: str = "simulated",
        kubelet_args: Sequence[str] = (),
        detach: bool = False,
        log: Callable[[str], None] | None = None,
        keep_failed: bool = False,
    ) -> None:
        """`keep_failed`: a failed `start()` stops every process but leaves the directory, logs included, for
        the caller to read before its own `stop()` removes it."""
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kuberay-py-cp-"))
        self.keep_failed = keep_failed
        self.nodes = nodes
        self.run_kubelet = kubelet
        if kubelet_kind not in KUBELET_KINDS:
            raise ValueError(f"kubelet_kind must be one of {KUBELET_KINDS}, not {kubelet_kind!r}")
        self.kubelet_kind = kubelet_kind
        if kubelet_kind == "process":
            self.nodes = 1
        self.kubelet_args = list(kubelet_args)
        self.detach = detach
        self._log = log or (lambda message: print(message, file=sys.stderr))
        self.ports = Ports()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.pids: dict[str, int] = {}
        self._pki: LocalPKI | None = None
        self._binaries: Binaries | None = None
        self._kubectl = find_kubectl()
        self.startup_seconds = 0.0

    # -- paths ---------------------------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "ca.crt"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def pki(self) -> LocalPKI:
        if self._pki is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._pki

    # -- lifecycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> None:
        began = time.monotonic()
        try:
            self._binaries = ensure_binaries()
            built = time.monotonic()
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._pki = create_local_pki(self.workdir / "pki")
            for attempt in range(1, attempts + 1):
                try:
                    self._start_components()
                    break
                except ControlPlaneError as exc:
                    # A free port can be taken by another process between our probe and the bind; another
                    # set of ports almost always works. Anything else fails the same way again.
                    if attempt == attempts or not self._lost_a_port():
                        raise
                    self._log(f"control plane start failed ({exc}); retrying with other ports")
                    self.stop(remove=False)
                    shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
                    self.ports = Ports()
        except BaseException:
            self.stop(remove=not self.keep_failed)
            raise
        self.startup_seconds = time.monotonic() - built
        self._log(
            f"control plane ready in {self.startup_seconds:.1f}s "
            f"(binaries {built - began:.1f}s); KUBECONFIG={self.kubeconfig}"
        )

    def _start_components(self) -> None:
        self._write_kubeconfig(self.kubeconfig)
        self._start_etcd()
        self._start_apiserver()
        self._start_controller_manager_and_scheduler()
        self._wait_healthz("kube-controller-manager", self.ports.controller_manager)
        self._wait_healthz("kube-scheduler", self.ports.scheduler)
        if self.run_kubelet:
            self._start_kubelet()
            self._wait_nodes_ready()
        self._wait_default_service_account()
        self._save_state()

    def _lost_a_port(self) -> bool:
        """Whether a component's log says its port was already in use."""
        for log in self.log_dir.glob("*.log"):
            text = log.read_text(errors="replace")
            if "address already in use" in text.lower():
                log.rename(log.with_suffix(f".{int(time.time() * 1000)}.failed"))
                return True
        return False

    def stop(self, remove: bool = True) -> None:
        """Stop every process this control plane started (newest first) and remove its directory."""
        for name in reversed(COMPONENT_ORDER):
            # The process kubelet stops real processes and removes namespaces before it exits.
            self._stop_component(name, timeout=60.0 if name == "kubelet" else 10.0)
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port and etcd; blocks until it is ready."""
        self._stop_component("kube-apiserver")
        self._start_apiserver()
        self._save_state()

    # -- components ----------------------------------------------------------------------------------------
    def _spawn(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        log_file: IO[bytes] = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            list(args),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env=env,
            start_new_session=True,
            preexec_fn=None if self.detach else die_with_parent,
        )
        log_file.close()
        self.processes[name] = proc
        self.pids[name] = proc.pid

    def _stop_component(self, name: str, timeout: float = 10.0) -> None:
        pid = self.pids.pop(name, None)
        proc = self.processes.pop(name, None)
        if pid is None or not _is_ours(pid, self.workdir):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid, proc):
            time.sleep(0.05)
        if _alive(pid, proc):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while _alive(pid, proc):
                time.sleep(0.05)

    def _check_running(self, name: str) -> None:
        proc = self.processes.get(name)
        if proc is not None and proc.poll() is not None:
            log = self.log_dir / f"{name}.log"
            raise ControlPlaneError(
                f"{name} exited with code {proc.returncode}; last log lines:\n{log_tail(log)}", log
            )

    def _start_etcd(self) -> None:
        assert self._binaries is not None
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        client = f"http://127.0.0.1:{self.ports.etcd_client}"
        self._spawn(
            "etcd",
            [
                str(self._binaries.etcd),
                "--name=local",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=local={peer}",
                "--log-level=warn",
                # Test data is disposable: skipping fsync makes the API server several times faster here.
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=8589934592",
            ],
        )
        self._wait_http("etcd", f"{client}/health", lambda url: _get(url, None) is not None)

    def _start_apiserver(self) -> None:
        assert self._binaries is not None
        pki = self.pki
        self._spawn(
            "kube-apiserver",
            [
                str(self._binaries.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.ports.apiserver}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki.serving.cert}",
                f"--tls-private-key-file={pki.serving.key}",
                f"--client-ca-file={pki.ca.cert}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The `kubernetes` Service's endpoints would have to be a loopback address, which the API
                # rejects; nothing in this cluster reaches the API server through that Service anyway.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
                "--max-requests-inflight=800",
                "--max-mutating-requests-inflight=400",
                "--event-ttl=1h",
                # On SIGTERM, end open watches after this grace instead of waiting out the request timeout
                # (60 s) for them; otherwise restart_apiserver() always ran into its SIGKILL fallback.
                "--shutdown-watch-termination-grace-period=2s",
            ],
        )
        self._wait_http("kube-apiserver", f"{self.server}/readyz", self._admin_get)

    def _start_controller_manager_and_scheduler(self) -> None:
        """Both work through the API server with the admin's kubeconfig, each as its only instance (so without
        leader election), and serve their health checks on loopback with certificates of their own."""
        assert self._binaries is not None
        components = [
            (
                "kube-controller-manager",
                self._binaries.kube_controller_manager,
                self.ports.controller_manager,
                [
                    f"--controllers={','.join(self._controllers())}",
                    f"--root-ca-file={self.pki.ca.cert}",
                    "--concurrent-gc-syncs=10",
                    "--kube-api-qps=200",
                    "--kube-api-burst=400",
                ],
            ),
            (
                "kube-scheduler",
                self._binaries.kube_scheduler,
                self.ports.scheduler,
                ["--kube-api-qps=500", "--kube-api-burst=1000"],
            ),
        ]
        for name, binary, port, flags in components:
            certs = self.workdir / f"{name.removeprefix('kube-')}-certs"
            self._spawn(
                name,
                [
                    str(binary),
                    f"--kubeconfig={self.kubeconfig}",
                    "--leader-elect=false",
                    "--bind-address=127.0.0.1",
                    f"--secure-port={port}",
                    f"--cert-dir={certs}",
                    *flags,
                ],
            )

    def _controllers(self) -> tuple[str, ...]:
        extra = PROCESS_KUBELET_CONTROLLERS if self.kubelet_kind == "process" else ()
        return CONTROLLERS + extra

    def _start_kubelet(self) -> None:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        if self.kubelet_kind == "process":
            args = ["kuberay_py.testing.prockubelet", f"--log-dir={self.log_dir}"]
        else:
            args = ["kuberay_py.testing.kubelet", f"--nodes={self.nodes}"]
        command = [sys.executable, "-m", args[0], f"--kubeconfig={self.kubeconfig}", *args[1:]]
        self._spawn("kubelet", [*command, *self.kubelet_args], env=env)

    # -- readiness -----------------------------------------------------------------------------------------
    def _admin_ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        ctx.load_cert_chain(str(self.pki.admin.cert), str(self.pki.admin.key))
        return ctx

    def _admin_get(self, url: str) -> bool:
        return _get(url, self._admin_ssl()) == b"ok"

    def _wait_http(self, name: str, url: str, probe: Callable[[str], bool], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running(name)
            if probe(url):
                return
            time.sleep(0.1)
        log = self.log_dir / f"{name}.log"
        raise ControlPlaneError(f"{name} not ready after {timeout:.0f}s; see {log}", log)

    def _wait_healthz(self, name: str, port: int) -> None:
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        self._wait_http(name, f"https://127.0.0.1:{port}/healthz", lambda url: _get(url, insecure) == b"ok")

    def _wait_nodes_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running("kubelet")
            body = _get(f"{self.server}/api/v1/nodes", self._admin_ssl())
            if body is not None:
                ready = sum(
                    1
                    for node in json.loads(body).get("items", [])
                    if any(
                        c.get("type") == "Ready" and c.get("status") == "True"
                        for c in node.get("status", {}).get("conditions", [])
                    )
                )
                if ready >= self.nodes:
                    return
            time.sleep(0.1)
        raise ControlPlaneError(
            f"kubelet nodes not Ready after {timeout:.0f}s; see {self.log_dir}",
            self.log_dir / "kubelet.log",
        )

    def _wait_default_service_account(self, timeout: float = 60.0) -> None:
        # Pods are refused until the default ServiceAccount exists, so this marks the cluster usable.
        url = f"{self.server}/api/v1/namespaces/default/serviceaccounts/default"
        self._wait_http(
            "kube-controller-manager", url, lambda u: _get(u, self._admin_ssl()) is not None, timeout
        )

    # -- clients -------------------------------------------------------------------------------------------
    def _write_kubeconfig(self, path: Path, user: dict[str, Any] | None = None, name: str = "admin") -> None:
        user = user or client_cert_user(self.pki.admin)
        write_kubeconfig(path, server=self.server, ca_file=self.ca_file, user=user, name=name)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl as the cluster admin; raises with kubectl's own message when `check` and it fails."""
        proc = subprocess.run(
            [self._kubectl, f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def serviceaccount_kubeconfig(self, namespace: str, name: str, path: Path | None = None) -> Path:
        """A kubeconfig that authenticates as the ServiceAccount `namespace/name` with a fresh bound token."""
        token = self.kubectl("create", "token", name, "-n", namespace, "--duration=24h").stdout.strip()
        path = path or self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        self._write_kubeconfig(path, {"token": token}, name=f"{namespace}-{name}")
        return path

    # -- detached state (hack/control-plane) ---------------------------------------------------------------
    def _save_state(self) -> None:
        state = {"pids": self.pids, "kubeconfig": str(self.kubeconfig), "server": self.server}
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @classmethod
    def attach(cls, workdir: Path) -> ControlPlane:
        """The control plane a detached `up` left running in `workdir` (for `down` and `env`)."""
        state = json.loads((workdir / STATE_FILE).read_text())
        plane = cls(workdir, detach=True)
        plane.pids = {name: int(pid) for name, pid in state["pids"].items()}
        plane.ports.apiserver = int(state["server"].rsplit(":", 1)[1])
        return plane


def client_cert_user(pair: KeyPair) -> dict[str, Any]:
    """A kubeconfig user that authenticates with a client certificate."""
    return {"client-certificate": str(pair.cert), "client-key": str(pair.key)}


def write_kubeconfig(
    path: Path, *, server: str, ca_file: Path, user: dict[str, Any], name: str = "admin"
) -> None:
    """A one-cluster, one-user kubeconfig (readable by its owner only: it holds credentials)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": name}}],
        "current-context": "local",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def _get(url: str, context: ssl.SSLContext | None) -> bytes | None:
    try:
        with urllib.request.urlopen(url, context=context, timeout=2) as response:
            body: bytes = response.read()
            return body
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError, OSError):
        return None


def _alive(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    return process_alive(pid)


def process_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie left for a parent that never reaps it counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie of a detached child reaped by nobody still answers kill(0); its state says it is gone.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return False


def _is_ours(pid: int, workdir: Path) -> bool:
    """Guard against a recycled pid: only signal a process whose command line mentions our directory."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return str(workdir) in cmdline


def last_lines(path: Path, count: int, max_bytes: int = 256 * 1024) -> list[str]:
    """The last `count` lines of a file, reading only its end: a long-running process's log can be large."""
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - max_bytes))
        lines = file.read().decode(errors="replace").splitlines()
    if size > max_bytes:
        lines = lines[1:]  # most likely cut in the middle
    return lines[-count:]


def log_tail(path: Path, lines: int = 20) -> str:
    """The end of a log for an error message; "(no log)" when there is none to read."""
    try:
        return "\n".join(last_lines(path, lines))
    except OSError:
        return "(no log)"
