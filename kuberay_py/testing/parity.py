"""What an operator made for one RayCluster, reduced to a flat shape two operators' results can be compared
by, and the comparison itself.

A shape maps a key such as `pod[head].container[ray].env.RAY_PORT` to a JSON-able value. Everything that
differs between two runs of the same operator (names' random suffixes, UIDs, IPs, times, the namespace) is
normalized away first, so what remains differs only where the operators do.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RAY_CONTAINER = "ray"
NAMESPACE_TOKEN = "<ns>"
# The RayCluster's UID appears in values too (the default storage namespace of GCS fault tolerance).
UID_TOKEN = "<cluster-uid>"
# Fields the API server, the scheduler or the kubelet fill in, the same whichever operator wrote the pod.
POD_SPEC_IGNORED = frozenset(
    {"nodeName", "schedulerName", "securityContext", "dnsPolicy", "enableServiceLinks", "preemptionPolicy"}
    | {"priority", "terminationGracePeriodSeconds", "tolerations", "serviceAccount"}
)
CONTAINER_IGNORED = frozenset({"terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy"})
METADATA_IGNORED = frozenset(
    {"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "namespace", "name"}
)
STATUS_TIMES = frozenset({"lastUpdateTime", "stateTransitionTimes"})
_RANDOM_SUFFIX = re.compile(r"-[a-z0-9]{5}$")
NODE_PORT = "<node-port>"
# The range the API server allocates node ports from.
_NODE_PORTS = range(30000, 32768)
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


@dataclass(frozen=True)
class Made:
    """Everything found in one namespace after an operator reconciled one RayCluster there."""

    namespace: str
    cluster: Mapping[str, Any]
    pods: list[Mapping[str, Any]]
    services: list[Mapping[str, Any]]
    service_accounts: list[Mapping[str, Any]] = field(default_factory=list)
    roles: list[Mapping[str, Any]] = field(default_factory=list)
    role_bindings: list[Mapping[str, Any]] = field(default_factory=list)
    event_reasons: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Difference:
    key: str
    kuberay: Any
    ours: Any

    def __str__(self) -> str:
        return f"{self.key}: KubeRay {_show(self.kuberay)}, kuberay-py {_show(self.ours)}"


def _show(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value, sort_keys=True)


def shape(made: Made) -> dict[str, Any]:
    """The flat, normalized shape of what one operator made."""
    name = str(made.cluster["metadata"]["name"])
    out: dict[str, Any] = {}
    for role, pod in _pods_by_role(made.pods).items():
        _flatten(f"pod[{role}]", _pod(pod, name), out)
    for role, count in Counter(_role(pod) for pod in made.pods).items():
        out[f"pod[{role}#count]"] = count
    for service in made.services:
        _flatten(f"service[{_local_name(service, name)}]", _service(service, name), out)
    for kind, objects in (
        ("serviceaccount", made.service_accounts),
        ("role", made.roles),
        ("rolebinding", made.role_bindings),
    ):
        for obj in objects:
            _flatten(f"{kind}[{_local_name(obj, name)}]", _plain(obj, name), out)
    _flatten("status", _status(made.cluster.get("status") or {}), out)
    for reason in made.event_reasons:
        out[f"event[{reason}]"] = True
    normalized: dict[str, Any] = _denamespace(out, made.namespace)
    uid = made.cluster["metadata"].get("uid")
    return _replace(normalized, uid, UID_TOKEN) if uid else normalized


def compare(kuberay: Mapping[str, Any], ours: Mapping[str, Any]) -> list[Difference]:
    keys = sorted(set(kuberay) | set(ours))
    return [Difference(k, kuberay.get(k), ours.get(k)) for k in keys if kuberay.get(k) != ours.get(k)]


def is_documented(key: str, patterns: Iterable[str]) -> bool:
    """Whether a documented key pattern accounts for a difference's key; `*` stands for any text, and
    everything else (brackets too) for itself."""
    return any(_pattern(p).fullmatch(key) for p in patterns)


def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in text.split("*")))


def _rows(markdown: str) -> list[tuple[str, list[str]]]:
    """Each table row whose first cell is a backticked key: the key and the row's other cells."""
    rows = []
    for line in markdown.splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|(.*)$", line)
        if match:
            rows.append((match.group(1), [cell.strip() for cell in match.group(2).split("|")]))
    return rows


def documented_patterns(markdown: str) -> list[str]:
    """The key patterns of the differences document: the first cell of every table row, in backticks."""
    return [key for key, _ in _rows(markdown)]


def intermittent_patterns(markdown: str) -> list[str]:
    """The rows whose KubeRay cell starts with "sometimes": KubeRay races with itself there, so a run that
    does not show the difference does not make the row stale."""
    return [key for key, cells in _rows(markdown) if len(cells) > 1 and cells[1].startswith("sometimes")]


# -- pods ---------------------------------------------------------------------------------------------------
def _role(pod: Mapping[str, Any]) -> str:
    labels = pod["metadata"].get("labels") or {}
    return "head" if labels.get("ray.io/node-type") == "head" else f"worker:{labels.get('ray.io/group', '?')}"


def _pods_by_role(pods: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One pod per role (the head, each worker group), the first by name: the pods of a group share one
    template, so one stands for all."""
    chosen: dict[str, Mapping[str, Any]] = {}
    for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        chosen.setdefault(_role(pod), pod)
    return chosen


def _pod(pod: Mapping[str, Any], cluster: str) -> dict[str, Any]:
    spec = {k: v for k, v in (pod.get("spec") or {}).items() if k not in POD_SPEC_IGNORED}
    volumes = [
        v for v in spec.pop("volumes", []) if not str(v.get("name", "")).startswith("kube-api-access-")
    ]
    ray_name = _ray_container_name(spec.get("containers", []))
    out: dict[str, Any] = {
        "metadata": _metadata(pod["metadata"], cluster),
        "volumes": {str(v["name"]): {k: x for k, x in v.items() if k != "name"} for v in volumes},
    }
    for kind in ("containers", "initContainers"):
        for container in spec.pop(kind, []):
            local = RAY_CONTAINER if container.get("name") == ray_name else str(container.get("name"))
            out[f"{kind[:-1]}[{local}]"] = _container(container)
    out.update(spec)
    return out


def _ray_container_name(containers: list[Mapping[str, Any]]) -> str | None:
    """The Ray container is the first one, as both operators assume."""
    return str(containers[0].get("name")) if containers else None


def _container(container: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in container.items() if k not in CONTAINER_IGNORED}
    out["env"] = {str(e["name"]): e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
    for key in ("ports", "volumeMounts"):
        items = container.get(key, [])
        mounts = [m for m in items if "kube-api-access-" not in str(m.get("name", ""))]
        out[key] = {str(m.get("name", m.get("mountPath"))): _without(m, "name") for m in mounts}
    command = [*container.get("command", []), *container.get("args", [])]
    ray_start = _ray_start_flags(command)
    if ray_start is not None:
        out["ray start"] = ray_start
        out["command"] = _without_ray_start(command)
        out.pop("args", None)
    env = out["env"]
    if isinstance(env.get("KUBERAY_GEN_RAY_START_CMD"), str):
        env["KUBERAY_GEN_RAY_START_CMD"] = _ray_start_flags(env["KUBERAY_GEN_RAY_START_CMD"].split())
    return out


def _ray_start_flags(command: list[str]) -> dict[str, Any] | None:
    """`ray start`'s flags, wherever in the shell command line they sit, as a mapping (whitespace and
    flag order do not matter to Ray)."""
    text = " ".join(str(part) for part in command)
    start = text.find("ray start")
    if start < 0:
        return None
    rest = re.split(r"[;&|]", text[start + len("ray start") :], maxsplit=1)[0]
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    flags: dict[str, Any] = {}
    for word in words:
        key, has_value, value = word.partition("=")
        flags[key] = value if has_value else True
    return flags


def _without_ray_start(command: list[str]) -> list[str]:
    """The command with the `ray start` invocation replaced by a placeholder and whitespace squeezed."""
    text = " ".join(str(part) for part in command)
    text = re.sub(r"ray start[^;&|]*", "ray start <flags> ", text)
    return text.split()


def _without(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


# -- other objects ------------------------------------------------------------------------------------------
def _service(service: Mapping[str, Any], cluster: str) -> dict[str, Any]:
    spec = dict(service.get("spec") or {})
    for key in ("clusterIP", "clusterIPs"):
        if key in spec:
            spec[key] = _ip_or_none(spec[key])
    ports = [{**p, "nodePort": NODE_PORT} if "nodePort" in p else p for p in spec.pop("ports", [])]
    spec["ports"] = {str(p.get("name", p.get("port"))): _without(p, "name") for p in ports}
    return {"metadata": _metadata(service["metadata"], cluster), "spec": spec}


def _ip_or_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_ip_or_none(v) for v in value]
    return "<ip>" if isinstance(value, str) and _IP.match(value) else value


def _is_node_port(value: Any) -> bool:
    return str(value).isdigit() and int(str(value)) in _NODE_PORTS


def _plain(obj: Mapping[str, Any], cluster: str) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind", "secrets")}
    out["metadata"] = _metadata(obj["metadata"], cluster)
    return out


def _metadata(metadata: Mapping[str, Any], cluster: str) -> dict[str, Any]:
    out = {k: v for k, v in metadata.items() if k not in METADATA_IGNORED}
    owners = out.pop("ownerReferences", None)
    if owners:
        out["ownerReferences"] = [{k: v for k, v in o.items() if k != "uid"} for o in owners]
    if "generateName" in out:
        out["generateName"] = str(out["generateName"]).replace(cluster, "<cluster>")
    return out


def _local_name(obj: Mapping[str, Any], cluster: str) -> str:
    """An object's name with the cluster's name and a random suffix taken out: `<cluster>-head-svc`."""
    return str(obj["metadata"]["name"]).replace(cluster, "<cluster>")


def _status(status: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in status.items() if k not in STATUS_TIMES and k != "conditions"}
    endpoints = out.get("endpoints") or {}
    out["endpoints"] = {k: NODE_PORT if _is_node_port(v) else v for k, v in endpoints.items()}
    out["stateTransitionTimes"] = sorted((status.get("stateTransitionTimes") or {}).keys())
    head = dict(out.pop("head", None) or {})
    out["head"] = {
        k: _ip_or_none(v) if not k.endswith("Name") else _RANDOM_SUFFIX.sub("", str(v))
        for k, v in head.items()
    }
    for condition in status.get("conditions") or []:
        out[f"condition[{condition['type']}]"] = {
            "status": condition.get("status"),
            "reason": condition.get("reason"),
        }
    return out


# -- flattening ---------------------------------------------------------------------------------------------
def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested mappings become dotted keys; lists and scalars are leaves."""
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = value


def _denamespace(value: Any, namespace: str) -> Any:
    return _replace(value, namespace, NAMESPACE_TOKEN)


def _replace(value: Any, text: str, token: str) -> Any:
    """`value` with `text` replaced by `token` in every string of it, keys included."""
    if isinstance(value, str):
        return value.replace(text, token)
    if isinstance(value, list):
        return [_replace(v, text, token) for v in value]
    if isinstance(value, dict):
        return {_replace(k, text, token): _replace(v, text, token) for k, v in value.items()}
    return value
