"""The `kuberay-py` command line: one subcommand per function, dispatched by argparse."""

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def crd(args: argparse.Namespace) -> int:
    """Print the RayCluster and RayJob CRDs, or write them and their kustomization into a directory."""
    from kuberay_py.api.crd import (
        CRD_FILE,
        JOB_CRD_FILE,
        KUSTOMIZATION_FILE,
        render_crd,
        render_crds,
        render_job_crd,
        render_kustomization,
    )

    if args.output_dir is None:
        sys.stdout.write(render_crds())
        return 0
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / CRD_FILE).write_text(render_crd())
    (out / JOB_CRD_FILE).write_text(render_job_crd())
    (out / KUSTOMIZATION_FILE).write_text(render_kustomization())
    return 0


def render(args: argparse.Namespace) -> int:
    """Print, as multi-document YAML, every object the operator would create for the file's RayClusters."""
    from kuberay_py.builders import BuildError, BuildOptions, render_manifests

    source = "standard input" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        options = BuildOptions(cluster_domain=args.cluster_domain, default_namespace=args.namespace)
        sys.stdout.write(render_manifests(text, options))
    except (OSError, UnicodeDecodeError, BuildError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(f"kuberay-py render: {source}: {reason}", file=sys.stderr)
        return 1
    return 0


def convert(args: argparse.Namespace) -> int:
    """Print a legacy Ray operator manifest or Helm values as ray.io/v1 RayClusters; warnings on stderr."""
    from kuberay_py.builders import to_yaml
    from kuberay_py.legacy import ConvertError, convert_text

    source = "standard input" if args.file == "-" else args.file
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        conversion = convert_text(text) if args.name is None else convert_text(text, args.name)
    except (OSError, UnicodeDecodeError, ConvertError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        print(f"kuberay-py convert: {source}: {reason}", file=sys.stderr)
        return 1
    for warning in conversion.warnings:
        print(f"kuberay-py convert: warning: {warning}", file=sys.stderr)
    sys.stdout.write(to_yaml(conversion.manifests))
    return 0


def _env(name: str, default: str) -> str:
    """A default from KUBERAY_PY_<NAME>, so every flag can be set through the environment."""
    return os.environ.get(f"KUBERAY_PY_{name}", default)


def _env_flag(name: str, default: bool = False) -> bool:
    return _env(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


def operator(args: argparse.Namespace) -> int:
    """Run the operator until SIGTERM or Ctrl-C."""
    import asyncio

    from kuberay_py.operator import OperatorConfig, OperatorError, run_operator

    namespaces: list[str] = args.namespace or [n for n in _env("NAMESPACE", "").split(",") if n]
    if len(namespaces) > 1:
        print("kuberay-py operator: watch one --namespace, or all namespaces (give none)", file=sys.stderr)
        return 2
    config = OperatorConfig(
        kubeconfig=args.kubeconfig,
        namespace=namespaces[0] if namespaces else None,
        leader_elect=args.leader_elect,
        leader_election_namespace=args.leader_election_namespace,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        metrics_addr=args.metrics_addr,
        health_addr=args.health_addr,
        workers=args.workers,
        log_format=args.log_format,
        log_level=args.log_level,
        cluster_domain=args.cluster_domain,
        enable_metrics=args.enable_metrics,
        ray_dashboard_address=args.ray_dashboard_address,
    )
    try:
        asyncio.run(run_operator(config))
    except OperatorError as exc:
        print(f"kuberay-py operator: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, got {text!r}")
    return value


def _one_of(*choices: str) -> Callable[[str], str]:
    """A `type` that checks the value, so defaults from KUBERAY_PY_* are checked too (argparse's `choices`
    only checks the command line)."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return value

    return parse


def demo(args: argparse.Namespace) -> int:
    """A local control plane, the operator and a sample RayCluster, until Ctrl-C."""
    import asyncio

    from kuberay_py.demo import SAMPLE, DemoOptions, run_demo
    from kuberay_py.demo_ray import SAMPLE as RAY_SAMPLE

    options = DemoOptions(
        sample=args.sample or (RAY_SAMPLE if args.ray else SAMPLE),
        ray=args.ray,
        namespace=args.namespace,
        nodes=args.nodes,
        ready_timeout=args.timeout,
        exit_when_ready=args.exit_when_ready,
    )
    return asyncio.run(run_demo(options))


def _add_demo_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "demo",
        help="run a local control plane, the operator and a sample RayCluster until Ctrl-C",
        description="Start a local Kubernetes control plane with a simulated kubelet, the operator and a "
        "sample RayCluster; show it becoming ready, then keep running until Ctrl-C, which removes "
        "everything.",
    )
    parser.add_argument(
        "--sample",
        type=Path,
        default=None,
        help="the manifest to create (default: config/samples/ray-cluster.heterogeneous.yaml)",
    )
    parser.add_argument("-n", "--namespace", default="default", help="where to create it")
    parser.add_argument("--nodes", type=_positive_int, default=4, help="simulated nodes")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for the cluster to be ready"
    )
    parser.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="tear everything down once the cluster is ready (with --ray: once the job succeeded)",
    )
    parser.add_argument(
        "--ray",
        action="store_true",
        help="run real Ray: pods as processes (needs root), the autoscaler sample "
        "(config/samples/ray-cluster.autoscaler.yaml), its dashboard on this machine, and a job",
    )
    parser.set_defaults(handler=demo)


def _add_operator_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "operator",
        help="run the RayCluster operator",
        description="Run the operator. Each option can also be set as KUBERAY_PY_<OPTION>.",
    )
    parser.add_argument(
        "--kubeconfig", default=_env("KUBECONFIG", "") or None, help="default: $KUBECONFIG, then in-cluster"
    )
    parser.add_argument(
        "--namespace",
        action="append",
        default=None,
        help="watch only this namespace (default: all namespaces)",
    )
    parser.add_argument("--leader-elect", action="store_true", default=_env_flag("LEADER_ELECT"))
    parser.add_argument("--leader-election-namespace", default=_env("LEADER_ELECTION_NAMESPACE", "") or None)
    parser.add_argument(
        "--lease-duration",
        type=_positive_float,
        default=_env("LEASE_DURATION", "15"),
        help="seconds a standby waits after the last renewal before it takes over",
    )
    parser.add_argument(
        "--renew-deadline",
        type=_positive_float,
        default=_env("RENEW_DEADLINE", "10"),
        help="seconds the leader keeps trying to renew before it stops writing",
    )
    parser.add_argument(
        "--retry-period",
        type=_positive_float,
        default=_env("RETRY_PERIOD", "2"),
        help="seconds between lease renewals and acquisition attempts",
    )
    parser.add_argument("--metrics-addr", default=_env("METRICS_ADDR", ":8080"), help='"0" disables')
    parser.add_argument("--health-addr", default=_env("HEALTH_ADDR", ":8081"), help='"0" disables')
    parser.add_argument(
        "--enable-metrics",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("ENABLE_METRICS", default=True),
        help="KubeRay's RayCluster metrics (kuberay_cluster_*) on /metrics (default: on)",
    )
    # String defaults go through `type` like typed values, so a bad KUBERAY_PY_* value is a usage error.
    parser.add_argument(
        "--workers", type=_positive_int, default=_env("WORKERS", "16"), help="concurrent reconciles"
    )
    parser.add_argument(
        "--log-format",
        type=_one_of("json", "console"),
        metavar="{json,console}",
        default=_env("LOG_FORMAT", "json"),
    )
    parser.add_argument(
        "--log-level",
        type=_one_of("debug", "info", "warning", "error"),
        metavar="{debug,info,warning,error}",
        default=_env("LOG_LEVEL", "info"),
    )
    parser.add_argument("--cluster-domain", default=_env("CLUSTER_DOMAIN", "cluster.local"))
    parser.add_argument(
        "--ray-dashboard-address",
        type=_one_of("service", "pod-ip"),
        metavar="{service,pod-ip}",
        default=_env("RAY_DASHBOARD_ADDRESS", "service"),
        help="how RayJobs reach their cluster's dashboard: the head Service's DNS name (inside the cluster) "
        "or the head pod's IP (an operator outside the cluster that can route to pods)",
    )
    parser.set_defaults(handler=operator)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kuberay-py", description="Run Ray clusters on Kubernetes.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crd_parser = commands.add_parser("crd", help="print the RayCluster CustomResourceDefinition as YAML")
    crd_parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="write ray.io_rayclusters.yaml and kustomization.yaml here instead of printing the CRD",
    )
    crd_parser.set_defaults(handler=crd)

    render_parser = commands.add_parser(
        "render", help="print the pods, Service and RBAC objects the operator creates for a RayCluster"
    )
    render_parser.add_argument("-f", "--file", required=True, help="a manifest file, or - for standard input")
    render_parser.add_argument("--cluster-domain", default="cluster.local", help="the cluster's DNS domain")
    render_parser.add_argument(
        "-n", "--namespace", default="default", help="namespace of RayClusters that name none"
    )
    render_parser.set_defaults(handler=render)

    convert_parser = commands.add_parser(
        "convert",
        help="print legacy Ray operator RayClusters (cluster.ray.io/v1) or Helm values as ray.io/v1 ones",
        description="Convert the legacy Ray operator's RayCluster manifests (every one in the file) or its "
        "Helm chart's values.yaml to ray.io/v1 RayClusters with the in-tree autoscaler on. Prints them as "
        "YAML; each field without an equivalent gets a warning on stderr.",
    )
    convert_parser.add_argument(
        "file", metavar="FILE", help="a manifest or values file, or - for standard input"
    )
    convert_parser.add_argument(
        "--name",
        default=None,
        help="the cluster's name when FILE holds Helm values: the release name (default: example-cluster, as "
        "in the legacy chart's docs)",
    )
    convert_parser.set_defaults(handler=convert)

    _add_operator_parser(commands)
    _add_demo_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result
