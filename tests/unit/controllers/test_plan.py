"""Scaling, replacement and rollout decisions, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from kuberay_py.builders import HOST_INDEX_LABEL, REPLICA_NAME_LABEL, TEMPLATE_HASH_ANNOTATION
from kuberay_py.controllers.raycluster.plan import Plan, plan_pods
from kuberay_py.controllers.raycluster.vocabulary import DeleteReason
from tests.unit.controllers.podfactory import HASHES, cluster, pod

NONE = {"type": "None"}


def deleted(plan: Plan, reason: str | None = None) -> set[str]:
    return {d.pod["metadata"]["name"] for d in plan.deletions if reason is None or d.reason == reason}


def test_empty_cluster_creates_head_and_clamped_workers() -> None:
    rc = cluster(
        {"groupName": "small", "replicas": 3, "minReplicas": 1, "maxReplicas": 10},
        {"groupName": "big", "replicas": 20, "minReplicas": 0, "maxReplicas": 5, "numOfHosts": 2},
    )
    plan = plan_pods(rc, [], HASHES)
    assert plan.create_head
    assert plan.creations == {"small": 3, "big": 10}
    assert plan.deletions == []


def test_replicas_below_min_are_raised_to_min() -> None:
    rc = cluster({"groupName": "small", "replicas": 0, "minReplicas": 2, "maxReplicas": 4})
    assert plan_pods(rc, [pod("headgroup")], HASHES).creations == {"small": 2}


def test_steady_state_plans_nothing() -> None:
    rc = cluster({"groupName": "small", "replicas": 2})
    plan = plan_pods(rc, [pod("headgroup"), pod("small"), pod("small")], HASHES)
    assert plan.is_empty and plan.outdated_pods == 0


def test_pods_being_deleted_do_not_count_and_are_replaced() -> None:
    rc = cluster({"groupName": "small", "replicas": 2})
    pods = [pod("headgroup"), pod("small"), pod("small", deleting=True)]
    plan = plan_pods(rc, pods, HASHES)
    assert plan.creations == {"small": 1}
    assert plan.deletions == []


def test_finished_pods_are_deleted_and_replaced() -> None:
    rc = cluster({"groupName": "small", "replicas": 2})
    failed = pod("small", phase="Failed")
    done = pod("small", phase="Succeeded")
    failed_head = pod("headgroup", phase="Failed")
    plan = plan_pods(rc, [failed_head, failed, done, pod("small")], HASHES)
    assert deleted(plan, DeleteReason.FINISHED) == {
        n["metadata"]["name"] for n in (failed, done, failed_head)
    }
    assert plan.create_head
    assert plan.creations == {"small": 1}


def test_scale_down_without_autoscaling_removes_least_useful_newest_first() -> None:
    rc = cluster({"groupName": "small", "replicas": 2})
    old_ready, mid_ready, new_ready = pod("small"), pod("small"), pod("small")
    unready = pod("small", ready=False)
    unscheduled = pod("small", phase="Pending", scheduled=False)
    plan = plan_pods(rc, [pod("headgroup"), old_ready, mid_ready, new_ready, unready, unscheduled], HASHES)
    assert deleted(plan, DeleteReason.SCALE_DOWN) == {
        unscheduled["metadata"]["name"],
        unready["metadata"]["name"],
        new_ready["metadata"]["name"],
    }
    assert plan.creations == {}


def test_with_autoscaling_only_workers_to_delete_remove_healthy_workers() -> None:
    a, b, c = pod("small"), pod("small"), pod("small")
    rc = cluster({"groupName": "small", "replicas": 1}, autoscaling=True)
    plan = plan_pods(rc, [pod("headgroup"), a, b, c], HASHES)
    assert plan.deletions == []
    assert plan.held_back == {"small": 2}

    rc = cluster(
        {
            "groupName": "small",
            "replicas": 1,
            "scaleStrategy": {"workersToDelete": [a["metadata"]["name"], c["metadata"]["name"]]},
        },
        autoscaling=True,
    )
    plan = plan_pods(rc, [pod("headgroup"), a, b, c], HASHES)
    assert deleted(plan) == {a["metadata"]["name"], c["metadata"]["name"]}
    assert plan.creations == {}


def test_workers_to_delete_ignores_unknown_names_and_other_groups() -> None:
    small, big = pod("small"), pod("big")
    rc = cluster(
        {
            "groupName": "small",
            "replicas": 1,
            "scaleStrategy": {"workersToDelete": ["gone-long-ago", big["metadata"]["name"]]},
        },
        {"groupName": "big", "replicas": 1},
    )
    plan = plan_pods(rc, [pod("headgroup"), small, big], HASHES)
    assert plan.is_empty


def test_workers_to_delete_without_lowering_replicas_replaces_the_pod() -> None:
    a, b = pod("small"), pod("small")
    rc = cluster(
        {"groupName": "small", "replicas": 2, "scaleStrategy": {"workersToDelete": [a["metadata"]["name"]]}}
    )
    plan = plan_pods(rc, [pod("headgroup"), a, b], HASHES)
    assert deleted(plan, DeleteReason.WORKERS_TO_DELETE) == {a["metadata"]["name"]}
    assert plan.creations == {"small": 1}


def test_suspended_cluster_deletes_everything_and_creates_nothing() -> None:
    rc = cluster({"groupName": "small", "replicas": 2}, suspend=True)
    pods = [pod("headgroup"), pod("small"), pod("small"), pod("small", deleting=True)]
    plan = plan_pods(rc, pods, HASHES)
    assert len(deleted(plan, DeleteReason.SUSPENDED)) == 3
    assert not plan.create_head and plan.creations == {}


def test_suspended_group_is_emptied_while_others_stay() -> None:
    rc = cluster({"groupName": "small", "replicas": 2, "suspend": True}, {"groupName": "big", "replicas": 1})
    small = [pod("small"), pod("small")]
    plan = plan_pods(rc, [pod("headgroup"), *small, pod("big")], HASHES)
    assert deleted(plan, DeleteReason.GROUP_SUSPENDED) == {p["metadata"]["name"] for p in small}
    assert plan.creations == {}


def test_duplicate_heads_keep_the_ready_oldest() -> None:
    rc = cluster()
    first, second = pod("headgroup"), pod("headgroup")
    unready = pod("headgroup", ready=False)
    plan = plan_pods(rc, [unready, second, first], HASHES)
    assert deleted(plan, DeleteReason.DUPLICATE_HEAD) == {
        unready["metadata"]["name"],
        second["metadata"]["name"],
    }


def test_pods_of_removed_groups_are_deleted() -> None:
    rc = cluster({"groupName": "small", "replicas": 1})
    orphan = pod("big")
    plan = plan_pods(rc, [pod("headgroup"), pod("small"), orphan], HASHES)
    assert deleted(plan, DeleteReason.GROUP_REMOVED) == {orphan["metadata"]["name"]}


def test_no_strategy_replaces_nothing_but_counts_outdated_pods() -> None:
    rc = cluster({"groupName": "small", "replicas": 2}, upgrade=NONE)
    pods = [pod("headgroup", template_hash="old"), pod("small", template_hash="old"), pod("small")]
    plan = plan_pods(rc, pods, HASHES)
    assert plan.is_empty
    assert plan.outdated_pods == 2


def test_recreate_deletes_every_pod_when_any_template_changed() -> None:
    rc = cluster({"groupName": "small", "replicas": 2}, upgrade={"type": "Recreate"})
    pods = [pod("headgroup"), pod("small"), pod("small", template_hash="old")]
    plan = plan_pods(rc, pods, HASHES)
    assert len(deleted(plan, DeleteReason.RECREATE)) == 3
    assert not plan.create_head and plan.creations == {}


def test_rolling_update_respects_max_unavailable() -> None:
    rc = cluster(
        {"groupName": "small", "replicas": 4},
        upgrade={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
    )
    stale = [pod("small", template_hash="old") for _ in range(4)]
    plan = plan_pods(rc, [pod("headgroup"), *stale], HASHES)
    assert len(deleted(plan, DeleteReason.ROLLING_UPDATE)) == 2
    assert plan.creations == {"small": 2}

    # One replacement is still starting: only one more may go.
    fresh_unready = pod("small", ready=False)
    plan = plan_pods(rc, [pod("headgroup"), fresh_unready, pod("small"), *stale[:2]], HASHES)
    assert len(deleted(plan, DeleteReason.ROLLING_UPDATE)) == 1


def test_rolling_update_percentage_and_head_last() -> None:
    rc = cluster(
        {"groupName": "small", "replicas": 4},
        upgrade={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%"}},
    )
    head = pod("headgroup", template_hash="old")
    plan = plan_pods(rc, [head, pod("small", template_hash="old"), *(pod("small") for _ in range(3))], HASHES)
    assert len(deleted(plan, DeleteReason.ROLLING_UPDATE)) == 1
    assert head["metadata"]["name"] not in deleted(plan)

    plan = plan_pods(rc, [head, *(pod("small") for _ in range(4))], HASHES)
    assert deleted(plan, DeleteReason.ROLLING_UPDATE) == {head["metadata"]["name"]}


def test_rolling_update_waits_for_pending_workers_to_delete() -> None:
    victim = pod("small", deleting=True)
    rc = cluster(
        {
            "groupName": "small",
            "replicas": 2,
            "scaleStrategy": {"workersToDelete": [victim["metadata"]["name"]]},
        },
        upgrade={"type": "RollingUpdate"},
    )
    stale = [pod("small", template_hash="old"), pod("small", template_hash="old")]
    plan = plan_pods(rc, [pod("headgroup"), victim, *stale], HASHES)
    assert deleted(plan) == set()


def test_changing_replicas_alone_replaces_nothing() -> None:
    rc = cluster({"groupName": "small", "replicas": 5}, upgrade={"type": "RollingUpdate"})
    plan = plan_pods(rc, [pod("headgroup"), pod("small"), pod("small")], HASHES)
    assert plan.deletions == [] and plan.creations == {"small": 3}


def test_recreate_removing_a_group_touches_no_other_group() -> None:
    rc = cluster({"groupName": "small", "replicas": 2}, upgrade={"type": "Recreate"})
    removed = pod("big")  # its group is gone from the spec
    plan = plan_pods(rc, [pod("headgroup"), pod("small"), pod("small"), removed], HASHES)
    assert plan.outdated_pods == 0
    assert deleted(plan, DeleteReason.GROUP_REMOVED) == {removed["metadata"]["name"]}
    assert not deleted(plan, DeleteReason.RECREATE)


def test_adopted_pods_without_a_hash_are_not_outdated() -> None:
    rc = cluster({"groupName": "small", "replicas": 2}, upgrade={"type": "Recreate"})
    adopted = [pod("headgroup"), pod("small"), pod("small")]
    for p in adopted:
        del p["metadata"]["annotations"]
    plan = plan_pods(rc, adopted, HASHES)
    assert plan.is_empty and plan.outdated_pods == 0
    # Each is stamped with its group's hash now, so a later template change outdates it.
    stamped = {a.pod["metadata"]["name"]: dict(a.annotations) for a in plan.adoptions}
    assert stamped == {p["metadata"]["name"]: {TEMPLATE_HASH_ANNOTATION: "h1"} for p in adopted}
    assert all(not a.labels for a in plan.adoptions)


def test_stamped_adopted_pods_are_replaced_once_the_template_changes() -> None:
    rc = cluster({"groupName": "small", "replicas": 1}, upgrade={"type": "Recreate"})
    adopted = [pod("headgroup"), pod("small")]
    for p in adopted:
        del p["metadata"]["annotations"]
        p["metadata"]["annotations"] = dict(plan_pods(rc, [p], HASHES).adoptions[0].annotations)
    plan = plan_pods(rc, adopted, {**HASHES, "small": "h2"})
    assert plan.outdated_pods == 1
    assert deleted(plan, DeleteReason.RECREATE) == {p["metadata"]["name"] for p in adopted}


def test_unlabelled_multi_host_pods_are_adopted_as_replicas_in_creation_order() -> None:
    rc = cluster({"groupName": "big", "replicas": 2, "maxReplicas": 4, "numOfHosts": 2})
    hosts = [pod("big") for _ in range(5)]  # two whole replicas and one stray host
    plan = plan_pods(rc, [pod("headgroup"), *hosts], HASHES)
    assert plan.creations == {}
    assert deleted(plan, DeleteReason.REPLICA_INCOMPLETE) == {hosts[4]["metadata"]["name"]}
    labels = {a.pod["metadata"]["name"]: dict(a.labels) for a in plan.adoptions if a.labels}
    assert set(labels) == {p["metadata"]["name"] for p in hosts[:4]}
    replicas = [labels[p["metadata"]["name"]][REPLICA_NAME_LABEL] for p in hosts[:4]]
    assert replicas[0] == replicas[1] != replicas[2] == replicas[3]
    assert [labels[p["metadata"]["name"]][HOST_INDEX_LABEL] for p in hosts[:4]] == ["0", "1", "0", "1"]


def test_adopted_multi_host_replicas_keep_their_grouping_once_stamped() -> None:
    rc = cluster({"groupName": "big", "replicas": 2, "maxReplicas": 4, "numOfHosts": 2})
    hosts = [pod("big") for _ in range(4)]
    for adoption in plan_pods(rc, hosts, HASHES).adoptions:
        adoption.pod["metadata"]["labels"].update(adoption.labels)
        adoption.pod["metadata"]["annotations"].update(adoption.annotations)
    # The first replica loses a host: its other host goes, the second replica stays whole.
    plan = plan_pods(rc, [pod("headgroup"), hosts[1], hosts[2], hosts[3]], HASHES)
    assert deleted(plan, DeleteReason.REPLICA_INCOMPLETE) == {hosts[1]["metadata"]["name"]}
    assert plan.creations == {"big": 2}
    assert not [a for a in plan.adoptions if a.labels]


def _ray_exited(p: dict[str, Any], policy: str, exit_code: int, container: str = "ray") -> dict[str, Any]:
    p["spec"].update(restartPolicy=policy, containers=[{"name": "ray"}])
    p["status"]["containerStatuses"] = [
        {"name": "autoscaler"},
        {"name": container, "state": {"terminated": {"exitCode": exit_code}}},
    ]
    return p


@pytest.mark.parametrize(("policy", "exit_code"), [("Never", 1), ("Never", 0), ("OnFailure", 0)])
def test_a_pod_whose_ray_container_exited_for_good_is_replaced(policy: str, exit_code: int) -> None:
    rc = cluster({"groupName": "small", "replicas": 1})
    head = _ray_exited(pod("headgroup"), policy, exit_code)
    worker = _ray_exited(pod("small"), policy, exit_code)
    plan = plan_pods(rc, [head, worker], HASHES)
    assert deleted(plan, DeleteReason.FINISHED) == {head["metadata"]["name"], worker["metadata"]["name"]}
    assert plan.create_head and plan.creations == {"small": 1}


@pytest.mark.parametrize(
    ("policy", "exit_code", "container"),
    [("Always", 1, "ray"), ("OnFailure", 1, "ray"), ("Never", 1, "sidecar")],
)
def test_a_container_that_restarts_or_is_no_ray_container_replaces_nothing(
    policy: str, exit_code: int, container: str
) -> None:
    rc = cluster({"groupName": "small", "replicas": 1})
    head = _ray_exited(pod("headgroup"), policy, exit_code, container)
    plan = plan_pods(rc, [head, pod("small")], HASHES)
    assert plan.is_empty


def test_a_group_of_zero_hosts_plans_without_failing() -> None:
    rc = cluster({"groupName": "small", "replicas": 1, "numOfHosts": 0})
    plan = plan_pods(rc, [pod("headgroup"), pod("small")], HASHES)
    assert not deleted(plan, DeleteReason.REPLICA_INCOMPLETE)
