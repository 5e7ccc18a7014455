import pytest

from kuberay_py.runtime.handlers import map_to_controller, map_to_self
from kuberay_py.runtime.predicates import (
    AnnotationsChanged,
    GenerationChanged,
    LabelsChanged,
    ObjectFilter,
    ResourceVersionChanged,
    all_of,
    any_of,
    labels_or_annotations_changed,
)
from kuberay_py.runtime.reconcile import Request
from kuberay_py.runtime.resources import NAMESPACES, Resource
from kuberay_py.runtime.selectors import FieldSelector, LabelSelector
from kuberay_py.testing.patches import PatchError, apply_json_patch, apply_merge_patch, merge_patch_diff


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


def test_labels_annotations_and_resource_version_changed():
    assert LabelsChanged().update(obj(labels={"a": "1"}), obj(labels={"a": "2"}))
    assert not LabelsChanged().update(obj(labels={}), obj())
    assert AnnotationsChanged().update(obj(), obj(annotations={"a": "1"}))
    assert not AnnotationsChanged().update(obj(annotations={"a": "1"}), obj(annotations={"a": "1"}))
    either = labels_or_annotations_changed()
    assert either.update(obj(), obj(annotations={"a": "1"}))
    assert not either.update(obj(1), obj(2))
    assert not ResourceVersionChanged().update(obj(rv="5"), obj(rv="5"))
    assert ResourceVersionChanged().update(obj(rv="5"), obj(rv="6"))


def test_combinators_and_object_filter():
    spec_or_labels = any_of(GenerationChanged(), LabelsChanged())
    assert spec_or_labels.update(obj(1), obj(1, labels={"a": "b"}))
    assert not spec_or_labels.update(obj(1), obj(1, annotations={"a": "b"}))

    labelled = ObjectFilter(lambda o: "keep" in (o["metadata"].get("labels") or {}))
    both = all_of(GenerationChanged(), labelled)
    assert not both.update(obj(1), obj(2))
    assert both.update(obj(1), obj(2, labels={"keep": ""}))
    assert labelled.create(obj(labels={"keep": "1"})) and not labelled.delete(obj())


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


def test_label_selector_round_trips_and_api_form():
    selector = LabelSelector.parse("b in (2,1), a=x, !c, d")
    assert str(selector) == "b in (1,2),a=x,!c,d"
    assert LabelSelector.parse(str(selector)) == selector
    assert selector.equality_terms() == [("a", "x")]
    api = LabelSelector.from_api(
        {
            "matchLabels": {"app": "ray"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["w"]}],
        }
    )
    assert api.matches({"app": "ray", "tier": "w"}) and not api.matches({"app": "ray"})
    with pytest.raises(ValueError, match="invalid"):
        LabelSelector.parse("a b")


def test_field_selector():
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "status": {"phase": "Running"}, "spec": {"x": True}}
    assert FieldSelector.parse("metadata.name=p,status.phase!=Failed").matches(pod)
    assert not FieldSelector.parse("status.phase==Pending").matches(pod)
    assert FieldSelector.parse("spec.x=true").matches(pod)
    assert FieldSelector.parse("spec.missing=").matches(pod)
    assert str(FieldSelector.parse("a==b")) == "a=b"
    with pytest.raises(ValueError, match="invalid"):
        FieldSelector.parse("nonsense")


def test_merge_patch_and_diff():
    original = {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}
    patched = apply_merge_patch(original, {"b": {"c": None, "e": 4}, "l": [3], "n": {"x": None}})
    assert patched == {"a": 1, "b": {"d": 3, "e": 4}, "l": [3], "n": {}}
    assert original == {"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}, "inputs are not modified"
    assert apply_merge_patch(original, merge_patch_diff(original, patched)) == patched
    assert merge_patch_diff(original, original) == {}


def test_json_patch_operations():
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    result = apply_json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/e~1f"},
            {"op": "test", "path": "/e~1f", "value": "y"},
        ],
    )
    assert result == {"a": {"b": [0, 2, 3]}, "c": "y", "e/f": "y"}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}
    for bad in (
        [{"op": "remove", "path": "/missing"}],
        [{"op": "test", "path": "/c", "value": "z"}],
        [{"op": "frobnicate", "path": "/c"}],
        [{"op": "add", "path": "no-slash", "value": 1}],
        [{"op": "add", "path": "/a/b/9", "value": 1}],
    ):
        with pytest.raises(PatchError):
            apply_json_patch(doc, bad)
