"""Hypothesis strategies for valid RayCluster manifests, with the overrides users write most.

Every manifest they draw passes `validate_manifest`; the builders must turn each into objects the API server
accepts.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import strategies as st

CLUSTER_NAMES = st.one_of(
    st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True),
    # The longest name a RayCluster may have.
    st.from_regex(r"[a-z][-a-z0-9]{51}[a-z0-9]", fullmatch=True),
)
GROUP_NAMES = st.one_of(
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9][-a-z0-9]{61}[a-z0-9]", fullmatch=True),
).filter(lambda name: name != "headgroup")
LABEL_VALUES = st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?)?", fullmatch=True)


@st.composite
def cpu_quantities(draw: st.DrawFn, most_millis: int = 16_000) -> tuple[int, Any]:
    """A CPU amount in millicores and one way of writing it."""
    millis = draw(st.integers(100, most_millis))
    forms: list[Any] = [f"{millis}m", f"{millis / 1000:g}"]
    if millis % 1000 == 0:
        forms += [str(millis // 1000), millis // 1000]
    return millis, draw(st.sampled_from(forms))


@st.composite
def memory_quantities(draw: st.DrawFn, most_mib: int = 65_536) -> tuple[int, Any]:
    """A memory amount in bytes and one way of writing it."""
    mib = draw(st.integers(64, most_mib))
    size = mib * 1024 * 1024
    forms: list[Any] = [f"{mib}Mi", str(size), size, f"{size}e0", f"{mib * 1024}Ki"]
    if mib % 1024 == 0:
        forms.append(f"{mib // 1024}Gi")
    if size % 1_000_000 == 0:
        forms += [f"{size // 1_000_000}M", f"{size // 1_000_000}e6"]
    return size, draw(st.sampled_from(forms))


@st.composite
def container_resources(draw: st.DrawFn) -> dict[str, Any]:
    """Requests no larger than limits, as the API server requires; sometimes a GPU."""
    resources: dict[str, Any] = {}
    if draw(st.booleans()):
        cpu_millis, cpu = draw(cpu_quantities())
        memory_bytes, memory = draw(memory_quantities())
        resources["limits"] = {"cpu": cpu, "memory": memory}
        if draw(st.booleans()):
            _, smaller_cpu = draw(cpu_quantities(most_millis=cpu_millis))
            _, smaller_memory = draw(memory_quantities(most_mib=max(64, memory_bytes // (1024 * 1024))))
            resources["requests"] = {"cpu": smaller_cpu, "memory": smaller_memory}
    else:
        _, cpu = draw(cpu_quantities())
        resources["requests"] = {"cpu": cpu}
    if draw(st.booleans()):
        gpus = str(draw(st.integers(1, 4)))
        resources.setdefault("limits", {})["nvidia.com/gpu"] = gpus
    return resources


@st.composite
def ray_containers(draw: st.DrawFn, head: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Ray container and the volumes it needs, with some of the overrides users write."""
    container: dict[str, Any] = {
        "name": draw(st.sampled_from(["ray-head" if head else "ray-worker", "ray", "autoscaler"])),
        "image": draw(st.sampled_from(["rayproject/ray:2.60.0", "rayproject/ray:2.40.0-py311"])),
        "resources": draw(container_resources()),
    }
    volumes: list[dict[str, Any]] = []
    if draw(st.booleans()):
        container["env"] = [
            {"name": "RAY_ADDRESS", "value": "auto"},
            {"name": "MY_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ][: draw(st.integers(1, 2))]
    if draw(st.booleans()):
        container["readinessProbe"] = {"exec": {"command": ["ray", "status"]}, "failureThreshold": 3}
    if draw(st.booleans()):
        container["volumeMounts"] = [{"name": "shared-mem", "mountPath": "/dev/shm"}]
        volumes.append({"name": "shared-mem", "emptyDir": {"medium": "Memory"}})
    elif draw(st.booleans()):
        # A volume that takes the name the operator would give /dev/shm.
        container["volumeMounts"] = [{"name": "shared-mem", "mountPath": "/data"}]
        volumes.append({"name": "shared-mem", "emptyDir": {}})
    if draw(st.booleans()):
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    command = draw(st.sampled_from(["none", "setup", "ray-start"]))
    if command == "setup":
        container["command"] = ["echo"]
        container["args"] = ["ready"]
    elif command == "ray-start":
        container["command"] = ["/bin/bash", "-c"]
        container["args"] = ["ray start --block" + (" --head" if head else " --address=$RAY_ADDRESS")]
    if head and draw(st.booleans()):
        container["ports"] = [
            {"name": "gcs-server", "containerPort": 6379},
            {"name": "dashboard", "containerPort": 8265},
        ]
    return container, volumes


@st.composite
def templates(draw: st.DrawFn, head: bool) -> dict[str, Any]:
    ray, volumes = draw(ray_containers(head))
    spec: dict[str, Any] = {"containers": [ray]}
    if draw(st.booleans()):
        spec["containers"].append({"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "inf"]})
    if volumes:
        spec["volumes"] = volumes
    template: dict[str, Any] = {"spec": spec}
    if draw(st.booleans()):
        labels = {"team": draw(LABEL_VALUES)}
        if draw(st.booleans()):
            labels.update(
                {"ray.io/cluster": "someone-else", "ray.io/group": "other", "ray.io/node-type": "x"}
            )
        template["metadata"] = {"labels": labels, "annotations": {"example.com/note": "anything at all"}}
    return template


@st.composite
def group_fields(draw: st.DrawFn, head: bool) -> dict[str, Any]:
    """Template, rayStartParams, resources and labels; resources and labels set in one place only."""
    group: dict[str, Any] = {"template": draw(templates(head))}
    params: dict[str, str] = {}
    if draw(st.booleans()):
        group["resources"] = draw(
            st.fixed_dictionaries(
                {}, optional={"CPU": st.just("2"), "memory": st.just("3Gi"), "TPU": st.just("4")}
            )
        )
    elif draw(st.booleans()):
        params["num-cpus"] = draw(st.sampled_from(["0", "1", "3"]))
    if draw(st.booleans()):
        group["labels"] = {"example.com/tier": draw(LABEL_VALUES)}
    params.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "object-store-memory": st.just("100000000"),
                    "log-style": st.just("record"),
                    "include-dashboard": st.sampled_from(["true", "false"]),
                    "block": st.just("true"),
                },
            )
        )
    )
    keep_empty = draw(st.booleans())
    if params or keep_empty:
        group["rayStartParams"] = params
    return group


@st.composite
def worker_groups(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(GROUP_NAMES, max_size=3, unique=True))
    groups = []
    for name in names:
        low = draw(st.integers(0, 3))
        high = draw(st.integers(low, 10))
        group = {
            "groupName": name,
            "replicas": draw(st.integers(0, 12)),
            "minReplicas": low,
            "maxReplicas": high,
            "numOfHosts": draw(st.sampled_from([1, 1, 2, 3])),
            **draw(group_fields(head=False)),
        }
        groups.append(group)
    return groups


@st.composite
def autoscaler_options(draw: st.DrawFn) -> dict[str, Any]:
    return draw(
        st.fixed_dictionaries(
            {},
            optional={
                "image": st.just("rayproject/ray:2.60.0"),
                "imagePullPolicy": st.sampled_from(["Always", "IfNotPresent", "Never"]),
                "version": st.sampled_from(["v1", "v2"]),
                "idleTimeoutSeconds": st.integers(0, 600),
                "upscalingMode": st.sampled_from(["Default", "Aggressive", "Conservative"]),
                "resources": st.just({"requests": {"cpu": "250m"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
                "env": st.just([{"name": "AUTOSCALER_LOG_LEVEL", "value": "DEBUG"}]),
                "securityContext": st.just({"allowPrivilegeEscalation": False}),
            },
        )
    )


@st.composite
def rayclusters(draw: st.DrawFn, namespace: str) -> dict[str, Any]:
    """A RayCluster manifest in `namespace` that the API server and the controller accept."""
    metadata: dict[str, Any] = {"name": draw(CLUSTER_NAMES), "namespace": namespace}
    if draw(st.booleans()):
        metadata["uid"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    if draw(st.booleans()):
        metadata["annotations"] = {"ray.io/overwrite-container-cmd": draw(st.sampled_from(["true", "false"]))}
    head = draw(group_fields(head=True))
    head["serviceType"] = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))
    spec: dict[str, Any] = {"headGroupSpec": head}
    version = draw(st.sampled_from(["2.60.0", "2.50.1", "2.40.0", None]))
    if version is not None:
        spec["rayVersion"] = version
    spec["workerGroupSpecs"] = draw(worker_groups())
    if draw(st.booleans()):
        spec["enableInTreeAutoscaling"] = True
        spec["autoscalerOptions"] = draw(autoscaler_options())
        if draw(st.booleans()):
            head["template"]["spec"]["serviceAccountName"] = "own-autoscaler"
    if draw(st.booleans()):
        spec["headServiceAnnotations"] = {"example.com/owner": "ml"}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": metadata, "spec": spec}
