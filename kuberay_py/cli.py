"""The `kuberay-py` command line: one subcommand per function, dispatched by argparse."""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def crd(args: argparse.Namespace) -> int:
    """Print the RayCluster CRD, or write it and its kustomization into a directory."""
    from kuberay_py.api.crd import CRD_FILE, KUSTOMIZATION_FILE, render_crd, render_kustomization

    if args.output_dir is None:
        sys.stdout.write(render_crd())
        return 0
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / CRD_FILE).write_text(render_crd())
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = args.handler
    result: int = handler(args)
    return result
