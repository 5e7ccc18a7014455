"""The `ray start` flags read out of legacy start commands."""

from __future__ import annotations

import pytest

from kuberay_py.legacy.findings import Findings, LegacyError
from kuberay_py.legacy.start_command import StartFlags, parse_start_commands, simple_commands

PATH = "spec.headStartRayCommands"
NOT_RUN = "the operator starts Ray itself; bake it into the image or run it in an init container"


def parse(*commands: str) -> tuple[StartFlags, list[str]]:
    findings = Findings()
    flags = parse_start_commands(commands, PATH, findings)
    return flags, [str(f) for f in findings.items]


def test_the_legacy_head_commands_leave_only_the_dashboard_host() -> None:
    flags, warnings = parse(
        "ray stop", "ulimit -n 65536; ray start --head --port=6379 --no-monitor --dashboard-host 0.0.0.0"
    )
    assert flags.params == {"dashboard-host": "0.0.0.0"}
    assert flags.resources == {}
    assert warnings == []


def test_the_legacy_worker_commands_leave_nothing() -> None:
    flags, warnings = parse("ray stop", "ulimit -n 65536; ray start --address=$RAY_HEAD_IP:6379")
    assert (flags.params, flags.resources, warnings) == ({}, {}, [])


def test_flag_forms_and_values() -> None:
    flags, warnings = parse(
        "ray start --head --block --port 6380 --object-manager-port=8076 --include-dashboard false "
        "--disable-usage-stats --temp-dir '/tmp/my ray' --plasma-directory=$PLASMA_DIR"
    )
    assert flags.params == {
        "port": "6380",  # a port other than the default is the user's
        "object-manager-port": "8076",
        "include-dashboard": "false",
        "disable-usage-stats": "true",  # a bare flag
        "temp-dir": "'/tmp/my ray'",  # quoting kept: the operator writes it into a shell line
        "plasma-directory": "$PLASMA_DIR",  # expanded in the pod, as before
    }
    assert warnings == []


def test_a_quoted_flag_gets_its_value_quoted_for_the_shell() -> None:
    flags, _ = parse("ray start '--temp-dir=/tmp/a b'")
    assert flags.params == {"temp-dir": "'/tmp/a b'"}


def test_resource_flags_become_ray_resources() -> None:
    flags, warnings = parse(
        """ray start --num-cpus=2 --num-gpus 1 --memory=2000000000 --resources='{"Custom1": 1, "TPU": 4}'"""
    )
    assert flags.params == {}
    assert flags.resources == {"CPU": "2", "GPU": "1", "memory": "2000000000", "Custom1": "1", "TPU": "4"}
    assert flags.resources_path == f"{PATH}[0]"
    assert warnings == []


def test_a_resource_flag_of_a_shell_variable_is_left_to_the_container_resources() -> None:
    flags, warnings = parse("ray start --head --num-cpus=$MY_CPU_REQUEST")
    assert (flags.params, flags.resources) == ({}, {})
    assert warnings == [
        f"{PATH}[0]: --num-cpus=$MY_CPU_REQUEST is left out: its value is only known in the pod; the "
        "operator derives Ray's CPUs, GPUs and memory from the Ray container's resources (set rayResources "
        "to override)"
    ]


def test_autoscaling_config_is_the_sidecars() -> None:
    flags, warnings = parse("ray start --head --autoscaling-config=~/ray_bootstrap_config.yaml")
    assert flags.params == {}
    assert warnings == [
        f"{PATH}[0]: --autoscaling-config is left out: the autoscaler sidecar is configured by the operator"
    ]


def test_other_commands_are_warned_about() -> None:
    flags, warnings = parse("export A=1 && ray start --head", "ray stop; sleep 5")
    assert flags.params == {}
    assert warnings == [
        f"{PATH}[0]: 'export A=1' is not run: {NOT_RUN}",
        f"{PATH}[1]: 'sleep 5' is not run: {NOT_RUN}",
    ]


def test_environment_assignments_before_ray_start() -> None:
    flags, warnings = parse(
        "RAY_A=1 RAY_B=2 exec /home/ray/anaconda3/bin/ray start --head --min-worker-port=10002"
    )
    assert flags.params == {"min-worker-port": "10002"}
    assert warnings == [
        f"{PATH}[0]: environment assignments before ray start (RAY_A=1 RAY_B=2) are left out: set them as "
        "env of the Ray container"
    ]


def test_a_second_ray_start_is_merged_with_a_warning() -> None:
    flags, warnings = parse("ray start --head --port=6380", "ray start --head --redis-shard-ports=6381")
    assert flags.params == {"port": "6380", "redis-shard-ports": "6381"}
    assert len(warnings) == 1 and warnings[0].startswith(f"{PATH}[1]: a second ray start")


def test_words_that_are_not_flags_are_warned_about() -> None:
    flags, warnings = parse("ray start --head -v extra")
    assert flags.params == {}
    assert warnings == [
        f"{PATH}[0]: '-v' is not a ray start flag and is left out",
        f"{PATH}[0]: 'extra' is not a ray start flag and is left out",
    ]


def test_simple_commands_split_outside_quotes_only() -> None:
    line = """ulimit -n 65536; echo "a;b" && ray start --x='c|d' 2>&1 || true # a comment; ray stop"""
    assert simple_commands(line, PATH) == [
        ["ulimit", "-n", "65536"],
        ["echo", '"a;b"'],
        ["ray", "start", "--x='c|d'", "2>&1"],
        ["true"],
    ]
    assert simple_commands("ray stop\nray start \\\n --head", PATH) == [
        ["ray", "stop"],
        ["ray", "start", "--head"],
    ]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            "ray start --head --temp-dir='/tmp",
            f"{PATH}[0]: unterminated ' quote in \"ray start --head --temp-dir='/tmp\"",
        ),
        ("ray start --resources=[1]", f"{PATH}[0]: --resources must be a JSON object, not '[1]'"),
        ("ray start --resources={oops", f"{PATH}[0]: --resources must be a JSON object, not '{{oops'"),
        ("ray start --num-cpus=two", f"{PATH}[0]: --num-cpus must be an amount of at least 0, not 'two'"),
        ("ray start --num-gpus=-1", f"{PATH}[0]: --num-gpus must be an amount of at least 0, not '-1'"),
    ],
)
def test_bad_start_commands(command: str, message: str) -> None:
    with pytest.raises(LegacyError) as raised:
        parse(command)
    assert str(raised.value) == message
