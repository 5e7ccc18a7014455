"""The RayCluster controller's own metrics, in the runtime's registry so that /metrics serves them."""

from prometheus_client import Gauge

from kuberay_py.runtime.metrics import REGISTRY

CACHE_BEHIND = Gauge(
    "kuberay_py_raycluster_cache_behind",
    "RayClusters whose pod cache has lagged this operator's own writes past the report threshold",
    registry=REGISTRY,
)
