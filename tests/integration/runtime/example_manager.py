"""Runs the example controller under a manager with leader election, as its own process.

python -m tests.integration.runtime.example_manager --kubeconfig K --group G --lease-namespace N \
    --identity I --metrics-port P --health-port Q

Exit status: 0 after SIGTERM, 3 when leadership was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from kuberay_py.runtime import LeaderElectionLost, Manager, ManagerOptions, configure_logging, connect
from tests.integration.runtime import example_controller


async def main(args: argparse.Namespace) -> int:
    configure_logging("json", "info")
    client = await connect(args.kubeconfig)
    options = ManagerOptions(
        cache_selectors=example_controller.cache_selectors(args.group),
        leader_election=True,
        leader_election_id=f"example-{args.group}",
        leader_election_namespace=args.lease_namespace,
        identity=args.identity,
        metrics_bind_address=f"127.0.0.1:{args.metrics_port}",
        health_probe_bind_address=f"127.0.0.1:{args.health_port}",
        graceful_shutdown_timeout=10,
    )
    manager = Manager(client, options)
    example_controller.add_to(manager, args.identity)
    try:
        await manager.run()
    except LeaderElectionLost:
        return 3
    finally:
        await client.close()
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for flag in ("--kubeconfig", "--group", "--lease-namespace", "--identity"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--health-port", type=int, required=True)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse(sys.argv[1:]))))
