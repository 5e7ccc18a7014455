"""What a pod's spec asks of a kubelet, worked out without running anything (for the process kubelet).

Environment variables with the downward API resolved, `$(VAR)` references in command and args expanded the
way a kubelet expands them, the files of ConfigMap, Secret, downward-API and projected volumes, probes with
their defaults, and the hosts file that stands in for cluster DNS.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kuberay_py.api.quantities import parse_quantity

Obj = dict[str, Any]
# Reads a ConfigMap or Secret's data by (kind, namespace, name); None when it does not exist.
DataSource = Callable[[str, str, str], Awaitable[Mapping[str, str] | None]]

CLUSTER_DOMAIN = "cluster.local"
_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_LABEL_PATH = re.compile(r"metadata\.(labels|annotations)\['([^']+)'\]\Z")


class PodSpecError(ValueError):
    """What the pod asks for cannot be provided; the message names the field, as a kubelet's event would."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """`$(NAME)` becomes NAME's value when NAME is defined and `$$` becomes `$`; the rest stays as is."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        return env.get(name, match.group(0))

    return _REFERENCE.sub(one, text)


def field_value(pod: Obj, path: str) -> str:
    """A downward-API `fieldRef.fieldPath` of the pod."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
        "status.podIPs": ",".join(ip.get("ip", "") for ip in status.get("podIPs") or []),
        "status.hostIPs": ",".join(ip.get("ip", "") for ip in status.get("hostIPs") or []),
    }
    if path in simple:
        return str(simple[path] or "")
    match = _LABEL_PATH.match(path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{key}="{value}"' for key, value in items)
    raise PodSpecError(f"unsupported fieldRef.fieldPath {path!r}")


def resource_value(container: Obj, ref: Obj, node_allocatable: Mapping[str, str]) -> str:
    """A `resourceFieldRef`: the container's limit (the node's allocatable without one), over the divisor,
    rounded up as a kubelet rounds it."""
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not name:
        raise PodSpecError(f"unsupported resourceFieldRef.resource {resource!r}")
    amounts = (container.get("resources") or {}).get(kind) or {}
    raw = amounts.get(name)
    if raw is None and kind == "limits":
        raw = node_allocatable.get(name)
    if raw is None:
        return "0"
    amount = parse_quantity(raw)
    divisor = parse_quantity(ref.get("divisor") or "1")
    if divisor <= 0:
        raise PodSpecError(f"resourceFieldRef.divisor of {resource} must be positive")
    return str(math.ceil(Fraction(amount) / divisor))


async def _key_of(source: DataSource, kind: str, namespace: str, ref: Obj, what: str) -> str | None:
    data = await source(kind, namespace, str(ref.get("name", "")))
    optional = bool(ref.get("optional"))
    if data is None:
        if optional:
            return None
        raise PodSpecError(f"{what}: {kind} {ref.get('name')!r} not found")
    key = str(ref.get("key", ""))
    if key not in data:
        if optional:
            return None
        raise PodSpecError(f"{what}: key {key!r} not in {kind} {ref.get('name')!r}")
    return data[key]


async def container_env(
    pod: Obj,
    container: Obj,
    source: DataSource,
    node_allocatable: Mapping[str, str],
    base: Mapping[str, str],
) -> dict[str, str]:
    """The container's environment: `base`, then `envFrom`, then `env` in order, each `value` expanded
    against the variables defined before it."""
    namespace = str(pod["metadata"]["namespace"])
    env = dict(base)
    for index, entry in enumerate(container.get("envFrom") or []):
        for kind, field in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = entry.get(field)
            if ref is None:
                continue
            data = await source(kind, namespace, str(ref.get("name", "")))
            if data is None:
                if ref.get("optional"):
                    continue
                raise PodSpecError(f"envFrom[{index}].{field}: {kind} {ref.get('name')!r} not found")
            prefix = str(entry.get("prefix") or "")
            env.update({prefix + key: value for key, value in data.items()})
    for index, entry in enumerate(container.get("env") or []):
        name = str(entry.get("name", ""))
        where = f"env[{index}] ({name})"
        if "valueFrom" not in entry:
            env[name] = expand(str(entry.get("value") or ""), env)
            continue
        source_of = entry["valueFrom"] or {}
        value: str | None
        if "fieldRef" in source_of:
            value = field_value(pod, str(source_of["fieldRef"].get("fieldPath", "")))
        elif "resourceFieldRef" in source_of:
            value = resource_value(container, source_of["resourceFieldRef"], node_allocatable)
        elif "configMapKeyRef" in source_of:
            value = await _key_of(source, "configmap", namespace, source_of["configMapKeyRef"], where)
        elif "secretKeyRef" in source_of:
            value = await _key_of(source, "secret", namespace, source_of["secretKeyRef"], where)
        else:
            raise PodSpecError(f"{where}: unsupported valueFrom {sorted(source_of)}")
        if value is not None:
            env[name] = value
    return env


def command_line(container: Obj, env: Mapping[str, str]) -> list[str]:
    """The argv a container runs: command and args as written, `$(VAR)` expanded. An image's entrypoint is
    not known here, so a container without `command` is refused."""
    command = [expand(str(part), env) for part in container.get("command") or []]
    args = [expand(str(part), env) for part in container.get("args") or []]
    if not command:
        raise PodSpecError(
            f"container {container.get('name')!r}: no command (the image's entrypoint is unknown)"
        )
    return command + args


# --- volumes ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumePlan:
    """How one pod volume is provided: `files` to write (path -> bytes), or an emptyDir (a tmpfs of
    `size_bytes` when `memory`), or a host path."""

    name: str
    files: dict[str, bytes] | None = None
    empty_dir: bool = False
    memory: bool = False
    size_bytes: int | None = None
    host_path: str | None = None


def _items(data: Mapping[str, str], items: Iterable[Obj] | None, what: str) -> dict[str, bytes]:
    if not items:
        return {key: value.encode() for key, value in data.items()}
    chosen: dict[str, bytes] = {}
    for item in items:
        key = str(item.get("key", ""))
        if key not in data:
            raise PodSpecError(f"{what}: key {key!r} not found")
        chosen[str(item.get("path") or key)] = data[key].encode()
    return chosen


async def _source_files(
    source: DataSource, kind: str, namespace: str, ref: Obj, name_field: str, what: str
) -> dict[str, bytes]:
    data = await source(kind, namespace, str(ref.get(name_field, "")))
    if data is None:
        if ref.get("optional"):
            return {}
        raise PodSpecError(f"{what}: {kind} {ref.get(name_field)!r} not found")
    return _items(data, ref.get("items"), what)


def _downward_files(
    pod: Obj, items: Iterable[Obj], what: str, node_allocatable: Mapping[str, str]
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for item in items:
        path = str(item.get("path", ""))
        if "fieldRef" in item:
            files[path] = field_value(pod, str(item["fieldRef"].get("fieldPath", ""))).encode()
        elif "resourceFieldRef" in item:
            ref = item["resourceFieldRef"]
            container = next(
                (c for c in pod["spec"].get("containers") or [] if c.get("name") == ref.get("containerName")),
                None,
            )
            if container is None:
                raise PodSpecError(f"{what}: no container {ref.get('containerName')!r}")
            files[path] = resource_value(container, ref, node_allocatable).encode()
    return files


TokenSource = Callable[[Obj], Awaitable[str]]  # a projected serviceAccountToken source -> token


async def plan_volume(
    pod: Obj, volume: Obj, source: DataSource, token: TokenSource, node_allocatable: Mapping[str, str]
) -> VolumePlan:
    name = str(volume.get("name", ""))
    namespace = str(pod["metadata"]["namespace"])
    what = f"volume {name!r}"
    if "emptyDir" in volume:
        empty = volume["emptyDir"] or {}
        size = empty.get("sizeLimit")
        return VolumePlan(
            name,
            empty_dir=True,
            memory=empty.get("medium") == "Memory",
            size_bytes=math.ceil(parse_quantity(size)) if size is not None else None,
        )
    if "configMap" in volume:
        files = await _source_files(source, "configmap", namespace, volume["configMap"], "name", what)
        return VolumePlan(name, files=files)
    if "secret" in volume:
        files = await _source_files(source, "secret", namespace, volume["secret"], "secretName", what)
        return VolumePlan(name, files=files)
    if "downwardAPI" in volume:
        items = (volume["downwardAPI"] or {}).get("items") or []
        return VolumePlan(name, files=_downward_files(pod, items, what, node_allocatable))
    if "projected" in volume:
        files = {}
        for part in (volume["projected"] or {}).get("sources") or []:
            if "serviceAccountToken" in part:
                ref = part["serviceAccountToken"]
                files[str(ref.get("path", "token"))] = (await token(ref)).encode()
            elif "configMap" in part:
                files.update(
                    await _source_files(source, "configmap", namespace, part["configMap"], "name", what)
                )
            elif "secret" in part:
                files.update(await _source_files(source, "secret", namespace, part["secret"], "name", what))
            elif "downwardAPI" in part:
                items = part["downwardAPI"].get("items") or []
                files.update(_downward_files(pod, items, what, node_allocatable))
        return VolumePlan(name, files=files)
    if "hostPath" in volume:
        return VolumePlan(name, host_path=str(volume["hostPath"].get("path", "")))
    kinds = sorted(set(volume) - {"name"})
    raise PodSpecError(f"{what}: unsupported volume source {kinds}")


def secret_data(secret: Obj) -> dict[str, str]:
    """A Secret's keys as text: `data` decoded, `stringData` as is."""
    data = {
        key: base64.b64decode(value).decode(errors="replace")
        for key, value in (secret.get("data") or {}).items()
    }
    data.update(secret.get("stringData") or {})
    return data


# --- probes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    kind: str  # "exec", "httpGet", "tcpSocket", "grpc"
    detail: Obj
    initial_delay: float
    period: float
    timeout: float
    success_threshold: int
    failure_threshold: int


def probe_of(container: Obj, field: str) -> Probe | None:
    spec = container.get(field)
    if not spec:
        return None
    kind = next((k for k in ("exec", "httpGet", "tcpSocket", "grpc") if k in spec), None)
    if kind is None:
        raise PodSpecError(f"container {container.get('name')!r}: {field} has no handler")
    return Probe(
        kind,
        spec[kind] or {},
        float(spec.get("initialDelaySeconds") or 0),
        float(spec.get("periodSeconds") or 10),
        float(spec.get("timeoutSeconds") or 1),
        int(spec.get("successThreshold") or 1),
        int(spec.get("failureThreshold") or 3),
    )


def named_port(container: Obj, port: object) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for entry in container.get("ports") or []:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    raise PodSpecError(f"container {container.get('name')!r}: no port named {port!r}")


# --- cluster DNS ------------------------------------------------------------------------------------------


def service_names(name: str, namespace: str, domain: str = CLUSTER_DOMAIN) -> list[str]:
    """The names a Service answers to from a pod of `namespace`; the short name only from its own namespace,
    which `hosts_file` handles."""
    return [f"{name}.{namespace}.svc.{domain}", f"{name}.{namespace}.svc", f"{name}.{namespace}"]


def hosts_file(
    pod_ip: str, hostname: str, pod_namespace: str, services: Mapping[tuple[str, str], list[str]]
) -> str:
    """/etc/hosts for a pod: its own name, then every Service (namespace, name) -> its ready addresses."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", f"{pod_ip}\t{hostname}"]
    for (namespace, name), addresses in sorted(services.items()):
        names = service_names(name, namespace)
        if namespace == pod_namespace:
            names.append(name)
        lines.extend(f"{address}\t{' '.join(names)}" for address in addresses)
    return "\n".join(lines) + "\n"


def resolv_conf(namespace: str, domain: str = CLUSTER_DOMAIN) -> str:
    # Names not in /etc/hosts fail at once: nothing answers on the pod's own loopback.
    search = f"{namespace}.svc.{domain} svc.{domain} {domain}"
    return f"nameserver 127.0.0.1\nsearch {search}\noptions ndots:5 timeout:1 attempts:1\n"


def ready_addresses(slice_: Obj) -> list[str]:
    """The addresses of an EndpointSlice's endpoints that are ready (a missing condition counts as ready)."""
    addresses: list[str] = []
    for endpoint in slice_.get("endpoints") or []:
        if (endpoint.get("conditions") or {}).get("ready", True) is False:
            continue
        addresses.extend(str(a) for a in endpoint.get("addresses") or [])
    return addresses
