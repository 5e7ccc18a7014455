"""The stale-cache guard, and multi-host replicas that live and die whole."""

from __future__ import annotations

from typing import Any

from kuberay_py.builders import REPLICA_NAME_LABEL
from kuberay_py.controllers.raycluster.expectations import Expectations
from kuberay_py.controllers.raycluster.plan import DeleteReason, plan_pods
from tests.unit.controllers.podfactory import HASHES, cluster, pod


def test_expectations_wait_for_the_cache_to_reach_our_writes() -> None:
    seen = {"rv": "10"}
    clock = {"now": 0.0}
    expectations = Expectations(lambda: seen["rv"], report_after=60, clock=lambda: clock["now"])
    assert expectations.satisfied("ns/a")
    expectations.expect("ns/a", "15")
    expectations.expect("ns/a", "12")  # an older write does not lower the bar
    assert not expectations.satisfied("ns/a")
    seen["rv"] = "14"
    assert not expectations.satisfied("ns/a")
    assert expectations.satisfied("ns/b"), "other clusters are never held up"
    seen["rv"] = "15"
    assert expectations.satisfied("ns/a") and len(expectations) == 0


def test_expectations_never_fail_open_and_report_a_cache_left_behind() -> None:
    seen: dict[str, str | None] = {"rv": None}  # the informer is relisting, or its watch stalled
    clock = {"now": 0.0}
    expectations = Expectations(lambda: seen["rv"], report_after=60, clock=lambda: clock["now"])
    expectations.expect("ns/a", "100")
    clock["now"] = 59.0
    assert not expectations.satisfied("ns/a") and expectations.behind("ns/a") is None
    clock["now"] = 600.0
    assert not expectations.satisfied("ns/a"), "a stale cache is never planned on"
    assert expectations.behind("ns/a") == 600.0 and expectations.stalled() == 1
    expectations.expect("ns/a", "120")  # a later write restarts the clock
    assert expectations.behind("ns/a") is None and expectations.stalled() == 0
    seen["rv"] = "120"
    assert expectations.satisfied("ns/a") and expectations.behind("ns/a") is None


def host(group: str, replica: str, **kwargs: Any) -> dict[str, Any]:
    p = pod(group, **kwargs)
    p["metadata"]["labels"][REPLICA_NAME_LABEL] = replica
    return p


def test_multi_host_groups_create_whole_replicas() -> None:
    rc = cluster({"groupName": "tpu", "replicas": 2, "numOfHosts": 4})
    assert plan_pods(rc, [pod("headgroup")], HASHES).creations == {"tpu": 8}
    one_replica = [host("tpu", "tpu-a") for _ in range(4)]
    assert plan_pods(rc, [pod("headgroup"), *one_replica], HASHES).creations == {"tpu": 4}


def test_a_replica_that_lost_a_host_is_replaced_whole() -> None:
    rc = cluster({"groupName": "tpu", "replicas": 1, "numOfHosts": 2})
    survivor = host("tpu", "tpu-a")
    failed = host("tpu", "tpu-a", phase="Failed")
    plan = plan_pods(rc, [pod("headgroup"), survivor, failed], HASHES)
    reasons = {d.pod["metadata"]["name"]: d.reason for d in plan.deletions}
    assert reasons == {
        failed["metadata"]["name"]: DeleteReason.FINISHED,
        survivor["metadata"]["name"]: DeleteReason.REPLICA_INCOMPLETE,
    }
    assert plan.creations == {"tpu": 2}


def test_naming_one_host_in_workers_to_delete_removes_its_replica() -> None:
    a = [host("tpu", "tpu-a") for _ in range(2)]
    b = [host("tpu", "tpu-b") for _ in range(2)]
    rc = cluster(
        {
            "groupName": "tpu",
            "replicas": 1,
            "numOfHosts": 2,
            "scaleStrategy": {"workersToDelete": [a[1]["metadata"]["name"]]},
        },
        autoscaling=True,
    )
    plan = plan_pods(rc, [pod("headgroup"), *a, *b], HASHES)
    assert {d.pod["metadata"]["name"] for d in plan.deletions} == {p["metadata"]["name"] for p in a}
    assert plan.creations == {}


def test_multi_host_scale_down_removes_whole_replicas() -> None:
    replicas = [[host("tpu", f"tpu-{r}") for _ in range(2)] for r in "abc"]
    rc = cluster({"groupName": "tpu", "replicas": 1, "numOfHosts": 2})
    plan = plan_pods(rc, [pod("headgroup"), *(p for r in replicas for p in r)], HASHES)
    deleted = {d.pod["metadata"]["labels"][REPLICA_NAME_LABEL] for d in plan.deletions}
    assert len(plan.deletions) == 4 and len(deleted) == 2
