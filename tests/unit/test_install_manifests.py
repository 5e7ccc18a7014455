"""The install manifests under config/ read as files: RBAC rules explained and in step, settings the operator
understands. (tests/integration/test_install.py applies them to a real API server.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberay_py.builders.rbac import AUTOSCALER_RULES
from kuberay_py.cli import build_parser
from kuberay_py.operator import LEADER_ELECTION_ID

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "config" / "rbac"
CHART_RULES = REPO / "helm-chart" / "kuberay-py" / "templates" / "_helpers.tpl"
RBAC_FILES = [RBAC / "role.yaml", RBAC / "namespaced" / "role.yaml", RBAC / "leader_election_role.yaml"]


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def covers(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r["apiGroups"]
        and resource in r["resources"]
        and verb in r["verbs"]
        and "resourceNames" not in r
        for r in rules
    )


def test_the_namespaced_role_has_the_cluster_roles_rules() -> None:
    cluster_role = load(RBAC / "role.yaml")
    role = load(RBAC / "namespaced" / "role.yaml")
    assert (cluster_role["kind"], role["kind"]) == ("ClusterRole", "Role")
    assert role["rules"] == cluster_role["rules"]


def test_every_rule_has_a_comment_naming_code_that_exists() -> None:
    sources = [*RBAC_FILES, CHART_RULES]
    for path in sources:
        lines = path.read_text().splitlines()
        rules = [i for i, line in enumerate(lines) if line.startswith("- apiGroups:")]
        assert rules, f"no rules found in {path}"
        for index in rules:
            comment = []
            above = index - 1
            while above >= 0 and lines[above].startswith("#"):
                comment.insert(0, lines[above])
                above -= 1
            assert comment, f"{path.name}:{index + 1}: rule without a comment"
            named = re.findall(r"[\w/]+\.py", " ".join(comment))
            assert named, f"{path.name}:{index + 1}: the comment names no code: {comment}"
            for name in named:
                assert (REPO / "kuberay_py" / name).is_file(), (
                    f"{path.name}:{index + 1}: no kuberay_py/{name}"
                )


def test_the_operator_holds_every_rule_it_grants_the_autoscaler() -> None:
    """Kubernetes lets nobody create a Role granting more than they hold (unless given `escalate`)."""
    rules = load(RBAC / "role.yaml")["rules"]
    for rule in AUTOSCALER_RULES:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert covers(rules, group, resource, verb), f"{verb} {resource}.{group}"
    verbs = {verb for rule in rules for verb in rule["verbs"]}
    assert not verbs & {"*", "escalate", "bind", "impersonate"}


def test_leader_election_is_limited_to_the_operators_lease() -> None:
    role = load(RBAC / "leader_election_role.yaml")
    named = [r for r in role["rules"] if "resourceNames" in r]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [LEADER_ELECTION_ID],
            "verbs": ["get", "update"],
        }
    ]
    unnamed = [r for r in role["rules"] if "resourceNames" not in r]
    assert unnamed == [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]}]


def test_the_deployment_configures_only_operator_options(monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = load(REPO / "config" / "manager" / "manager.yaml")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(container["args"])
    assert args.command == "operator"
    assert args.leader_elect is True
    assert (args.metrics_addr, args.health_addr) == (":8080", ":8081")
    # Every KUBERAY_PY_* variable it sets is one the operator reads.
    for variable in container["env"]:
        name = variable["name"]
        if name == "POD_NAME":  # read by leader election for its identity
            continue
        assert name.startswith("KUBERAY_PY_"), name
        monkeypatch.setenv(name, "from-the-environment")
        assert "from-the-environment" in vars(build_parser().parse_args(["operator"])).values(), name
