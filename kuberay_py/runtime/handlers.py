"""Turning cache events into reconcile requests.

A :class:`Mapper` says which requests an object stands for:

* :func:`map_to_self`: the object itself (used by ``for_``);
* :func:`map_to_controller`: the object's controller ownerReference, if it is of the owner's kind (``owns``);
* any ``Callable[[Obj], Iterable[Request]]`` of your own (``watches``), e.g. all widgets using a ConfigMap.

:class:`EnqueueHandler` joins a mapper, predicates and a work queue into an informer event handler. On an
update both the old and the new object are mapped, so a child that changes owner wakes up both owners.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from kuberay_py.runtime.objects import Obj, controller_of, metadata
from kuberay_py.runtime.predicates import Predicate
from kuberay_py.runtime.reconcile import Request
from kuberay_py.runtime.resources import Resource
from kuberay_py.runtime.workqueue import WorkQueue

Mapper = Callable[[Obj], Iterable[Request]]


def map_to_self(obj: Obj) -> Iterable[Request]:
    meta = metadata(obj)
    return (Request(meta.get("namespace", ""), meta.get("name", "")),)


def map_to_controller(owner: Resource) -> Mapper:
    """Map a child to its controlling owner of kind ``owner`` (same namespace as the child)."""

    def mapper(obj: Obj) -> Iterable[Request]:
        ref = controller_of(obj)
        if ref is None or ref.get("kind") != owner.kind:
            return ()
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        if group != owner.group:
            return ()
        namespace = metadata(obj).get("namespace", "") if owner.namespaced else ""
        return (Request(namespace, ref["name"]),)

    return mapper


class EnqueueHandler:
    """An informer event handler that filters with predicates and enqueues mapped requests."""

    def __init__(
        self, queue: WorkQueue[Request], mapper: Mapper, predicates: Sequence[Predicate] = ()
    ) -> None:
        self._queue = queue
        self._mapper = mapper
        self._predicates = tuple(predicates)

    def on_add(self, obj: Obj) -> None:
        if all(p.create(obj) for p in self._predicates):
            self._enqueue(obj)

    def on_update(self, old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in self._predicates):
            self._enqueue(old)
            self._enqueue(new)

    def on_delete(self, obj: Obj) -> None:
        if all(p.delete(obj) for p in self._predicates):
            self._enqueue(obj)

    def _enqueue(self, obj: Obj) -> None:
        for request in self._mapper(obj):
            self._queue.add(request)
