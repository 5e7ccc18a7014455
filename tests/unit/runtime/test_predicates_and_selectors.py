import pytest

from kuberay_py.runtime.handlers import map_to_controller, map_to_self
from kuberay_py.runtime.predicates import (
    AnnotationsChanged,
    GenerationChanged,
    LabelsChanged,
    any_of,
    labels_or_annotations_changed,
)
from kuberay_py.runtime.reconcile import Request
from kuberay_py.runtime.resources import NAMESPACES, Resource
from kuberay_py.runtime.selectors import LabelSelector


def obj(generation=1, labels=None, annotations=None, rv="1"):
    meta = {"name": "x", "namespace": "ns", "generation": generation, "resourceVersion": rv}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta}


def test_generation_changed():
    p = GenerationChanged()
    assert p.create(obj()) and p.delete(obj())
    assert not p.update(obj(1), obj(1, labels={"a": "b"}))
    assert p.update(obj(1), obj(2))


def test_labels_and_annotations_changed():
    assert LabelsChanged().update(obj(labels={"a": "1"}), obj(labels={"a": "2"}))
    assert not LabelsChanged().update(obj(labels={}), obj())
    assert AnnotationsChanged().update(obj(), obj(annotations={"a": "1"}))
    assert not AnnotationsChanged().update(obj(annotations={"a": "1"}), obj(annotations={"a": "1"}))
    either = labels_or_annotations_changed()
    assert either.update(obj(), obj(annotations={"a": "1"}))
    assert not either.update(obj(1), obj(2))


def test_any_of():
    spec_or_labels = any_of(GenerationChanged(), LabelsChanged())
    assert spec_or_labels.update(obj(1), obj(1, labels={"a": "b"}))
    assert not spec_or_labels.update(obj(1), obj(1, annotations={"a": "b"}))


def test_mappers():
    child = {"metadata": {"name": "c", "namespace": "ns", "ownerReferences": [
        {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": "1", "controller": True},
    ]}}  # fmt: skip
    widgets = Resource("example.com", "v1", "widgets", "Widget")
    assert list(map_to_self(child)) == [Request("ns", "c")]
    assert list(map_to_controller(widgets)(child)) == [Request("ns", "w")]
    assert list(map_to_controller(Resource("other.com", "v1", "widgets", "Widget"))(child)) == []
    core_owned = {"metadata": {"name": "c", "namespace": "ns", "ownerReferences": [
        {"apiVersion": "v1", "kind": "Namespace", "name": "ns", "uid": "2", "controller": True},
    ]}}  # fmt: skip
    assert list(map_to_controller(NAMESPACES)(core_owned)) == [Request("", "ns")]


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {"a": "1"}, True),
        ("a=1", {"a": "1"}, True),
        ("a==1", {"a": "2"}, False),
        ("a!=1", {}, True),
        ("a", {"a": ""}, True),
        ("!a", {"a": ""}, False),
        ("a in (1, 2),b notin (3)", {"a": "2", "b": "4"}, True),
        ("a in (1,2)", {"a": "3"}, False),
        ("a notin (1)", {}, True),
        ("n>3", {"n": "4"}, True),
        ("n<3", {"n": "x"}, False),
        ("app.kubernetes.io/name=ray,tier", {"app.kubernetes.io/name": "ray", "tier": "x"}, True),
    ],
)
def test_label_selector_matching(selector, labels, expected):
    assert LabelSelector.parse(selector).matches(labels) is expected


def test_label_selector_round_trips():
    selector = LabelSelector.parse("b in (2,1), a=x, !c, d")
    assert str(selector) == "b in (1,2),a=x,!c,d"
    assert LabelSelector.parse(str(selector)) == selector
    assert selector.equality_terms() == [("a", "x")]
    with pytest.raises(ValueError, match="invalid"):
        LabelSelector.parse("a b")
