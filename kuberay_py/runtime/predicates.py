"""Predicates: which cache events are worth a reconcile.

A predicate answers per event kind. The built-ins pass creates and deletes and judge updates::

    for_(WIDGETS, predicates=[any_of(GenerationChanged(), LabelsChanged(), AnnotationsChanged())])

Several predicates given to ``for_``/``owns``/``watches`` must all pass.
"""

from __future__ import annotations

from typing import Protocol

from kuberay_py.runtime.objects import Obj, metadata


class Predicate(Protocol):
    def create(self, obj: Obj) -> bool: ...

    def update(self, old: Obj, new: Obj) -> bool: ...

    def delete(self, obj: Obj) -> bool: ...


class UpdatePredicate:
    """Base for predicates that only judge updates."""

    def create(self, obj: Obj) -> bool:
        return True

    def delete(self, obj: Obj) -> bool:
        return True

    def update(self, old: Obj, new: Obj) -> bool:
        raise NotImplementedError


class GenerationChanged(UpdatePredicate):
    """Updates that change ``metadata.generation`` (the spec), not status-only or metadata-only writes."""

    def update(self, old: Obj, new: Obj) -> bool:
        return metadata(old).get("generation") != metadata(new).get("generation")


class LabelsChanged(UpdatePredicate):
    def update(self, old: Obj, new: Obj) -> bool:
        return (metadata(old).get("labels") or {}) != (metadata(new).get("labels") or {})


class AnnotationsChanged(UpdatePredicate):
    def update(self, old: Obj, new: Obj) -> bool:
        return (metadata(old).get("annotations") or {}) != (metadata(new).get("annotations") or {})


class _AnyOf:
    def __init__(self, predicates: tuple[Predicate, ...]) -> None:
        self._predicates = predicates

    def create(self, obj: Obj) -> bool:
        return any(p.create(obj) for p in self._predicates)

    def update(self, old: Obj, new: Obj) -> bool:
        return any(p.update(old, new) for p in self._predicates)

    def delete(self, obj: Obj) -> bool:
        return any(p.delete(obj) for p in self._predicates)


def any_of(*predicates: Predicate) -> Predicate:
    """Passes when at least one predicate passes."""
    return _AnyOf(predicates)


def labels_or_annotations_changed() -> Predicate:
    return any_of(LabelsChanged(), AnnotationsChanged())
