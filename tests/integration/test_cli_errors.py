"""`kuberay-py operator` on problems a user can fix: each gives one line on stderr and a non-zero exit status,
never a traceback. The servers are real: the shared control plane, and one without the CRD."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kuberay_py.testing.controlplane import ControlPlane, free_port
from tests.integration.install_support import cli, ensure_crd, new_namespace

QUIET = ("--metrics-addr=0", "--health-addr=0")


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *expected: str) -> str:
    assert proc.returncode != 0, f"exit status 0; stdout={proc.stdout!r} stderr={proc.stderr!r}"
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{proc.stderr}"
    line = lines[0]
    assert line.startswith("kuberay-py operator: "), line
    assert "Traceback" not in line
    for text in expected:
        assert text in line, f"{text!r} not in {line!r}"
    return line


@pytest.fixture(scope="module")
def bare_plane() -> Iterator[ControlPlane]:
    """A control plane of its own, without the RayCluster CRD (the shared one has it installed)."""
    with ControlPlane(kubelet=False) as plane:
        yield plane


@pytest.fixture(scope="module")
def rbac_namespace(control_plane: ControlPlane) -> Iterator[str]:
    ensure_crd(control_plane)
    namespace = new_namespace(control_plane, "cli-errors")
    yield namespace
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false")


# What the operator lists and watches, as `kubectl create role --resource` takes it.
WATCHED = "rayclusters.ray.io,rayjobs.ray.io,pods,services,serviceaccounts,roles,rolebindings,jobs.batch"


def list_watch(*, but: str | None = None) -> tuple[str, str]:
    """The rule to list and watch everything the operator watches, or everything `but` one resource."""
    return ("list,watch", ",".join(r for r in WATCHED.split(",") if r != but))


def operator_as(
    plane: ControlPlane, namespace: str, account: str, *rules: tuple[str, str], options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`kuberay-py operator --namespace=<namespace> <options>`, acting as a new ServiceAccount bound to one
    Role per (verbs, resources) rule."""
    plane.kubectl("create", "serviceaccount", account, "-n", namespace)
    for index, (verbs, resources) in enumerate(rules):
        role = f"{account}-{index}"
        plane.kubectl("create", "role", role, "-n", namespace, f"--verb={verbs}", f"--resource={resources}")
        plane.kubectl(
            "create", "rolebinding", role, "-n", namespace, f"--role={role}",
            f"--serviceaccount={namespace}:{account}",
        )  # fmt: skip
    kubeconfig = plane.serviceaccount_kubeconfig(namespace, account)
    return cli("operator", f"--kubeconfig={kubeconfig}", f"--namespace={namespace}", *options, *QUIET)


def test_missing_kubeconfig_file() -> None:
    proc = cli("operator", "--kubeconfig=/nonexistent/kubeconfig", *QUIET)
    assert_one_line_error(proc, "kubeconfig not found: /nonexistent/kubeconfig")


def test_no_kubeconfig_anywhere(tmp_path: Path) -> None:
    proc = cli("operator", *QUIET, env={"HOME": str(tmp_path)})
    assert_one_line_error(proc, "no kubeconfig", "--kubeconfig", "KUBECONFIG")


def test_kubeconfig_from_environment_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "gone.kubeconfig"
    proc = cli("operator", *QUIET, env={"KUBERAY_PY_KUBECONFIG": str(missing)})
    assert_one_line_error(proc, f"kubeconfig not found: {missing}")


def test_unreachable_api_server(tmp_path: Path) -> None:
    port = free_port()  # bound and released at once: nothing listens there
    kubeconfig = tmp_path / "closed-port.kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "closed",
                        "cluster": {"server": f"https://127.0.0.1:{port}", "insecure-skip-tls-verify": True},
                    }
                ],
                "users": [{"name": "someone", "user": {"token": "not-checked"}}],
                "contexts": [{"name": "closed", "context": {"cluster": "closed", "user": "someone"}}],
                "current-context": "closed",
            }
        )
    )
    proc = cli("operator", f"--kubeconfig={kubeconfig}", *QUIET)
    assert_one_line_error(proc, "cannot reach the Kubernetes API server", str(kubeconfig))


def test_crd_not_installed(bare_plane: ControlPlane) -> None:
    proc = cli("operator", f"--kubeconfig={bare_plane.kubeconfig}", *QUIET)
    assert_one_line_error(proc, "RayCluster CRD (rayclusters.ray.io) is not installed", "kuberay-py crd")


def test_crd_not_installed_in_single_namespace_mode(bare_plane: ControlPlane) -> None:
    proc = cli("operator", f"--kubeconfig={bare_plane.kubeconfig}", "--namespace=default", *QUIET)
    assert_one_line_error(proc, "RayCluster CRD (rayclusters.ray.io) is not installed")


def test_service_account_without_any_binding(control_plane: ControlPlane, rbac_namespace: str) -> None:
    control_plane.kubectl("create", "serviceaccount", "nobody", "-n", rbac_namespace)
    kubeconfig = control_plane.serviceaccount_kubeconfig(rbac_namespace, "nobody")
    proc = cli("operator", f"--kubeconfig={kubeconfig}", *QUIET)
    line = assert_one_line_error(
        proc,
        f"missing permissions for system:serviceaccount:{rbac_namespace}:nobody: list, watch ",
        "config/rbac",
    )
    missing = line.split(":nobody: list, watch ", 1)[1].split(" in all namespaces (", 1)[0]
    assert set(missing.split(", ")) == {
        "rayclusters.ray.io",
        "pods",
        "services",
        "serviceaccounts",
        "roles.rbac.authorization.k8s.io",
        "rolebindings.rbac.authorization.k8s.io",
        "jobs.batch",
        "rayjobs.ray.io",
    }
    assert "leases" not in line  # no leader election asked for


def test_service_account_missing_one_permission(control_plane: ControlPlane, rbac_namespace: str) -> None:
    """Everything but `watch services` in the namespace: the line names exactly what is missing."""
    account = "almost"
    rules = (list_watch(but="services"), ("list", "services"))
    proc = operator_as(control_plane, rbac_namespace, account, *rules)
    line = assert_one_line_error(
        proc, f"missing permissions for system:serviceaccount:{rbac_namespace}:{account}"
    )
    assert line.split(": ", 2)[2].startswith(f"watch services in namespace {rbac_namespace} ("), line


def test_leader_election_without_lease_permission(control_plane: ControlPlane, rbac_namespace: str) -> None:
    """The operator's own rules but no leader-election Role: it would wait for a lease forever; it says so."""
    account = "no-lease"
    leader_election = ("--leader-elect", f"--leader-election-namespace={rbac_namespace}")
    proc = operator_as(control_plane, rbac_namespace, account, list_watch(), options=leader_election)
    assert_one_line_error(
        proc,
        f"create leases.coordination.k8s.io in namespace {rbac_namespace}",
        f"get, update leases.coordination.k8s.io kuberay-py-operator in namespace {rbac_namespace}",
    )


def test_metrics_port_taken(control_plane: ControlPlane) -> None:
    """Found only once the operator has started logging: its log lines, then the one error line."""
    ensure_crd(control_plane)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = cli(
            "operator", f"--kubeconfig={control_plane.kubeconfig}", f"--metrics-addr=127.0.0.1:{port}",
            "--health-addr=0", "--namespace=default",
        )  # fmt: skip
    assert proc.returncode == 1
    *logs, last = proc.stderr.splitlines()
    assert [json.loads(line)["level"] for line in logs] == ["info"] * len(logs)  # JSON log records only
    assert last.startswith("kuberay-py operator: cannot serve the metrics and health endpoints"), last
    assert str(port) in last and "address already in use" in last


def test_more_than_one_namespace() -> None:
    proc = cli("operator", "--namespace=a", "--namespace=b", *QUIET)
    assert_one_line_error(proc, "watch one --namespace, or all namespaces")


def test_bad_setting_from_the_environment_is_a_usage_error() -> None:
    proc = cli("operator", *QUIET, env={"KUBERAY_PY_WORKERS": "many"})
    assert proc.returncode == 2
    assert "argument --workers: expected a whole number of at least 1, got 'many'" in proc.stderr
    assert "Traceback" not in proc.stderr
