"""Names of the objects built for a RayCluster, always within Kubernetes' length limits.

A name that would be too long keeps its beginning and ends in a short hash of the whole, so that two long
names that share a beginning still differ.
"""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Final

from kuberay_py.api import RayCluster
from kuberay_py.builders.options import BuildOptions

# Leaves room for the 5 random characters the API server appends, within a 63-character hostname.
MAX_GENERATE_NAME: Final = 50
MAX_DNS_LABEL: Final = 63
MAX_LABEL_VALUE: Final = 63
_HASH_LENGTH: Final = 5


def free_name(entries: Iterable[object], wanted: str) -> str:
    """`wanted`, or `wanted-2`, `wanted-3`, ... when one of `entries` (containers, volumes) has that name."""
    taken = {e.get("name") for e in entries if isinstance(e, Mapping)}
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}-{n}"
    return name


def short_hash(text: str, length: int = _HASH_LENGTH) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def fit(name: str, limit: int, suffix: str = "") -> str:
    """`name + suffix` if it fits in `limit` characters, else `name` cut short and marked with its hash."""
    if len(name) + len(suffix) <= limit:
        return name + suffix
    digest = short_hash(name)
    kept = name[: max(limit - len(suffix) - len(digest) - 1, 0)].rstrip("-._")
    return f"{kept}-{digest}{suffix}" if kept else f"{digest}{suffix}"


def label_value(value: str) -> str:
    """A label value of at most 63 characters."""
    return fit(value, MAX_LABEL_VALUE)


def head_pod_prefix(cluster: RayCluster) -> str:
    """The head pod's generateName: `<cluster>-head-`."""
    return fit(cluster.name, MAX_GENERATE_NAME, "-head-")


def worker_pod_prefix(cluster: RayCluster, group_name: str) -> str:
    """A worker pod's generateName: `<cluster>-<group>-worker-`."""
    return fit(f"{cluster.name}-{group_name}", MAX_GENERATE_NAME, "-worker-")


def default_head_service_name(cluster: RayCluster) -> str:
    """`<cluster>-head-svc`: 62 characters for the longest RayCluster name (53)."""
    return fit(cluster.name, MAX_DNS_LABEL, "-head-svc")


def headless_worker_service_name(cluster: RayCluster) -> str:
    """`<cluster>-headless`, the Service that gives multi-host workers DNS names: 62 characters at most."""
    return fit(cluster.name, MAX_DNS_LABEL, "-headless")


def head_service_name(cluster: RayCluster) -> str:
    """The head Service's name: the one `headGroupSpec.headService` gives, else `<cluster>-head-svc`."""
    custom = cluster.spec.head_group_spec.head_service or {}
    metadata = custom.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) and name else default_head_service_name(cluster)


def namespace_of(cluster: RayCluster, options: BuildOptions) -> str:
    """The cluster's namespace, or the default one for a manifest that names none."""
    return cluster.namespace or options.default_namespace


def head_service_host(cluster: RayCluster, options: BuildOptions) -> str:
    """The head's fully qualified DNS name, which workers and the init container connect to."""
    return f"{head_service_name(cluster)}.{namespace_of(cluster, options)}.svc.{options.cluster_domain}"


def head_pod_service_account(cluster: RayCluster) -> str | None:
    """The ServiceAccount the head template names itself, if any."""
    spec = cluster.spec.head_group_spec.template.get("spec")
    name = spec.get("serviceAccountName") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else None


def autoscaler_service_account_name(cluster: RayCluster) -> str:
    """The autoscaler's ServiceAccount: the head template's own, else one named after the cluster."""
    return head_pod_service_account(cluster) or cluster.name


def autoscaler_role_name(cluster: RayCluster) -> str:
    """The autoscaler's Role and RoleBinding are named after the cluster."""
    return cluster.name


def replica_name(group_name: str, token: str) -> str:
    """The name of one replica of a multi-host group, `<group>-<token>`, fit for a label value."""
    return label_value(f"{group_name}-{token}")
