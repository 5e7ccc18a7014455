"""The process kubelet's command line, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kuberay_py.testing.prockubelet import parse_args

REQUIRED = ["--kubeconfig", "/k/kubeconfig", "--log-dir", "/k/logs"]


def test_extra_path_is_repeatable_and_keeps_its_order() -> None:
    _, _, config = parse_args([*REQUIRED, "--extra-path=/opt/redis/bin", "--extra-path", "/opt/more"])
    assert config.extra_path == ("/opt/redis/bin", "/opt/more")


def test_no_extra_path_by_default() -> None:
    kubeconfig, log_dir, config = parse_args(REQUIRED)
    assert (kubeconfig, log_dir) == (Path("/k/kubeconfig"), Path("/k/logs"))
    assert config.extra_path == ()


def test_a_relative_extra_path_is_made_absolute() -> None:
    # Containers start in their own working directory, where a relative entry would name something else.
    _, _, config = parse_args([*REQUIRED, "--extra-path=cache/bin"])
    assert config.extra_path == (str(Path.cwd() / "cache" / "bin"),)


@pytest.mark.parametrize("entry", ["/a:/b", ""])
def test_an_entry_path_cannot_hold_is_refused(entry: str) -> None:
    with pytest.raises(SystemExit):
        parse_args([*REQUIRED, f"--extra-path={entry}"])


def test_extra_path_sits_beside_image_env() -> None:
    _, _, config = parse_args([*REQUIRED, "--image-env=A=1", "--extra-path=/opt/redis/bin"])
    assert config.image_env == (("A", "1"),)
    assert config.extra_path == ("/opt/redis/bin",)
