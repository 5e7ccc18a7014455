"""Deleting a fault-tolerant cluster: its state in Redis goes with it, or the deletion says why not.

A cluster with GCS fault tolerance carries the `ray.io/gcs-ft-redis-cleanup-finalizer` finalizer from its
first pass, before any pod exists. Once it is deleted:
1. its pods are deleted, and nothing happens until the head pod is gone (a GCS still running would write
   the keys back);
2. a Job owned by the cluster runs Ray's cleanup of the storage namespace (`builders.redis_cleanup`);
3. when the Job completes the finalizer is removed; when it fails, or the cluster's cleanup timeout
   (`ray.io/gcs-ft-deletion-timeout`, counted from the deletion) passes first, the finalizer is removed with
   a Warning naming the namespace left in Redis: an unreachable Redis never holds a deletion for ever.
Every step is an Event on the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import structlog

from kuberay_py.api import RayCluster
from kuberay_py.api.constants import REDIS_CLEANUP_FINALIZER
from kuberay_py.builders import BuildOptions
from kuberay_py.builders.faulttolerance import storage_namespace
from kuberay_py.builders.redis_cleanup import (
    build_redis_cleanup_job,
    deletion_timeout_seconds,
    redis_cleanup_job_name,
)
from kuberay_py.controllers.common import finalizers_of, guarded_patch
from kuberay_py.controllers.raycluster.plan import Deletion
from kuberay_py.controllers.raycluster.pod_facts import Pod, is_head
from kuberay_py.controllers.raycluster.podwriter import PodWriter
from kuberay_py.controllers.raycluster.vocabulary import RAYCLUSTERS, DeleteReason, EventReason
from kuberay_py.runtime import (
    JOBS,
    AlreadyExists,
    ApiError,
    Cache,
    Client,
    EventRecorder,
    NotFound,
    Result,
)
from kuberay_py.runtime.objects import Obj, is_deleting, job_finished, parse_time

log = structlog.get_logger("kuberay_py.controllers.raycluster")

# How often a deletion in progress is looked at again; pod and Job events wake it sooner.
_POLL_SECONDS: Final = 2.0


def has_finalizer(obj: Obj) -> bool:
    return REDIS_CLEANUP_FINALIZER in finalizers_of(obj)


def _seconds_since(timestamp: str) -> float:
    return (datetime.now(UTC) - parse_time(timestamp)).total_seconds()


@dataclass
class RedisCleanup:
    client: Client
    cache: Cache
    recorder: EventRecorder
    writer: PodWriter
    build: BuildOptions
    field_manager: str

    async def add_finalizer(self, obj: Obj) -> bool:
        """Put the finalizer on a fault-tolerant cluster; False when the write failed (the pass retries)."""
        if has_finalizer(obj):
            return True
        finalizers = [*finalizers_of(obj), REDIS_CLEANUP_FINALIZER]
        if not await self._set_finalizers(obj, finalizers):
            return False
        log.info("added the Redis cleanup finalizer", finalizer=REDIS_CLEANUP_FINALIZER)
        return True

    async def finalize(self, key: str, obj: Obj, pods: list[Pod]) -> Result:
        """One step of the deletion of a cluster that carries the finalizer."""
        try:
            cluster = RayCluster.from_manifest(obj)
        except ValueError:
            # A spec this version cannot read cannot be cleaned up after either.
            return await self._give_up(obj, "its spec cannot be read", None)
        storage = storage_namespace(cluster)
        if not cluster.fault_tolerance_enabled():
            return await self._give_up(obj, "fault tolerance was turned off before the deletion", storage)
        timeout = deletion_timeout_seconds(cluster)
        left = timeout - _seconds_since(obj["metadata"]["deletionTimestamp"])
        # Back at the deadline at the latest, so that the timeout is kept to the second.
        poll = Result(requeue_after=max(min(_POLL_SECONDS, left), 0.1))
        if left <= 0:
            why = f"the cleanup did not finish within {timeout}s (ray.io/gcs-ft-deletion-timeout)"
            return await self._give_up(obj, why, storage, reason=EventReason.REDIS_CLEANUP_TIMED_OUT)

        alive = [p for p in pods if not is_deleting(p)]
        if alive:
            deleted = await self.writer.delete(
                key, [Deletion(p, DeleteReason.CLUSTER_DELETED) for p in alive]
            )
            if deleted.removed:
                note = f"Deleted {len(deleted.removed)} Pods of the deleted cluster before cleaning up Redis"
                self.recorder.normal(obj, EventReason.DELETED_POD, note)
        if any(is_head(p) for p in pods):
            return poll  # the head's GCS must be gone before its keys are deleted

        job = self.cache.get(JOBS, redis_cleanup_job_name(cluster), cluster.namespace)
        if job is None:
            return await self._create_job(obj, cluster, poll)
        finished = job_finished(job)
        if finished is None:
            return poll
        if finished["type"] == "Failed":
            why = f"the Redis cleanup Job {cluster.namespace}/{job['metadata']['name']} failed"
            return await self._give_up(obj, why, storage, reason=EventReason.REDIS_CLEANUP_FAILED)
        if not await self._remove_finalizer(obj):
            return Result(requeue=True)
        note = f"Deleted the storage namespace {storage} from Redis; removed the finalizer"
        self.recorder.normal(obj, EventReason.REDIS_CLEANUP_COMPLETED, note)
        return Result()

    async def _create_job(self, obj: Obj, cluster: RayCluster, poll: Result) -> Result:
        job = build_redis_cleanup_job(cluster, self.build)
        name = f"{cluster.namespace}/{job['metadata']['name']}"
        try:
            await self.client.create(JOBS, job, cluster.namespace, field_manager=self.field_manager)
        except AlreadyExists:
            return poll  # made by an earlier pass; the cache shows it soon
        except ApiError as error:
            self.recorder.warning(
                obj,
                EventReason.FAILED_TO_CREATE_REDIS_CLEANUP_JOB,
                f"Failed to create Redis cleanup Job {name}, {error}",
            )
            return Result(requeue=True)
        self.recorder.normal(obj, EventReason.CREATED_REDIS_CLEANUP_JOB, f"Created Redis cleanup Job {name}")
        return poll

    async def _give_up(
        self,
        obj: Obj,
        why: str,
        storage: str | None,
        *,
        reason: EventReason = EventReason.REDIS_CLEANUP_SKIPPED,
    ) -> Result:
        """Remove the finalizer with a Warning naming what is left in Redis (`storage`, if known)."""
        if not await self._remove_finalizer(obj):
            return Result(requeue=True)
        left = f"; delete the keys of storage namespace {storage} from Redis by hand" if storage else ""
        self.recorder.warning(obj, reason, f"Removed the Redis cleanup finalizer: {why}{left}")
        return Result()

    async def _remove_finalizer(self, obj: Obj) -> bool:
        kept = [f for f in finalizers_of(obj) if f != REDIS_CLEANUP_FINALIZER]
        return await self._set_finalizers(obj, kept)

    async def _set_finalizers(self, obj: Obj, finalizers: list[str]) -> bool:
        meta = obj["metadata"]
        # The resourceVersion makes the write fail rather than drop a finalizer someone else added meanwhile.
        patch = guarded_patch(obj, {"metadata": {"finalizers": finalizers}})
        try:
            await self.client.patch(
                RAYCLUSTERS, meta["name"], patch, meta["namespace"], field_manager=self.field_manager
            )
        except NotFound:
            return True
        except ApiError as error:  # a Conflict among them: the next pass reads the object again
            log.info("writing the finalizers failed; trying again", error=str(error))
            return False
        return True
