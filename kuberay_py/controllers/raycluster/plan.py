"""Decide which pods to create and delete for a RayCluster, as a pure function of the spec and the pods.

The reconciler executes the plan; keeping the decision free of I/O makes every scaling rule unit-testable:

- finished pods (Failed or Succeeded, or whose Ray container exited for good while a sidecar keeps the pod
  Running) are deleted, and replaced like any missing pod;
- a suspended cluster (or group) loses all its pods, and gets them back on resume;
- exactly one head pod; duplicates are removed;
- each worker group gets `clamp(replicas, min, max) x numOfHosts` pods; pods named in
  `scaleStrategy.workersToDelete` are deleted if they belong to this cluster and group (unknown names are
  ignored); with autoscaling on, no other healthy worker is ever chosen for deletion by the operator;
- a multi-host replica (numOfHosts > 1) lives and dies whole: naming one of its pods in workersToDelete
  removes the replica, and a replica that lost a host is removed and created again;
- pods built from an outdated template are replaced per `upgradeStrategy`: Recreate deletes every pod,
  RollingUpdate a few at a time (at most `maxUnavailable` of a group missing or unready), never touching a
  group whose `workersToDelete` is still pending, then the head; None leaves them (the status counts them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kuberay_py.api import RayCluster, RollingUpdate, UpgradeType, WorkerGroupSpec
from kuberay_py.builders import HOST_INDEX_LABEL, REPLICA_NAME_LABEL, TEMPLATE_HASH_ANNOTATION, replica_name
from kuberay_py.builders.names import short_hash
from kuberay_py.controllers.raycluster.pod_facts import (
    Pod,
    created_at,
    group_of,
    is_active,
    is_finished,
    is_head,
    is_ready,
    removal_order,
    template_hash_of,
)
from kuberay_py.controllers.raycluster.vocabulary import DeleteReason
from kuberay_py.runtime.objects import is_deleting, labels_of, name_of


@dataclass(frozen=True, slots=True)
class Deletion:
    pod: Pod
    reason: DeleteReason


@dataclass(frozen=True, slots=True)
class Adoption:
    """Metadata to stamp on a pod another operator made (KubeRay, say), so it is managed as if made here:
    the template hash of its group now, and for a multi-host group the replica it is counted in."""

    pod: Pod
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    def patch(self) -> dict[str, object]:
        metadata: dict[str, object] = {}
        if self.labels:
            metadata["labels"] = dict(self.labels)
        if self.annotations:
            metadata["annotations"] = dict(self.annotations)
        return {"metadata": metadata}


@dataclass(slots=True)
class Plan:
    deletions: list[Deletion] = field(default_factory=list)
    create_head: bool = False
    creations: dict[str, int] = field(default_factory=dict)  # worker group name -> pods to create
    outdated_pods: int = 0  # active pods whose template is not the current one
    held_back: dict[str, int] = field(default_factory=dict)  # group -> surplus pods kept for the autoscaler
    adoptions: list[Adoption] = field(default_factory=list)

    def delete(self, pods: list[Pod], reason: DeleteReason) -> None:
        self.deletions.extend(Deletion(p, reason) for p in pods)

    @property
    def is_empty(self) -> bool:
        return not self.deletions and not self.create_head and not any(self.creations.values())


def plan_pods(cluster: RayCluster, pods: list[Pod], desired_hashes: Mapping[str, str]) -> Plan:
    """The actions that bring `pods` (every pod of this cluster in the cache) to the desired state.

    `desired_hashes` maps each group (the head as `headgroup`) to the template hash its new pods carry.
    """
    spec = cluster.spec
    plan = Plan()
    plan.delete([p for p in pods if is_finished(p) and not is_deleting(p)], DeleteReason.FINISHED)
    active = [p for p in pods if is_active(p)]

    def outdated(pod: Pod) -> bool:
        # Only a pod this operator stamped, of a group that still exists, can be out of date: an adopted pod
        # (no hash) is left as it is, and a removed group's pods go as GroupRemoved, touching no other group.
        recorded, wanted = template_hash_of(pod), desired_hashes.get(group_of(pod))
        return recorded is not None and wanted is not None and recorded != wanted

    plan.outdated_pods = sum(1 for p in active if outdated(p))
    # An adopted pod counts as made from its group's template as it is now: it is not outdated until the
    # user changes the template, and then it is replaced like any other pod.
    stamps = {
        id(p): {TEMPLATE_HASH_ANNOTATION: desired_hashes[group_of(p)]}
        for p in active
        if template_hash_of(p) is None and group_of(p) in desired_hashes
    }
    replica_labels: dict[int, dict[str, str]] = {}

    if spec.is_suspended():
        plan.delete(active, DeleteReason.SUSPENDED)
        return plan
    strategy = spec.effective_upgrade_strategy()
    if strategy.type == UpgradeType.RECREATE and plan.outdated_pods:
        plan.delete(active, DeleteReason.RECREATE)
        return plan

    heads = [p for p in active if is_head(p)]
    if not heads:
        plan.create_head = True
    elif len(heads) > 1:
        # Keep the ready one that has run longest; the rest are leftovers of a lost race.
        keep = min(heads, key=lambda p: (not is_ready(p), created_at(p), name_of(p)))
        plan.delete([p for p in heads if p is not keep], DeleteReason.DUPLICATE_HEAD)

    groups = {g.group_name: g for g in spec.worker_groups()}
    workers: dict[str, list[Pod]] = {name: [] for name in groups}
    for pod in active:
        if is_head(pod):
            continue
        group_name = group_of(pod)
        if group_name in workers:
            workers[group_name].append(pod)
        else:
            plan.delete([pod], DeleteReason.GROUP_REMOVED)

    rolling = strategy.rolling_update if strategy.type == UpgradeType.ROLLING_UPDATE else None
    workers_current = True
    for name, group in groups.items():
        remaining = _plan_group(
            plan, group, workers[name], pods, outdated, rolling, spec.autoscaling_enabled(), replica_labels
        )
        workers_current = workers_current and not any(outdated(p) for p in remaining)

    deleted = {id(d.pod) for d in plan.deletions}
    for pod in active:
        labels, annotations = replica_labels.get(id(pod), {}), stamps.get(id(pod), {})
        if (labels or annotations) and id(pod) not in deleted:
            plan.adoptions.append(Adoption(pod, labels, annotations))

    # The head goes last and alone: replacing it restarts the cluster's control processes.
    if (
        rolling is not None
        and workers_current
        and len(heads) == 1
        and outdated(heads[0])
        and not plan.deletions
    ):
        plan.delete(heads, DeleteReason.ROLLING_UPDATE)
    return plan


def _replicas(
    group: WorkerGroupSpec, pods: list[Pod], replica_labels: dict[int, dict[str, str]]
) -> tuple[list[list[Pod]], list[Pod]]:
    """The group's pods as replicas (a pod alone, or all hosts of a multi-host replica) and the stray pods
    of replicas that lost a host, which cannot work and must go.

    Pods with no replica label were made by an operator that does not record replicas (KubeRay before
    it did): they are counted in replicas of `numOfHosts` in the order they were made, and the labels that
    say so go into `replica_labels` to be stamped on them, so the grouping holds from then on."""
    hosts = group.num_of_hosts
    if hosts <= 1:
        return [[p] for p in pods], []
    by_replica: dict[str, list[Pod]] = {}
    unlabelled = sorted(
        (p for p in pods if REPLICA_NAME_LABEL not in labels_of(p)), key=lambda p: (created_at(p), name_of(p))
    )
    for pod in pods:
        if REPLICA_NAME_LABEL in labels_of(pod):
            by_replica.setdefault(labels_of(pod)[REPLICA_NAME_LABEL], []).append(pod)
    strays: list[Pod] = []
    for start in range(0, len(unlabelled), hosts):
        chunk = unlabelled[start : start + hosts]
        if len(chunk) < hosts:
            strays.extend(chunk)
            continue
        name = replica_name(group.group_name, short_hash(name_of(chunk[0]), 6))
        by_replica[name] = chunk
        for index, pod in enumerate(chunk):
            replica_labels[id(pod)] = {REPLICA_NAME_LABEL: name, HOST_INDEX_LABEL: str(index)}
    whole = [r for r in by_replica.values() if len(r) == hosts]
    broken = strays + [p for r in by_replica.values() if len(r) != hosts for p in r]
    return whole, broken


def _replica_removal_order(replicas: list[list[Pod]]) -> list[list[Pod]]:
    """Replicas in the order to remove them, judged by their least healthy pod."""
    worst = {id(r): removal_order(r)[0] for r in replicas}
    ranked = removal_order(list(worst.values()))
    position = {id(p): i for i, p in enumerate(ranked)}
    return sorted(replicas, key=lambda r: position[id(worst[id(r)])])


def _plan_group(
    plan: Plan,
    group: WorkerGroupSpec,
    group_pods: list[Pod],
    all_pods: list[Pod],
    outdated: Callable[[Pod], bool],
    rolling: RollingUpdate | None,
    autoscaling: bool,
    replica_labels: dict[int, dict[str, str]],
) -> list[Pod]:
    """Plan one worker group in whole replicas; returns the pods that stay."""
    if group.suspend:
        plan.delete(group_pods, DeleteReason.GROUP_SUSPENDED)
        return []
    hosts = group.num_of_hosts
    replicas, broken = _replicas(group, group_pods, replica_labels)
    plan.delete(broken, DeleteReason.REPLICA_INCOMPLETE)
    named = set(group.workers_to_delete)
    doomed = [r for r in replicas if any(name_of(p) in named for p in r)]
    plan.delete([p for r in doomed for p in r], DeleteReason.WORKERS_TO_DELETE)
    remaining = [r for r in replicas if not any(r is d for d in doomed)]
    desired_pods = group.desired_pods()

    if rolling is not None and desired_pods > 0:
        stale = [r for r in remaining if any(outdated(p) for p in r)]
        if stale and not _workers_to_delete_pending(group, all_pods):
            unavailable = max(0, desired_pods - sum(1 for r in remaining for p in r if is_ready(p)))
            budget = rolling.max_unavailable_pods(desired_pods) - unavailable
            # A multi-host replica goes as a whole, even when it is wider than maxUnavailable.
            count = budget // hosts if budget >= hosts else (1 if unavailable == 0 else 0)
            replaced = _replica_removal_order(stale)[:count]
            plan.delete([p for r in replaced for p in r], DeleteReason.ROLLING_UPDATE)
            remaining = [r for r in remaining if not any(r is x for x in replaced)]

    missing = group.desired_replicas() - len(remaining)
    if missing > 0:
        plan.creations[group.group_name] = missing * hosts
    elif missing < 0:
        if autoscaling:
            # Only the autoscaler picks workers to remove (through workersToDelete).
            plan.held_back[group.group_name] = -missing * hosts
        else:
            surplus = _replica_removal_order(remaining)[:-missing]
            plan.delete([p for r in surplus for p in r], DeleteReason.SCALE_DOWN)
            remaining = [r for r in remaining if not any(r is x for x in surplus)]
    return [p for r in remaining for p in r]


def _workers_to_delete_pending(group: WorkerGroupSpec, all_pods: list[Pod]) -> bool:
    """True while a pod named in the group's workersToDelete still exists (even if terminating)."""
    named = set(group.workers_to_delete)
    return bool(named) and any(name_of(p) in named and group_of(p) == group.group_name for p in all_pods)
