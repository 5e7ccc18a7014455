"""An indexed in-memory store of objects of one resource, keyed by namespace/name.

The store keeps exactly one reference per object (the dict decoded from the API, after the informer's
transform); lookups return those same dicts, so callers must not mutate them (see ``objects.clone``).

Indexes map a string value to the keys of the objects that produce it. Three are always present:

* ``namespace``: the object's namespace;
* ``owner``: the uid of the object's controller ownerReference;
* ``label``: one ``key=value`` entry per label.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping

from kuberay_py.runtime.objects import Obj, controller_of, key_of, metadata
from kuberay_py.runtime.resources import ObjectKey
from kuberay_py.runtime.selectors import LabelSelector

IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"
OWNER_INDEX = "owner"
LABEL_INDEX = "label"


def index_by_namespace(obj: Obj) -> Iterable[str]:
    return (metadata(obj).get("namespace", ""),)


def index_by_controller_uid(obj: Obj) -> Iterable[str]:
    ref = controller_of(obj)
    return (ref["uid"],) if ref and ref.get("uid") else ()


def index_by_label(obj: Obj) -> Iterable[str]:
    labels = metadata(obj).get("labels") or {}
    return [label_index_value(k, v) for k, v in labels.items()]


def label_index_value(key: str, value: str) -> str:
    """The ``label`` index value for one label; interned, as most pairs repeat across many objects."""
    return sys.intern(f"{key}={value}")


INDEXERS: Mapping[str, IndexFunc] = {
    NAMESPACE_INDEX: index_by_namespace,
    OWNER_INDEX: index_by_controller_uid,
    LABEL_INDEX: index_by_label,
}


class Store:
    """Objects by key, with secondary indexes kept in step on every change."""

    def __init__(self) -> None:
        self._items: dict[ObjectKey, Obj] = {}
        self._indexers = INDEXERS
        # A value with one object maps to its key directly, with several to a set: many label values
        # (node ids, hashes) are unique, and an empty set costs more than the key itself.
        self._indices: dict[str, dict[str, ObjectKey | set[ObjectKey]]] = {
            name: {} for name in self._indexers
        }

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def snapshot_keys(self) -> list[ObjectKey]:
        return list(self._items)

    def values(self) -> list[Obj]:
        return list(self._items.values())

    def get(self, key: ObjectKey) -> Obj | None:
        return self._items.get(key)

    def upsert(self, obj: Obj) -> Obj | None:
        """Store ``obj``, returning the object it replaced (if any)."""
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def delete(self, key: ObjectKey) -> Obj | None:
        """Remove and return the object at ``key`` (None if there was none)."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def by_index(self, index: str, value: str) -> list[Obj]:
        """Objects whose ``index`` function produced ``value``."""
        return [self._items[k] for k in _members(self._indices[index].get(value))]

    def _bucket(self, index: str, value: str) -> set[ObjectKey]:
        bucket = self._indices[index].get(value)
        if bucket is None:
            return set()
        return bucket if isinstance(bucket, set) else {bucket}

    def index_values(self, index: str) -> list[str]:
        return list(self._indices[index])

    def select(
        self,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        owner_uid: str | None = None,
    ) -> list[Obj]:
        """Objects matching every given filter, narrowed through the indexes first."""
        candidates: set[ObjectKey] | None = None
        narrowing: list[set[ObjectKey]] = []
        if namespace:
            narrowing.append(self._bucket(NAMESPACE_INDEX, namespace))
        if owner_uid:
            narrowing.append(self._bucket(OWNER_INDEX, owner_uid))
        for key, value in labels.equality_terms() if labels else ():
            narrowing.append(self._bucket(LABEL_INDEX, f"{key}={value}"))
        for keys in sorted(narrowing, key=len):
            candidates = set(keys) if candidates is None else candidates & keys
            if not candidates:
                return []
        objects = self._items.values() if candidates is None else (self._items[k] for k in candidates)
        if labels:
            return [o for o in objects if labels.matches(metadata(o).get("labels"))]
        return list(objects)

    def _index(self, key: ObjectKey, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                bucket = index.get(value)
                if bucket is None:
                    index[sys.intern(value)] = key
                elif isinstance(bucket, set):
                    bucket.add(key)
                elif bucket != key:
                    index[value] = {bucket, key}

    def _unindex(self, key: ObjectKey, obj: Obj) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                bucket = index.get(value)
                if bucket is None:
                    continue
                if isinstance(bucket, set):
                    bucket.discard(key)
                    if len(bucket) == 1:
                        index[value] = next(iter(bucket))
                elif bucket == key:
                    del index[value]


def _members(bucket: ObjectKey | set[ObjectKey] | None) -> Iterable[ObjectKey]:
    if bucket is None:
        return ()
    return bucket if isinstance(bucket, set) else (bucket,)
