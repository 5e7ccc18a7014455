"""Names and label values stay within Kubernetes' limits, for the longest names a RayCluster may have."""

import re

import pytest

from kuberay_py.api.constants import MAX_CLUSTER_NAME_LENGTH, MAX_GROUP_NAME_LENGTH
from kuberay_py.builders import BuildOptions, render_cluster
from kuberay_py.builders.names import (
    MAX_GENERATE_NAME,
    default_head_service_name,
    fit,
    head_pod_prefix,
    head_service_host,
    head_service_name,
    headless_worker_service_name,
    label_value,
    replica_name,
    worker_pod_prefix,
)
from tests.unit.builders.support import manifest, parse, worker

LONG_CLUSTER = "c" + "-long" * 9 + "-name12"  # 53 characters
LONG_GROUP = "g" + "-group" * 10 + "-x"  # 63 characters
DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def test_the_long_names_are_the_longest_allowed() -> None:
    assert len(LONG_CLUSTER) == MAX_CLUSTER_NAME_LENGTH
    assert len(LONG_GROUP) == MAX_GROUP_NAME_LENGTH


def test_short_names_are_kept_as_they_are() -> None:
    cluster = parse(manifest("demo", workers=[worker("small")]))
    assert head_pod_prefix(cluster) == "demo-head-"
    assert worker_pod_prefix(cluster, "small") == "demo-small-worker-"
    assert head_service_name(cluster) == "demo-head-svc"
    assert head_service_host(cluster, BuildOptions()) == "demo-head-svc.ml.svc.cluster.local"
    assert head_service_host(cluster, BuildOptions(cluster_domain="corp.example")) == (
        "demo-head-svc.ml.svc.corp.example"
    )


def test_head_service_name_fits_for_a_53_character_cluster_name() -> None:
    cluster = parse(manifest(LONG_CLUSTER))
    assert default_head_service_name(cluster) == f"{LONG_CLUSTER}-head-svc"
    assert len(head_service_name(cluster)) == 62


def test_headless_worker_service_name_fits_for_a_53_character_cluster_name() -> None:
    assert headless_worker_service_name(parse(manifest("demo"))) == "demo-headless"
    assert headless_worker_service_name(parse(manifest(LONG_CLUSTER))) == f"{LONG_CLUSTER}-headless"


def test_generate_name_prefixes_are_cut_to_50_characters() -> None:
    cluster = parse(manifest(LONG_CLUSTER, workers=[worker(LONG_GROUP), worker("g")]))
    head = head_pod_prefix(cluster)
    long_worker = worker_pod_prefix(cluster, LONG_GROUP)
    short_worker = worker_pod_prefix(cluster, "g")
    for prefix in (head, long_worker, short_worker):
        assert len(prefix) <= MAX_GENERATE_NAME
        assert DNS_LABEL.fullmatch(prefix.rstrip("-"))
    assert head.endswith("-head-") and head.startswith("c-long")
    assert long_worker.endswith("-worker-") and short_worker.endswith("-worker-")
    assert long_worker != short_worker


def test_cut_names_stay_distinct() -> None:
    a = fit("x" * 60 + "-alpha", 50, "-worker-")
    b = fit("x" * 60 + "-beta", 50, "-worker-")
    assert a != b and len(a) == len(b) == 50


def test_a_cut_never_leaves_a_dash_before_the_hash() -> None:
    cut = fit("abc-" * 20, 20)
    assert "--" not in cut and len(cut) <= 20


@pytest.mark.parametrize("text", ["short", "x" * 63, "x" * 64, "a-" * 40, LONG_GROUP + "-abcde"])
def test_label_values_fit(text: str) -> None:
    value = label_value(text)
    assert len(value) <= 63 and LABEL_VALUE.fullmatch(value)
    if len(text) <= 63:
        assert value == text


def test_replica_names_fit_a_label_for_the_longest_group() -> None:
    assert replica_name("small", "x7k2p") == "small-x7k2p"
    assert len(replica_name(LONG_GROUP, "x7k2p")) <= 63


def test_every_rendered_name_and_label_fits_for_the_longest_names() -> None:
    raw = manifest(
        LONG_CLUSTER,
        workers=[worker(LONG_GROUP, numOfHosts=2), worker("g")],
        enableInTreeAutoscaling=True,
    )
    for obj in render_cluster(parse(raw)):
        metadata = obj["metadata"]
        assert len(metadata.get("name", "")) <= 63
        assert len(metadata.get("generateName", "")) <= MAX_GENERATE_NAME
        for value in metadata["labels"].values():
            assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), value
        if obj["kind"] == "Pod":
            # The autoscaler finds pods by the exact cluster and group names.
            assert metadata["labels"]["ray.io/cluster"] == LONG_CLUSTER


def test_a_custom_head_service_name_is_used_everywhere() -> None:
    head = manifest()["spec"]["headGroupSpec"]
    head["headService"] = {"metadata": {"name": "my-head"}}
    cluster = parse(manifest(head=head, workers=[worker()]))
    assert head_service_name(cluster) == "my-head"
    assert head_service_host(cluster, BuildOptions()) == "my-head.ml.svc.cluster.local"
