"""Every field without an exact equivalent gives a warning line that names it: nothing is lost silently."""

from __future__ import annotations

import pytest

from kuberay_py.legacy.convert import upscaling_mode
from tests.unit.legacy.support import convert, converted, example, minimal_pod, values, warnings_about

LEFT_OUT = "has no equivalent and is left out"
SETUP_ADVICE = "bake these commands into the image, or run them in an init container"


def test_setup_commands_of_a_type_of_all_heads_and_of_all_workers() -> None:
    document = example()
    document["spec"]["podTypes"][1]["setupCommands"] = ["pip install  torch", "mkdir -p /data"]
    document["spec"]["headSetupCommands"] = ["echo head"]
    document["spec"]["workerSetupCommands"] = ["echo worker"]
    warnings = convert(document).warnings
    commands = "pip install torch; mkdir -p /data"
    assert f"spec.podTypes[1].setupCommands: {LEFT_OUT} ({commands}): {SETUP_ADVICE}" in warnings
    assert (
        f"spec.headSetupCommands: has no equivalent and is left out (echo head): {SETUP_ADVICE}" in warnings
    )
    assert (
        f"spec.workerSetupCommands: has no equivalent and is left out (echo worker): {SETUP_ADVICE}"
        in warnings
    )
    assert "setupCommands" not in str(converted(document))


def test_empty_setup_commands_say_nothing() -> None:
    document = example()
    document["spec"]["podTypes"][1]["setupCommands"] = []
    assert warnings_about(document, "spec.podTypes[1].setupCommands") == []


@pytest.mark.parametrize(
    ("speed", "mode"),
    [(0.1, "Conservative"), (2.5, "Conservative"), (30, "Conservative"), (40, "Default"), (5000, "Default")],
)
def test_upscaling_speed_becomes_the_nearest_mode_with_a_warning(speed: float, mode: str) -> None:
    document = example()
    document["spec"]["upscalingSpeed"] = speed
    assert converted(document)["spec"]["autoscalerOptions"]["upscalingMode"] == mode
    (warning,) = warnings_about(document, "spec.upscalingSpeed")
    assert warning.startswith(
        f"spec.upscalingSpeed: {speed:g} has no equivalent; upscalingMode {mode} is the nearest"
    )


@pytest.mark.parametrize("speed", [1, 1.0, 1000, None])
def test_upscaling_speeds_a_mode_matches_exactly_say_nothing(speed: float | None) -> None:
    document = example()
    if speed is None:
        del document["spec"]["upscalingSpeed"]  # the legacy default, Conservative's speed
    else:
        document["spec"]["upscalingSpeed"] = speed
    expected = "Default" if speed == 1000 else "Conservative"
    assert converted(document)["spec"]["autoscalerOptions"]["upscalingMode"] == expected
    assert warnings_about(document, "spec.upscalingSpeed") == []


def test_the_nearest_mode_is_by_ratio() -> None:
    assert upscaling_mode(31) == "Conservative"
    assert upscaling_mode(32) == "Default"


def test_idle_timeout_in_seconds() -> None:
    document = example()
    document["spec"]["idleTimeoutMinutes"] = 10
    assert converted(document)["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] == 600
    del document["spec"]["idleTimeoutMinutes"]  # the legacy default, five minutes
    assert converted(document)["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] == 300
    assert warnings_about(document, "spec.idleTimeoutMinutes") == []


def test_an_idle_timeout_of_part_of_a_second_is_rounded_with_a_warning() -> None:
    document = example()
    document["spec"]["idleTimeoutMinutes"] = 0.01
    assert converted(document)["spec"]["autoscalerOptions"]["idleTimeoutSeconds"] == 1
    assert warnings_about(document, "spec.idleTimeoutMinutes") == [
        "spec.idleTimeoutMinutes: 0.01 minutes is rounded to 1 whole seconds"
    ]


def test_a_global_worker_cap_below_the_groups_sum() -> None:
    document = example()
    document["spec"]["podTypes"].append({"name": "more", "maxWorkers": 4, "podConfig": minimal_pod()})
    assert warnings_about(document, "spec.maxWorkers") == [
        "spec.maxWorkers: 3 caps the workers of all groups together, but their maxReplicas add up to 7 and "
        "ray.io/v1 has no such cap: lower the groups' maxReplicas if the cap matters"
    ]
    document["spec"]["maxWorkers"] = 7
    assert warnings_about(document, "spec.maxWorkers") == []


def test_a_type_without_max_workers_takes_the_global_cap() -> None:
    document = example()
    del document["spec"]["podTypes"][1]["maxWorkers"]
    assert converted(document)["spec"]["workerGroupSpecs"][0]["maxReplicas"] == 3
    assert warnings_about(document, "spec.podTypes[1].maxWorkers") == []


def test_a_type_without_any_max_workers_does_not_scale_and_says_so() -> None:
    document = example()
    del document["spec"]["podTypes"][1]["maxWorkers"]
    del document["spec"]["maxWorkers"]
    group = converted(document)["spec"]["workerGroupSpecs"][0]
    assert (group["minReplicas"], group["maxReplicas"]) == (2, 2)
    assert warnings_about(document, "spec.podTypes[1].maxWorkers") == [
        "spec.podTypes[1].maxWorkers: not set: maxReplicas is minWorkers (2), so the group does not scale "
        "up; set maxWorkers to let the autoscaler add workers"
    ]


def test_a_head_type_with_workers_is_also_a_worker_group() -> None:
    document = example()
    document["spec"]["podTypes"][0]["maxWorkers"] = 2
    groups = converted(document)["spec"]["workerGroupSpecs"]
    assert [(g["groupName"], g["minReplicas"], g["maxReplicas"]) for g in groups] == [
        ("head-node", 0, 2),
        ("worker-nodes", 2, 3),
    ]
    # The head's pod, but the workers' start flags.
    assert groups[0]["rayStartParams"] == {}
    assert groups[0]["template"]["metadata"] == {"labels": {"component": "example-cluster-ray-head"}}


def test_a_command_other_than_the_placeholder_is_left_out_with_a_warning() -> None:
    document = example()
    container = document["spec"]["podTypes"][1]["podConfig"]["spec"]["containers"][0]
    container["args"] = ["trap : TERM INT; ./prepare.sh; sleep infinity & wait;"]
    path = "spec.podTypes[1].podConfig.spec.containers[0].command"
    assert warnings_about(document, path) == [
        f"{path}: '/bin/bash -c -- trap : TERM INT; ./prepare.sh; sleep infinity & wait;' is left out: the "
        "operator runs ray start as the Ray container's command; move other steps into the image or an init "
        "container"
    ]
    ray = converted(document)["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert "command" not in ray and "args" not in ray


@pytest.mark.parametrize(
    ("command", "args"),
    [
        (["/bin/bash", "-c", "--"], ["trap : TERM INT; sleep infinity & wait;"]),
        (["/bin/sh", "-c"], ["sleep infinity"]),
        (["sleep", "infinity"], []),
        (["tail", "-f", "/dev/null"], []),
    ],
)
def test_placeholder_commands_go_without_a_word(command: list[str], args: list[str]) -> None:
    document = example()
    container = document["spec"]["podTypes"][1]["podConfig"]["spec"]["containers"][0]
    container["command"], container["args"] = command, args
    ray = converted(document)["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert "command" not in ray and "args" not in ray
    assert warnings_about(document, "spec.podTypes[1].podConfig.spec.containers[0].command") == []


def test_a_renamed_group() -> None:
    document = example()
    document["spec"]["podTypes"][1]["name"] = "Worker_Nodes"
    assert converted(document)["spec"]["workerGroupSpecs"][0]["groupName"] == "worker-nodes"
    assert warnings_about(document, "spec.podTypes[1].name") == [
        "spec.podTypes[1].name: the group is named 'worker-nodes': a group name must be a unique DNS label"
    ]


def test_ray_resources_win_over_start_flags_with_a_warning_when_they_differ() -> None:
    document = example()
    document["spec"]["workerStartRayCommands"] = ["ray start --num-cpus=4 --num-gpus=1"]
    document["spec"]["podTypes"][1]["rayResources"] = {"CPU": 2, "GPU": 1}
    assert converted(document)["spec"]["workerGroupSpecs"][0]["resources"] == {"CPU": "2", "GPU": "1"}
    assert warnings_about(document, "spec.podTypes[1].rayResources.CPU") == [
        "spec.podTypes[1].rayResources.CPU: 2 is used, not 4 from spec.workerStartRayCommands[0]"
    ]
    assert warnings_about(document, "spec.podTypes[1].rayResources.GPU") == []


def test_object_store_memory_is_a_flag() -> None:
    document = example()
    document["spec"]["podTypes"][1]["rayResources"] = {"object_store_memory": "1Gi", "memory": 4e9}
    group = converted(document)["spec"]["workerGroupSpecs"][0]
    assert group["rayStartParams"] == {"object-store-memory": "1073741824"}
    assert group["resources"] == {"memory": "4000000000"}


def test_start_command_warnings_name_the_list_entry() -> None:
    document = example()
    document["spec"]["headStartRayCommands"].append("echo started")
    assert warnings_about(document, "spec.headStartRayCommands[2]") == [
        "spec.headStartRayCommands[2]: 'echo started' is not run: the operator starts Ray itself; bake it "
        "into the image or run it in an init container"
    ]


def test_unknown_and_server_written_fields() -> None:
    document = example()
    document["spec"]["initializationCommands"] = ["true"]
    document["spec"]["podTypes"][1]["image"] = "x"
    document["metadata"].update(
        uid="1", resourceVersion="2", generation=3, finalizers=["f"], ownerReferences=[{"kind": "X"}]
    )
    document["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}", "a": "b"}
    document["status"] = {"phase": "Running", "autoscalerRetries": 0}
    pod = document["spec"]["podTypes"][1]["podConfig"]
    pod["metadata"]["namespace"] = "ray"
    pod["metadata"]["ownerReferences"] = []
    result = convert(document)
    assert result.warnings[:6] == [
        "metadata.finalizers: left out: set it on the new RayCluster yourself if it still applies",
        "metadata.ownerReferences: left out: set it on the new RayCluster yourself if it still applies",
        "spec.initializationCommands: not a field of the legacy RayCluster, left out",
        "spec.podTypes[1].image: not a field of a legacy pod type, left out",
        "spec.podTypes[1].podConfig.metadata.namespace: left out: the pods run in the RayCluster's namespace",
        "spec.podTypes[1].podConfig.metadata.ownerReferences: left out: a pod template's metadata holds "
        "labels and annotations",
    ]
    # The API server's bookkeeping, the status and kubectl's copy of the old manifest go without a word.
    assert result.manifests[0]["metadata"] == {"name": "example-cluster", "annotations": {"a": "b"}}
    assert "status" not in result.manifests[0]


def test_values_keys_the_chart_does_not_know() -> None:
    document = values()
    document["maxWorkers"] = 10
    document["podTypes"]["rayWorkerType"]["image"] = "other"
    warnings = convert(document).warnings
    assert "maxWorkers: not a value of the legacy chart, left out" in warnings
    assert "podTypes.rayWorkerType.image: not a value of a legacy pod type, left out" in warnings


def test_the_new_names_warning() -> None:
    (warning,) = warnings_about(example(), "metadata.name")
    assert "example-cluster-head-svc (was example-cluster-ray-head)" in warning
