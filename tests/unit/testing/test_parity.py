"""The side-by-side comparison's normalization: what differs between two runs of one operator must vanish,
what differs between operators must stay."""

from __future__ import annotations

from typing import Any

from kuberay_py.testing.parity import Made, compare, documented_patterns, is_documented, shape


def _pod(name: str, args: str, token_volume: str, namespace: str = "ns-a") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": name,
            "namespace": namespace,
            "labels": {"ray.io/node-type": "head", "ray.io/cluster": "c"},
            "ownerReferences": [{"kind": "RayCluster", "name": "c", "uid": "u1"}],
        },
        "spec": {
            "nodeName": "node-1",
            "volumes": [{"name": token_volume, "projected": {}}],
            "containers": [
                {
                    "name": "ray-head",
                    "command": ["/bin/bash", "-c", "--"],
                    "args": [args],
                    "env": [{"name": "RAY_ADDRESS", "value": f"c-head-svc.{namespace}.svc:6379"}],
                    "volumeMounts": [{"name": token_volume, "mountPath": "/var/run/secrets"}],
                }
            ],
        },
    }


def _made(pod: dict[str, Any], namespace: str = "ns-a", node_port: int = 30001) -> Made:
    service = {
        "metadata": {"name": "c-head-svc", "namespace": namespace},
        "spec": {
            "clusterIP": "10.96.0.7",
            "ports": [{"name": "client", "port": 10001, "nodePort": node_port}],
        },
    }
    cluster = {"metadata": {"name": "c"}, "status": {"state": "ready", "head": {"podIP": "10.0.0.3"}}}
    return Made(namespace, cluster, [pod], [service], event_reasons=frozenset({"CreatedHeadPod"}))


def test_two_runs_of_one_operator_compare_equal() -> None:
    one = _made(
        _pod("c-head-abcde", "ulimit -n 65536; ray start --head  --block --num-cpus=1 ", "kube-api-access-x1")
    )
    two = _made(
        _pod(
            "c-head-vwxyz",
            "ulimit -n 65536; ray start --num-cpus=1 --head --block",
            "kube-api-access-q9",
            "ns-b",
        ),
        namespace="ns-b",
        node_port=31999,
    )
    assert compare(shape(one), shape(two)) == []


def test_a_different_flag_env_or_event_is_a_difference() -> None:
    one = _made(_pod("c-head-abcde", "ray start --head --num-cpus=1", "kube-api-access-x1"))
    pod = _pod("c-head-abcde", "ray start --head --num-cpus=2", "kube-api-access-x1")
    pod["spec"]["containers"][0]["env"].append({"name": "EXTRA", "value": "1"})
    two = Made(one.namespace, one.cluster, [pod], one.services, event_reasons=frozenset({"CreatedPods"}))
    keys = {d.key for d in compare(shape(one), shape(two))}
    assert keys == {
        "pod[head].container[ray].ray start.--num-cpus",
        "pod[head].container[ray].env.EXTRA",
        "event[CreatedHeadPod]",
        "event[CreatedPods]",
    }


def test_documented_patterns_come_from_the_first_cell_of_table_rows() -> None:
    text = "| Key | Why |\n| --- | --- |\n| `pod[*].container[ray].env.X` | ours |\n| plain | no |\n"
    patterns = documented_patterns(text)
    assert patterns == ["pod[*].container[ray].env.X"]
    assert is_documented("pod[head].container[ray].env.X", patterns)
    assert not is_documented("pod[head].container[ray].env.Y", patterns)
