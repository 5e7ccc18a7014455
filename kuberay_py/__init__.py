"""kuberay-py: a Python operator for Ray clusters on Kubernetes, compatible with KubeRay's RayCluster."""
