"""Installing the operator the way a platform engineer would, against the real API server: `kubectl apply -k
config/default` is accepted, and the operator running with the ServiceAccount token that config/rbac binds
(not the admin's credentials) has every permission it needs, and no more than it needs to stay in bounds.

Each test runs its own operator process, and never two at once, so no namespace has two operators."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.jobserver import JobServer
from kuberay_py.testing.operator_process import OperatorProcess
from tests.integration.install_support import (
    CONFIG,
    INSTALL_NAMESPACE,
    OPERATOR,
    SAMPLES,
    Obj,
    apply,
    deployment_settings,
    ensure_crd,
    find,
    kustomize,
    manager_container,
    new_namespace,
    renamespace,
)
from tests.waiting import blocking, eventually


@pytest.fixture(scope="module")
def installed(control_plane: ControlPlane) -> Iterator[list[Obj]]:
    """config/default applied with `kubectl apply -k`; afterwards its namespace and cluster-wide RBAC go
    (the CRD stays: the whole session shares it)."""
    ensure_crd(control_plane)
    control_plane.kubectl("apply", "-k", str(CONFIG / "default"))
    yield kustomize(CONFIG / "default")
    control_plane.kubectl("delete", "namespace", INSTALL_NAMESPACE, "--timeout=120s")
    control_plane.kubectl("delete", "clusterrolebinding,clusterrole", OPERATOR, "--ignore-not-found")


@pytest.fixture
def namespaces(control_plane: ControlPlane) -> Iterator[list[str]]:
    """Namespaces a test creates, deleted after it."""
    created: list[str] = []
    yield created
    for name in created:
        control_plane.kubectl("delete", "namespace", name, "--wait=false")


def get(plane: ControlPlane, kind: str, name: str, namespace: str | None = None) -> Obj:
    where = ["-n", namespace] if namespace else []
    result: Obj = json.loads(plane.kubectl("get", kind, name, *where, "-o", "json").stdout)
    return result


def wait_ready(plane: ControlPlane, namespace: str, name: str, timeout: float = 90) -> Obj:
    def ready() -> Obj | None:
        cluster = get(plane, "raycluster", name, namespace)
        return cluster if (cluster.get("status") or {}).get("state") == "ready" else None

    cluster: Obj = blocking(eventually(ready, timeout=timeout, what=f"RayCluster {namespace}/{name} ready"))
    return cluster


def condition(cluster: Obj, kind: str) -> dict[str, Any] | None:
    return next((c for c in (cluster.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def events(plane: ControlPlane, namespace: str) -> list[Obj]:
    out = plane.kubectl("get", "events.events.k8s.io", "-n", namespace, "-o", "json").stdout
    items: list[Obj] = json.loads(out)["items"]
    return items


def start_operator(
    kubeconfig: Path, log: Path, args: list[str], env: dict[str, str] | None = None
) -> OperatorProcess:
    process = OperatorProcess(kubeconfig, log, extra_args=args, env=env)
    process.start()
    return process


def forbidden_records(process: OperatorProcess) -> list[dict[str, object]]:
    return [r for r in process.log_records() if "forbidden" in json.dumps(r).lower()]


def test_kustomize_install_is_accepted(control_plane: ControlPlane, installed: list[Obj]) -> None:
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in installed)
    assert kinds == [
        "ClusterRole/kuberay-py-operator",
        "ClusterRoleBinding/kuberay-py-operator",
        "CustomResourceDefinition/rayclusters.ray.io",
        "CustomResourceDefinition/rayjobs.ray.io",
        "Deployment/kuberay-py-operator",
        "Namespace/kuberay-system",
        "Role/kuberay-py-leader-election",
        "RoleBinding/kuberay-py-leader-election",
        "Service/kuberay-py-operator-metrics",
        "ServiceAccount/kuberay-py-operator",
    ]
    for obj in installed:
        stored = get(control_plane, obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        assert stored["metadata"].get("namespace") == obj["metadata"].get("namespace")

    deployment = get(control_plane, "deployment", OPERATOR, INSTALL_NAMESPACE)
    pod = deployment["spec"]["template"]["spec"]
    container = manager_container(deployment)
    assert pod["serviceAccountName"] == OPERATOR
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["args"] == ["operator", "--leader-elect", "--metrics-addr=:8080", "--health-addr=:8081"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health", "scheme": "HTTP"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health", "scheme": "HTTP"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 8080, "health": 8081}
    assert set(container["resources"]) == {"requests", "limits"}
    service = get(control_plane, "service", f"{OPERATOR}-metrics", INSTALL_NAMESPACE)
    assert service["spec"]["ports"][0]["name"] == "metrics"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # The ReplicaSet can create the pod: the ServiceAccount exists and the pod spec is admitted.
    control_plane.kubectl(
        "rollout", "status", f"deployment/{OPERATOR}", "-n", INSTALL_NAMESPACE, "--timeout=90s"
    )


def test_service_account_reconciles_samples_in_all_namespaces(
    control_plane: ControlPlane, installed: list[Obj], namespaces: list[str], tmp_path: Path
) -> None:
    """The operator as the Deployment runs it (its args and environment), with the ServiceAccount's token."""
    kubeconfig = control_plane.serviceaccount_kubeconfig(INSTALL_NAMESPACE, OPERATOR)
    args, env = deployment_settings(find(installed, "Deployment", OPERATOR), INSTALL_NAMESPACE)
    assert "--leader-elect" in args
    namespace = new_namespace(control_plane, "install")
    namespaces.append(namespace)
    operator = start_operator(kubeconfig, tmp_path / "operator.log", args, env)
    try:
        blocking(
            eventually(
                lambda: 'leader_election_master_status{name="kuberay-py-operator"} 1.0' in operator.metrics(),
                what="leadership",
            )
        )
        lease = get(control_plane, "lease", OPERATOR, INSTALL_NAMESPACE)
        assert lease["spec"]["holderIdentity"].startswith(env["POD_NAME"])

        for sample in ("ray-cluster.heterogeneous.yaml", "ray-cluster.autoscaler.yaml"):
            control_plane.kubectl("create", "-n", namespace, "-f", str(SAMPLES / sample))
        heterogeneous = wait_ready(control_plane, namespace, "raycluster-heterogeneous")
        autoscaler = wait_ready(control_plane, namespace, "raycluster-autoscaler")
        assert heterogeneous["status"]["readyWorkerReplicas"] == 4
        assert condition(autoscaler, "ReplicaFailure") is None

        # The autoscaler's Role could be created without `escalate`: the operator holds its rules.
        role = get(control_plane, "role", "raycluster-autoscaler", namespace)
        assert {r["resources"][0]: r["verbs"] for r in role["rules"]} == {
            "pods": ["get", "list", "watch", "patch"],
            "pods/resize": ["patch"],
            "rayclusters": ["get", "patch"],
        }
        binding = get(control_plane, "rolebinding", "raycluster-autoscaler", namespace)
        assert binding["subjects"][0]["name"] == "raycluster-autoscaler"
        get(control_plane, "serviceaccount", "raycluster-autoscaler", namespace)

        # Events are written in the clusters' namespace (events.k8s.io create, under the ClusterRole).
        blocking(
            eventually(
                lambda: (
                    {
                        e["regarding"]["name"]
                        for e in events(control_plane, namespace)
                        if e["reason"] == "CreatedHeadPod"
                    }
                    == {"raycluster-heterogeneous", "raycluster-autoscaler"}
                ),
                what="CreatedHeadPod events for both clusters",
            )
        )
        assert forbidden_records(operator) == []
        assert operator.proc is not None and operator.proc.poll() is None
    finally:
        code = operator.stop()
    assert code == 0, operator.log_tail()
    # A clean stop gives the lease up, so a standby need not wait for it to expire.
    assert get(control_plane, "lease", OPERATOR, INSTALL_NAMESPACE)["spec"].get("holderIdentity", "") == ""


async def test_service_account_runs_a_rayjob_to_its_deletion(
    control_plane: ControlPlane, installed: list[Obj], namespaces: list[str], tmp_path: Path
) -> None:
    """Every write of a RayJob's life under config/rbac's rules: the finalizer and status patches, the
    cluster and submitter creates, the deletion rules' DeleteCluster and DeleteSelf."""
    kubeconfig = control_plane.serviceaccount_kubeconfig(INSTALL_NAMESPACE, OPERATOR)
    args, env = deployment_settings(find(installed, "Deployment", OPERATOR), INSTALL_NAMESPACE)
    namespace = new_namespace(control_plane, "install-job")
    namespaces.append(namespace)
    rules = [
        {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 0}},
        {"policy": "DeleteSelf", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": 3}},
    ]
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "installed", "namespace": namespace},
        "spec": {
            "entrypoint": "echo under the operator account; exit 0",
            "deletionStrategy": {"deletionRules": rules},
            "rayClusterSpec": yaml_cluster_spec(),
        },
    }

    def kubectl(*args: str) -> str:
        return str(control_plane.kubectl(*args).stdout)

    operator = start_operator(
        kubeconfig, tmp_path / "operator.log", [*args, "--ray-dashboard-address=pod-ip"], env
    )
    try:
        async with JobServer(control_plane.kubeconfig):
            await asyncio.to_thread(lambda: control_plane.kubectl("create", "-f", "-", input=json.dumps(job)))

            async def gone() -> bool:
                out = await asyncio.to_thread(
                    kubectl, "get", "rayjobs,rayclusters", "-n", namespace, "-o", "name"
                )
                return out.strip() == ""

            try:
                await eventually(gone, timeout=120, what="the RayJob and its cluster deleted by their rules")
            except AssertionError:
                print(kubectl("get", "rayjobs,rayclusters,jobs,pods", "-n", namespace, "-o", "yaml"))
                raise

            async def reported() -> list[Obj] | None:
                found = await asyncio.to_thread(events, control_plane, namespace)
                job_events = [e for e in found if e["regarding"]["kind"] == "RayJob"]
                reasons = {e["reason"] for e in job_events}
                wanted = {"CreatedRayCluster", "CreatedRayJobSubmitter", "DeletedRayCluster", "DeletedRayJob"}
                return job_events if wanted <= reasons else None

            job_events = await eventually(reported, timeout=30, what="the RayJob's Events")
        assert any(e.get("note", "").startswith("Running -> Complete") for e in job_events), job_events
        assert forbidden_records(operator) == []
    finally:
        code = operator.stop()
    assert code == 0, operator.log_tail()


def yaml_cluster_spec() -> Obj:
    """The mini sample's cluster, as a RayJob's rayClusterSpec."""
    cluster: Obj = yaml.safe_load((SAMPLES / "ray-cluster.mini.yaml").read_text())
    return {"rayVersion": "2.60.0", **cluster["spec"]}


def _without_pod_create(rules: list[Obj]) -> list[Obj]:
    trimmed = []
    for rule in rules:
        if rule["resources"] == ["pods"] and "create" in rule["verbs"]:
            rule = {**rule, "verbs": [v for v in rule["verbs"] if v != "create"]}
        trimmed.append(rule)
    return trimmed


def test_missing_pod_create_permission_is_reported_and_survived(
    control_plane: ControlPlane, namespaces: list[str], tmp_path: Path
) -> None:
    """The namespaced Role without `create pods`: a condition, a Warning Event, one log line per attempt, and
    an operator that keeps running, and recovers once the permission is granted."""
    ensure_crd(control_plane)
    namespace = new_namespace(control_plane, "no-pods")
    namespaces.append(namespace)
    account = "limited-operator"
    control_plane.kubectl("create", "serviceaccount", account, "-n", namespace)
    rbac = renamespace(kustomize(CONFIG / "rbac" / "namespaced"), {"ray": namespace})
    role = find(rbac, "Role", OPERATOR)
    full_rules = role["rules"]
    role["rules"] = _without_pod_create(full_rules)
    binding = find(rbac, "RoleBinding", OPERATOR)
    binding["subjects"] = [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    apply(control_plane, [role, binding])
    kubeconfig = control_plane.serviceaccount_kubeconfig(namespace, account)

    operator = start_operator(kubeconfig, tmp_path / "operator.log", [f"--namespace={namespace}"])
    try:
        control_plane.kubectl("create", "-n", namespace, "-f", str(SAMPLES / "ray-cluster.mini.yaml"))

        def failed() -> Obj | None:
            cluster = get(control_plane, "raycluster", "raycluster-mini", namespace)
            found = condition(cluster, "ReplicaFailure")
            return found if found and found["status"] == "True" else None

        failure = blocking(eventually(failed, what="the ReplicaFailure condition"))
        assert failure["reason"] == "FailedCreateHeadPod"
        assert "Failed to create head Pod" in failure["message"] and "forbidden" in failure["message"]

        warnings = blocking(
            eventually(
                lambda: [
                    e
                    for e in events(control_plane, namespace)
                    if e["type"] == "Warning" and e["reason"] == "FailedToCreateHeadPod"
                ],
                what="a Warning Event",
            )
        )
        assert warnings[0]["regarding"]["name"] == "raycluster-mini"
        assert "forbidden" in warnings[0]["note"]

        # One structured line per failed attempt, never a traceback: every line of the log is a JSON record.
        lines = operator.log_path.read_text().splitlines()
        assert len(operator.log_records()) == len(lines)
        reports = [r for r in operator.log_records() if r.get("event") == "writing owned objects failed"]
        assert reports and all(
            r["reason"] == "FailedToCreateHeadPod" and r["level"] == "warning" for r in reports
        )
        assert all("exception" not in r for r in operator.log_records())
        assert operator.proc is not None and operator.proc.poll() is None
        assert operator.get("/readyz", operator.health_port) == "ok"
        assert control_plane.kubectl("get", "pods", "-n", namespace, "-o", "name").stdout == ""

        # Granting the permission is all it takes: the retries pick it up.
        role["rules"] = full_rules
        apply(control_plane, [role])
        recovered = wait_ready(control_plane, namespace, "raycluster-mini")
        assert condition(recovered, "ReplicaFailure") is None
    finally:
        code = operator.stop()
    assert code == 0, operator.log_tail()


def test_single_namespace_mode_with_only_the_role(
    control_plane: ControlPlane, namespaces: list[str], tmp_path: Path
) -> None:
    """config/single-namespace, installed in a namespace of its own and watching another: clusters there
    become ready; clusters elsewhere are left alone, and the operator never even tries to reach them."""
    ensure_crd(control_plane)
    watched = new_namespace(control_plane, "watched")
    elsewhere = new_namespace(control_plane, "elsewhere")
    install = f"kuberay-single-{watched.rsplit('-', 1)[1]}"
    namespaces.extend([watched, elsewhere, install])
    rendered = kustomize(CONFIG / "single-namespace")
    assert not [o for o in rendered if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    deployment = find(rendered, "Deployment", OPERATOR)
    watched_in_render = find(rendered, "Role", OPERATOR)["metadata"]["namespace"]
    args, env = deployment_settings(deployment, install)
    assert env["KUBERAY_PY_NAMESPACE"] == watched_in_render  # kustomize carried the Role's namespace over
    env["KUBERAY_PY_NAMESPACE"] = watched

    objects = renamespace(rendered, {INSTALL_NAMESPACE: install, watched_in_render: watched})
    apply(control_plane, [o for o in objects if o["kind"] != "CustomResourceDefinition"])
    assert find(objects, "Role", OPERATOR)["metadata"]["namespace"] == watched
    kubeconfig = control_plane.serviceaccount_kubeconfig(install, OPERATOR)

    operator = start_operator(kubeconfig, tmp_path / "operator.log", args, env)
    try:
        for namespace in (watched, elsewhere):
            control_plane.kubectl("create", "-n", namespace, "-f", str(SAMPLES / "ray-cluster.mini.yaml"))
        wait_ready(control_plane, watched, "raycluster-mini")
        assert len(control_plane.kubectl("get", "pods", "-n", watched, "-o", "name").stdout.split()) == 1

        # Another cluster coming up in the watched namespace gives the operator time to misbehave elsewhere.
        control_plane.kubectl("create", "-n", watched, "-f", str(SAMPLES / "ray-cluster.heterogeneous.yaml"))
        wait_ready(control_plane, watched, "raycluster-heterogeneous")
        assert control_plane.kubectl("get", "pods,services", "-n", elsewhere, "-o", "name").stdout == ""
        assert "status" not in get(control_plane, "raycluster", "raycluster-mini", elsewhere)
        assert forbidden_records(operator) == []
        lease = get(control_plane, "lease", OPERATOR, install)
        assert lease["spec"]["holderIdentity"].startswith(env["POD_NAME"])
    finally:
        code = operator.stop()
    assert code == 0, operator.log_tail()
