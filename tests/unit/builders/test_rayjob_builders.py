"""What the RayJob controller creates, built from a RayJob: its cluster, the submitter Job and its shell line,
and HTTPMode's request body."""

import shlex
from typing import Any

from kuberay_py.api.rayjob import RayJob
from kuberay_py.builders.rayjob import (
    build_job_cluster,
    build_submitter_job,
    dashboard_port,
    new_cluster_name,
    submit_command,
    submit_request,
)
from tests.invalid_rayjobs import JOB_BASE


def job(**spec: Any) -> RayJob:
    manifest = {
        **JOB_BASE,
        "metadata": {"name": "demo", "namespace": "ns", "uid": "u-1", "labels": {"team": "ml"}},
    }
    return RayJob.from_manifest({**manifest, "spec": {**JOB_BASE["spec"], **spec}})


def test_the_cluster_is_the_job_s_spec_owned_by_the_job() -> None:
    cluster = build_job_cluster(job(), "demo-abcde")
    meta = cluster["metadata"]
    assert (meta["name"], meta["namespace"]) == ("demo-abcde", "ns")
    assert meta["labels"] == {
        "team": "ml",
        "ray.io/originated-from-cr-name": "demo",
        "ray.io/originated-from-crd": "RayJob",
    }
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "RayJob",
        "demo",
        "u-1",
        True,
    )
    assert cluster["spec"] == JOB_BASE["spec"]["rayClusterSpec"]


def test_names_are_the_job_s_plus_five_random_characters() -> None:
    names = {new_cluster_name(job()) for _ in range(20)}
    assert len(names) == 20 and all(n.startswith("demo-") and len(n) == len("demo-") + 5 for n in names)


def test_the_submit_line_submits_only_an_unknown_id_then_follows_the_logs() -> None:
    line = submit_command(
        job(runtimeEnvYAML="env_vars:\n  A: 'b c'\n", entrypointNumCpus=1, entrypointResources='{"x": 1}'),
        "demo-xyz12",
        "demo-abcde-head-svc.ns.svc.cluster.local:8265",
    )
    url = "http://demo-abcde-head-svc.ns.svc.cluster.local:8265"
    assert line.startswith(
        f"if ! ray job status --address {url} demo-xyz12 >/dev/null 2>&1 ; then ray job submit"
    )
    assert line.endswith(f"; fi ; ray job logs --address {url} --follow demo-xyz12")
    words = shlex.split(line.split(" ; then ", 1)[1].split(" ; fi ;")[0])
    assert words[words.index("--runtime-env-json") + 1] == '{"env_vars":{"A":"b c"}}'
    assert words[words.index("--submission-id") + 1] == "demo-xyz12"
    assert words[words.index("--entrypoint-num-cpus") + 1] == "1.000000"
    assert words[words.index("--entrypoint-resources") + 1] == '{"x": 1}'
    assert "--no-wait" in words and words[-3:] == ["--", "python", "my_script.py"]


def test_the_submitter_job_defaults_and_a_user_template() -> None:
    spec = job().spec.ray_cluster_spec
    assert spec is not None
    default = build_submitter_job(job(), spec, "demo-xyz12", "head:8265")
    pod = default["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert default["spec"]["backoffLimit"] == 2 and pod["restartPolicy"] == "Never"
    assert container["image"] == "rayproject/ray:2.60.0" and container["command"] == [
        "/bin/bash",
        "-ce",
        "--",
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "PYTHONUNBUFFERED": "1",
        "RAY_DASHBOARD_ADDRESS": "head:8265",
        "RAY_JOB_SUBMISSION_ID": "demo-xyz12",
    }
    own = job(
        submitterPodTemplate={
            "spec": {"containers": [{"name": "mine", "image": "me", "command": ["/submit"]}]}
        },
        submitterConfig={"backoffLimit": 0},
    )
    custom = build_submitter_job(own, spec, "demo-xyz12", "head:8265")
    (mine,) = custom["spec"]["template"]["spec"]["containers"]
    assert mine["command"] == ["/submit"] and "args" not in mine, "a command of the user's is kept"
    assert custom["spec"]["backoffLimit"] == 0
    assert {e["name"] for e in mine["env"]} >= {"RAY_DASHBOARD_ADDRESS", "RAY_JOB_SUBMISSION_ID"}


def test_http_mode_sends_what_ray_job_submit_would() -> None:
    body = submit_request(
        job(runtimeEnvYAML="pip: [requests]", metadata={"owner": "ml"}, entrypointNumGpus=0.5), "demo-xyz12"
    )
    assert body == {
        "entrypoint": "python my_script.py",
        "submission_id": "demo-xyz12",
        "runtime_env": {"pip": ["requests"]},
        "metadata": {"owner": "ml"},
        "entrypoint_num_gpus": 0.5,
    }


def test_the_dashboard_port_is_the_head_s_named_port() -> None:
    spec = job().spec.ray_cluster_spec
    assert spec is not None and dashboard_port(spec) == 8265
    spec.head_group_spec.template["spec"]["containers"][0]["ports"] = [
        {"name": "dashboard", "containerPort": 9000}
    ]
    assert dashboard_port(spec) == 9000
