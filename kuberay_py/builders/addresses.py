"""Where a Ray pod finds the head: the GCS port and the head's address."""

from kuberay_py.api import RayCluster
from kuberay_py.builders import ports
from kuberay_py.builders.names import head_service_host
from kuberay_py.builders.options import BuildOptions


def gcs_port(cluster: RayCluster) -> int:
    """The head's GCS port: its `rayStartParams.port`, else 6379."""
    port = cluster.spec.head_group_spec.start_params().get("port", "")
    return int(port) if port.isdigit() else ports.GCS_PORT


def head_address(cluster: RayCluster, options: BuildOptions) -> str:
    """`<head FQDN>:<GCS port>`, where workers join the cluster."""
    return f"{head_service_host(cluster, options)}:{gcs_port(cluster)}"
