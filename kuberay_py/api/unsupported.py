"""KubeRay fields, labels and annotations that kuberay-py accepts, so KubeRay manifests apply unchanged, but
does not act on.

The controller reports each one that a cluster sets (a condition and an Event naming it) rather than ignoring
it silently.
"""

from collections.abc import Callable
from typing import Final

from kuberay_py.api.raycluster import RayCluster
from kuberay_py.api.spec import RayClusterSpec

# JSON path -> whether a spec sets it in a way that would need the operator to act.
UNSUPPORTED: Final[dict[str, Callable[[RayClusterSpec], bool]]] = {
    "spec.tlsOptions": lambda s: s.tls_options is not None,
    "spec.networkPolicy": lambda s: s.network_policy is not None,
    "spec.historyServerOptions": lambda s: s.history_server_options is not None,
    # false asks for no Ingress, which is what happens anyway.
    "spec.headGroupSpec.enableIngress": lambda s: bool(s.head_group_spec.enable_ingress),
    "spec.headGroupSpec.ingressOptions": lambda s: s.head_group_spec.ingress_options is not None,
    # Deprecated by KubeRay long ago; a cluster has one head pod whatever it says.
    "spec.headGroupSpec.replicas": lambda s: s.head_group_spec.replicas is not None,
}


# RayCluster labels KubeRay hands to a batch scheduler (Volcano, YuniKorn, ...); kuberay-py has none.
UNSUPPORTED_LABELS: Final = (
    "ray.io/scheduler-name",
    "ray.io/priority-class-name",
    "ray.io/gang-scheduling-enabled",
)
# "true" asks KubeRay for a Service in front of Ray Serve (`<cluster>-serve-svc`).
UNSUPPORTED_ANNOTATIONS: Final = ("ray.io/enable-serve-service",)


def unsupported_fields(cluster: RayCluster) -> list[str]:
    """The JSON paths of the fields, labels and annotations this cluster sets that kuberay-py does not act
    on, in a stable order."""
    paths = [path for path, is_set in UNSUPPORTED.items() if is_set(cluster.spec)]
    labels = cluster.metadata.labels or {}
    annotations = cluster.metadata.annotations or {}
    paths += [f'metadata.labels["{key}"]' for key in UNSUPPORTED_LABELS if key in labels]
    paths += [f'metadata.annotations["{key}"]' for key in UNSUPPORTED_ANNOTATIONS if key in annotations]
    return paths
