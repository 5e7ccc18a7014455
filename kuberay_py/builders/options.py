"""Settings of the builders that come from the operator's environment, not from the RayCluster."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BuildOptions:
    """How the operator's environment shapes the objects it builds.

    - `cluster_domain`: the Kubernetes cluster's DNS domain; workers reach the head at
      `<head service>.<namespace>.svc.<cluster_domain>`.
    - `default_namespace`: the namespace of a RayCluster that names none (a manifest rendered before it is
      applied); every namespaced object is built in it, so that addresses and objects agree.
    """

    cluster_domain: str = "cluster.local"
    default_namespace: str = "default"


DEFAULT_OPTIONS = BuildOptions()
"""The options of a stock Kubernetes cluster; the default of every builder."""
