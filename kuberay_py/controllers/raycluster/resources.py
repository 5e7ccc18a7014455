"""The RayCluster resource as the runtime addresses it."""

from kuberay_py.api.constants import GROUP, KIND, PLURAL, VERSION
from kuberay_py.runtime import Resource

RAYCLUSTERS = Resource(GROUP, VERSION, PLURAL, KIND, has_status=True)
