"""Generated RayClusters, valid ones with hostile edits, pushed through all the operator runs on a spec:
parsing, validation, the builders and the planner. The only failures allowed are a reported validation error
or a build error naming the field; nothing may raise anything else, or take long."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kuberay_py.api import RayCluster, reconcile_errors, validate_manifest
from kuberay_py.builders import BuildError, BuildOptions
from kuberay_py.controllers.raycluster.desired import build_desired
from kuberay_py.controllers.raycluster.plan import plan_pods
from tests.unit.builders.strategies import rayclusters
from tests.unit.controllers.podfactory import pod

QUANTITY_LIKE = st.one_of(
    st.sampled_from(
        ["1e30000000", "9e99", "1e-30000000", "8GB", "-1", "", "0", "1.5.5", "Gi", str(2**63), "7Ei"]
    ),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=70),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20) | QUANTITY_LIKE,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)

# Where hostile values go: (path inside a group, what to put there).
_GROUP_EDITS: list[tuple[tuple[str | int, ...], st.SearchStrategy[Any]]] = [
    (("template", "spec", "containers", 0, "resources", "limits", "cpu"), QUANTITY_LIKE),
    (("template", "spec", "containers", 0, "resources", "limits", "memory"), QUANTITY_LIKE),
    (("template", "spec", "containers", 0, "resources", "limits", "nvidia.com/gpu"), QUANTITY_LIKE),
    (("template", "spec", "containers", 0, "resources", "requests", "cpu"), QUANTITY_LIKE),
    (("template", "spec", "containers", 0, "resources", "requests", "memory"), QUANTITY_LIKE),
    (("template", "spec", "containers", 0, "resources"), ANY_JSON),
    (("template", "spec", "containers", 0, "env"), ANY_JSON),
    (("template", "spec", "containers", 0, "image"), ANY_JSON),
    (("template", "spec", "containers", 0, "ports"), ANY_JSON),
    (("template", "spec", "containers", 0, "volumeMounts"), ANY_JSON),
    (("template", "spec", "containers"), ANY_JSON),
    (("template", "spec", "volumes"), ANY_JSON),
    (("template", "spec", "restartPolicy"), ANY_JSON),
    (("template", "metadata"), ANY_JSON),
    (("template",), ANY_JSON),
    (("rayStartParams", "num-cpus"), QUANTITY_LIKE),
    (("rayStartParams", "memory"), QUANTITY_LIKE),
    (("rayStartParams", "num-gpus"), QUANTITY_LIKE),
    (("rayStartParams", "resources"), ANY_JSON),
    (("rayStartParams",), ANY_JSON),
    (("resources", "CPU"), QUANTITY_LIKE),
    (("resources", "custom"), QUANTITY_LIKE),
    (("resources",), ANY_JSON),
    (("labels",), ANY_JSON),
    (("replicas",), st.integers(-5, 2**40)),
    (("minReplicas",), st.integers(-5, 2**40)),
    (("maxReplicas",), st.integers(-5, 2**40)),
    (("numOfHosts",), st.integers(-5, 700)),
    (("scaleStrategy", "workersToDelete"), ANY_JSON),
    (("headService",), ANY_JSON),
    (("headService", "spec", "externalIPs"), ANY_JSON),
]


def _put(target: Any, path: tuple[str | int, ...], value: Any) -> None:
    """Set `value` at `path`, making mappings on the way; a list index past the end, or a step into
    something that is no container, replaces that step's parent with a fresh mapping."""
    for step in path[:-1]:
        if isinstance(target, list) and isinstance(step, int):
            if step >= len(target):
                target.append({})
            if not isinstance(target[step], dict):
                target[step] = {}
            target = target[step]
        elif isinstance(target, dict):
            if not isinstance(target.get(step), dict | list):
                target[step] = {}
            target = target[step]
        else:
            return
    last = path[-1]
    fits_list = isinstance(target, list) and isinstance(last, int) and last < len(target)
    if isinstance(target, dict) or fits_list:
        target[last] = value


@st.composite
def hostile_rayclusters(draw: st.DrawFn) -> dict[str, Any]:
    manifest = copy.deepcopy(draw(rayclusters(namespace="default")))
    manifest["metadata"].setdefault("uid", "cluster-uid")
    spec = manifest["spec"]
    for _ in range(draw(st.integers(1, 4))):
        path, values = draw(st.sampled_from(_GROUP_EDITS))
        groups = [spec["headGroupSpec"], *(spec.get("workerGroupSpecs") or [])]
        group = draw(st.sampled_from(groups))
        _put(group, path, draw(values))
    return manifest


def _names_a_field(message: str) -> bool:
    return message.startswith(("spec.", "metadata.")) or "spec." in message


@settings(
    max_examples=2_500,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
@given(hostile_rayclusters())
def test_no_spec_makes_the_operator_fail_other_than_by_naming_a_field(manifest: dict[str, Any]) -> None:
    for problem in validate_manifest(manifest):
        assert problem.message, problem
    try:
        cluster = RayCluster.from_manifest(manifest)
    except ValidationError:
        return  # the reconciler reports each of these with its location
    if reconcile_errors(cluster):
        return
    try:
        desired = build_desired(cluster, BuildOptions())
    except BuildError as error:
        assert _names_a_field(str(error)), str(error)
        return
    desired.capacity()
    existing = [pod("headgroup")] + [pod(name) for name in list(desired.groups)[1:2]]
    plan_pods(cluster, existing, desired.hashes())
