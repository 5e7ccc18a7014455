"""Drive the Ray autoscaler's own KubeRay node provider (from the `ray` package) against a RayCluster.

Run as a subprocess: `python ray_autoscaler_driver.py NAMESPACE CLUSTER TOKEN_FILE ACTION [ARG]`, with
KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT_HTTPS, RAY_KUBERAY_CA_CERT_PATH and RAY_HEAD_POD_NAME set.
ACTION is `list`, `scale-up GROUP COUNT` or `terminate POD`. It authenticates with the token in TOKEN_FILE,
the autoscaler ServiceAccount's own, so the Role the operator created is what is being tested. Prints the
workers it sees, by group, as JSON.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from ray.autoscaler._private.constants import (
    DISABLE_LAUNCH_CONFIG_CHECK_KEY,
    DISABLE_NODE_UPDATERS_KEY,
    FOREGROUND_NODE_LAUNCH_KEY,
    WORKER_LIVENESS_CHECK_KEY,
)
from ray.autoscaler._private.kuberay import node_provider
from ray.autoscaler.tags import NODE_KIND_WORKER, TAG_RAY_NODE_KIND, TAG_RAY_USER_NODE_TYPE


def main(namespace: str, cluster: str, token_file: str, action: str, *args: str) -> None:
    # The provider reads the in-cluster token path at call time; point it at the ServiceAccount token we got.
    node_provider.IN_CLUSTER_TOKEN_PATH = token_file
    provider = node_provider.KubeRayNodeProvider(
        {
            "namespace": namespace,
            DISABLE_NODE_UPDATERS_KEY: True,
            DISABLE_LAUNCH_CONFIG_CHECK_KEY: True,
            FOREGROUND_NODE_LAUNCH_KEY: True,
            WORKER_LIVENESS_CHECK_KEY: False,
        },
        cluster,
    )
    nodes = provider.non_terminated_nodes({})
    if action == "list":
        provider.safe_to_scale()  # also clears workersToDelete once the operator removed those pods
    elif action == "scale-up":
        group, count = args[0], int(args[1])
        provider.create_node({}, {TAG_RAY_NODE_KIND: NODE_KIND_WORKER, TAG_RAY_USER_NODE_TYPE: group}, count)
    elif action == "terminate":
        provider.terminate_node(args[0])
    else:
        raise SystemExit(f"unknown action {action}")
    provider.post_process()
    workers: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        tags = provider.node_tags(node)
        if tags[TAG_RAY_NODE_KIND] == NODE_KIND_WORKER:
            workers[tags[TAG_RAY_USER_NODE_TYPE]].append(node)
    print(json.dumps({group: sorted(names) for group, names in workers.items()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
