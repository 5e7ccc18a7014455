"""The autoscaler sidecar of the head pod and the RBAC objects it runs with."""

from __future__ import annotations

from typing import Any

from kuberay_py.builders import (
    build_autoscaler_role,
    build_autoscaler_role_binding,
    build_autoscaler_service_account,
    build_head_pod,
    render_cluster,
)
from tests.unit.builders.support import container, env_of, manifest, parse, ray_container, worker


def _autoscaled(**options: Any) -> dict[str, Any]:
    return manifest(workers=[worker()], enableInTreeAutoscaling=True, autoscalerOptions=options or None)


def _sidecar(pod: dict[str, Any]) -> dict[str, Any]:
    sidecars = [c for c in pod["spec"]["containers"] if c["name"] == "autoscaler"]
    assert len(sidecars) == 1
    sidecar: dict[str, Any] = sidecars[0]
    return sidecar


def test_no_sidecar_or_service_account_without_autoscaling() -> None:
    pod = build_head_pod(parse(manifest(workers=[worker()])))
    assert [c["name"] for c in pod["spec"]["containers"]] == ["ray-head"]
    assert "serviceAccountName" not in pod["spec"]
    assert [obj["kind"] for obj in render_cluster(parse(manifest(workers=[worker()])))] == [
        "Service",
        "Pod",
        "Pod",
    ]


def test_sidecar_defaults() -> None:
    raw = _autoscaled()
    del raw["spec"]["autoscalerOptions"]
    pod = build_head_pod(parse(raw))
    sidecar = _sidecar(pod)
    assert sidecar["image"] == ray_container(pod)["image"]
    assert sidecar["imagePullPolicy"] == "IfNotPresent"
    assert sidecar["command"] == ["/bin/bash", "-c", "--"]
    assert sidecar["args"] == [
        "ray kuberay-autoscaler --cluster-name $(RAY_CLUSTER_NAME) "
        "--cluster-namespace $(RAY_CLUSTER_NAMESPACE)"
    ]
    assert env_of(sidecar) == {
        "RAY_CLUSTER_NAME": {"fieldRef": {"fieldPath": "metadata.labels['ray.io/cluster']"}},
        "RAY_CLUSTER_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        "RAY_HEAD_POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
        "KUBERAY_CRD_VER": "v1",
    }
    assert sidecar["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "500m", "memory": "512Mi"},
    }
    assert pod["spec"]["serviceAccountName"] == "demo"


TOKEN_MOUNT = {
    "name": "kube-api-access",
    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
    "readOnly": True,
}


def test_only_the_sidecar_gets_the_service_account_token() -> None:
    pod = build_head_pod(parse(_autoscaled()))
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert TOKEN_MOUNT not in ray_container(pod).get("volumeMounts", [])
    assert TOKEN_MOUNT in _sidecar(pod)["volumeMounts"]
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "kube-api-access")
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"


def test_a_template_that_chooses_token_mounting_itself_is_left_alone() -> None:
    raw = _autoscaled()
    raw["spec"]["headGroupSpec"]["template"]["spec"]["automountServiceAccountToken"] = True
    pod = build_head_pod(parse(raw))
    assert pod["spec"]["automountServiceAccountToken"] is True
    assert TOKEN_MOUNT not in _sidecar(pod)["volumeMounts"]


def test_sidecar_shares_tmp_ray_with_the_ray_container() -> None:
    pod = build_head_pod(parse(_autoscaled()))
    logs = {"name": "ray-logs", "mountPath": "/tmp/ray"}
    assert logs in ray_container(pod)["volumeMounts"]
    assert _sidecar(pod)["volumeMounts"] == [logs, TOKEN_MOUNT]
    assert {"name": "ray-logs", "emptyDir": {}} in pod["spec"]["volumes"]


def test_sidecar_reuses_the_ray_containers_own_tmp_ray_volume() -> None:
    raw = _autoscaled()
    head_spec = raw["spec"]["headGroupSpec"]["template"]["spec"]
    head_spec["containers"][0]["volumeMounts"] = [{"name": "logs", "mountPath": "/tmp/ray"}]
    head_spec["volumes"] = [{"name": "logs", "hostPath": {"path": "/var/log/ray"}}]
    pod = build_head_pod(parse(raw))
    assert _sidecar(pod)["volumeMounts"] == [{"name": "logs", "mountPath": "/tmp/ray"}, TOKEN_MOUNT]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["logs", "shared-mem", "kube-api-access"]


def test_autoscaler_options_shape_the_sidecar() -> None:
    options = {
        "image": "my/autoscaler:1",
        "imagePullPolicy": "Always",
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "env": [{"name": "RAY_CLUSTER_NAME", "value": "overridden"}, {"name": "LOG", "value": "debug"}],
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
        "volumeMounts": [{"name": "tls", "mountPath": "/etc/tls"}],
        "securityContext": {"runAsNonRoot": True},
    }
    sidecar = _sidecar(build_head_pod(parse(_autoscaled(**options))))
    assert sidecar["image"] == "my/autoscaler:1"
    assert sidecar["imagePullPolicy"] == "Always"
    assert sidecar["resources"] == options["resources"]
    env = env_of(sidecar)
    assert env["RAY_CLUSTER_NAME"] == "overridden" and env["LOG"] == "debug"
    assert env["KUBERAY_CRD_VER"] == "v1"
    assert sidecar["envFrom"] == options["envFrom"]
    assert sidecar["volumeMounts"][1:-1] == options["volumeMounts"]
    assert sidecar["securityContext"] == {"runAsNonRoot": True}


def test_an_empty_security_context_or_resources_is_kept_as_given() -> None:
    sidecar = _sidecar(build_head_pod(parse(_autoscaled(securityContext={}, resources={}))))
    assert sidecar["securityContext"] == {} and sidecar["resources"] == {}
    sidecar = _sidecar(build_head_pod(parse(_autoscaled(securityContext=None))))
    assert "securityContext" not in sidecar
    assert sidecar["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}


def test_autoscaler_command_and_args_replace_the_defaults() -> None:
    sidecar = _sidecar(build_head_pod(parse(_autoscaled(command=["my-autoscaler"]))))
    assert (sidecar["command"], sidecar["args"]) == (["my-autoscaler"], [])
    sidecar = _sidecar(build_head_pod(parse(_autoscaled(args=["ray kuberay-autoscaler --help"]))))
    assert (sidecar["command"], sidecar["args"]) == (
        ["/bin/bash", "-c", "--"],
        ["ray kuberay-autoscaler --help"],
    )


def test_a_user_container_named_autoscaler_keeps_its_name() -> None:
    raw = _autoscaled()
    raw["spec"]["headGroupSpec"]["template"]["spec"]["containers"].append(container("autoscaler"))
    names = [c["name"] for c in build_head_pod(parse(raw))["spec"]["containers"]]
    assert names == ["ray-head", "autoscaler", "autoscaler-2"]


def test_role_rules_are_exactly_what_the_autoscaler_needs() -> None:
    role = build_autoscaler_role(parse(_autoscaled()))
    assert role["apiVersion"] == "rbac.authorization.k8s.io/v1" and role["kind"] == "Role"
    assert role["metadata"]["name"] == "demo" and role["metadata"]["namespace"] == "ml"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
        {"apiGroups": [""], "resources": ["pods/resize"], "verbs": ["patch"]},
        {"apiGroups": ["ray.io"], "resources": ["rayclusters"], "verbs": ["get", "patch"]},
    ]


def test_service_account_and_binding() -> None:
    raw = _autoscaled()
    raw["metadata"]["uid"] = "0b6f1f9e-0000-4000-8000-000000000001"
    cluster = parse(raw)
    account = build_autoscaler_service_account(cluster)
    assert account is not None
    assert account["kind"] == "ServiceAccount" and account["metadata"]["name"] == "demo"
    binding = build_autoscaler_role_binding(cluster)
    assert binding["metadata"]["name"] == "demo"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "demo"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo", "namespace": "ml"}]
    for obj in (account, binding, build_autoscaler_role(cluster)):
        assert obj["metadata"]["labels"]["ray.io/cluster"] == "demo"
        assert obj["metadata"]["ownerReferences"][0]["uid"] == raw["metadata"]["uid"]


def test_the_templates_own_service_account_is_used_not_created() -> None:
    raw = _autoscaled()
    raw["spec"]["headGroupSpec"]["template"]["spec"]["serviceAccountName"] = "team-sa"
    cluster = parse(raw)
    assert build_head_pod(cluster)["spec"]["serviceAccountName"] == "team-sa"
    assert build_autoscaler_service_account(cluster) is None
    assert build_autoscaler_role_binding(cluster)["subjects"][0]["name"] == "team-sa"
    kinds = [obj["kind"] for obj in render_cluster(cluster)]
    assert kinds == ["Role", "RoleBinding", "Service", "Pod", "Pod"]


def test_render_order_with_autoscaling() -> None:
    kinds = [obj["kind"] for obj in render_cluster(parse(_autoscaled()))]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "Service", "Pod", "Pod"]
