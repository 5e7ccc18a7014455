"""Moving from the legacy Ray operator: its `cluster.ray.io/v1` RayCluster and its Helm chart's values, as a
`ray.io/v1` RayCluster with the in-tree autoscaler on.

`convert_text(text, name)` converts every legacy document of a YAML stream and lists, one line each, the
fields that have no equivalent; what cannot be converted raises `ConvertError` with the field named.
"""

from kuberay_py.legacy.documents import Conversion, ConvertError, convert_text
from kuberay_py.legacy.helm_values import DEFAULT_RELEASE_NAME

__all__ = ["DEFAULT_RELEASE_NAME", "Conversion", "ConvertError", "convert_text"]
