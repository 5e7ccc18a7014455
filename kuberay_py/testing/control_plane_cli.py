"""`hack/control-plane up|down|env|status`: the local control plane as a background service."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Final

from kuberay_py.testing.binaries import BinariesError
from kuberay_py.testing.controlplane import (
    KUBELET_KINDS,
    STATE_FILE,
    ControlPlane,
    ControlPlaneError,
    default_state_dir,
)
from kuberay_py.testing.pki import PKIError


def _up(state_dir: Path, nodes: int, kubelet: str, kubelet_args: list[str]) -> int:
    if (state_dir / STATE_FILE).exists():
        print(f"a control plane is already running from {state_dir}; run `hack/control-plane down` first")
        return 1
    state_dir.mkdir(parents=True, exist_ok=True)
    plane = ControlPlane(state_dir, nodes=nodes, kubelet_kind=kubelet, kubelet_args=kubelet_args, detach=True)
    try:
        plane.start()
    except KeyboardInterrupt:
        print("interrupted; stopped everything that had started", file=sys.stderr)
        return 130
    except (ControlPlaneError, BinariesError, PKIError) as exc:
        print(f"control plane failed to start: {exc}", file=sys.stderr)
        return 1
    what = "one process-kubelet node" if kubelet == "process" else f"{nodes} simulated nodes"
    print(f"control plane up in {plane.startup_seconds:.1f}s at {plane.server} with {what}")
    print(f"export KUBECONFIG={plane.kubeconfig}")
    return 0


# Each command's answer when no control plane is running: (message, exit code, on stderr). Stopping nothing
# is no failure; `env` runs under `eval`, so its complaint goes to stderr.
_NONE_RUNNING: Final = {
    "down": ("no control plane is running", 0, False),
    "env": ("no control plane is running; start one with `hack/control-plane up`", 1, True),
    "status": ("no control plane is running", 1, False),
}


def _down(state_dir: Path) -> int:
    ControlPlane.attach(state_dir).stop()
    print("control plane stopped and its files removed")
    return 0


def _env(state_dir: Path) -> int:
    print(f"export KUBECONFIG={state_dir / 'admin.kubeconfig'}")
    return 0


def _status(state_dir: Path) -> int:
    plane = ControlPlane.attach(state_dir)
    for name, pid in plane.pids.items():
        alive = Path(f"/proc/{pid}").exists()
        print(f"{name:<24} pid {pid:<8} {'running' if alive else 'gone'}")
    return 0


_COMMANDS: Final = {"down": _down, "env": _env, "status": _status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hack/control-plane")
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the control plane and a kubelet in the background")
    up.add_argument("--nodes", type=int, default=4, help="simulated nodes (the process kubelet has one)")
    up.add_argument(
        "--kubelet",
        choices=KUBELET_KINDS,
        default="simulated",
        help="simulated: statuses only, for scale; process: pods run as real processes (needs root)",
    )
    sub.add_parser("down", help="stop every process and remove the temporary files")
    sub.add_parser("env", help="print the export line for KUBECONFIG")
    sub.add_parser("status", help="list the running components")
    args, extra = parser.parse_known_args(argv)
    if args.command == "up":
        return _up(args.state_dir, args.nodes, args.kubelet, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not (args.state_dir / STATE_FILE).exists():
        message, code, to_stderr = _NONE_RUNNING[args.command]
        print(message, file=sys.stderr if to_stderr else sys.stdout)
        return code
    return _COMMANDS[args.command](args.state_dir)


if __name__ == "__main__":
    sys.exit(main())
