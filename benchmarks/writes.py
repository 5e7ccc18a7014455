"""The operator's own requests to the API server, by resource and verb, counted by the API server itself.

Every process of the local control plane (the kubelet, the controller-manager, the scheduler, the benchmark)
authenticates as the same admin, so `apiserver_request_total` cannot tell the operator's pod creates from the
Job controller's. A case that needs the operator's alone runs it under a client certificate of its own
(`issue_operator_identity`), bound to cluster-admin, and installs one FlowSchema per resource and verb that
matches only that user (`admit_operator`), each sending its requests to the exempt priority level: the
operator is authorised for everything and never queued by flow control, as the admin is. The API server then
counts the operator's requests per FlowSchema in `apiserver_flowcontrol_dispatched_requests_total`: no proxy
in the way, and the same count for any client, KubeRay's Go operator as well as ours.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.metrics import Scrape
from kuberay_py.runtime import CLUSTER_ROLE_BINDINGS, KubeClient, Resource
from kuberay_py.testing.controlplane import ControlPlane, client_cert_user, write_kubeconfig
from kuberay_py.testing.pki import KeyPair

OPERATOR_USER = "benchmark-operator"
FLOW_SCHEMAS = Resource(
    "flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "FlowSchema", namespaced=False, has_status=True
)
DISPATCHED = "apiserver_flowcontrol_dispatched_requests_total"
WRITE_VERBS = ("create", "update", "patch", "delete")
READ_VERBS = ("get", "list", "watch")
# Ahead of every suggested FlowSchema (precedence 1 is the mandatory "exempt" one's alone; of those at 2,
# "probes", the names here sort first).
_PRECEDENCE = 2
_PREFIX = "aaa-operator-"
_OTHER_PREFIX = "aab-operator-"
_REST = "aac-operator-rest"


@dataclass(frozen=True)
class Counted:
    """One resource (with its subresource, if any) whose writes are counted verb by verb."""

    name: str
    """How reports name it, e.g. "rayjobs/status"."""
    groups: tuple[str, ...]
    resource: str


COUNTED = (
    Counted("rayjobs", ("ray.io",), "rayjobs"),
    Counted("rayjobs/status", ("ray.io",), "rayjobs/status"),
    Counted("rayclusters", ("ray.io",), "rayclusters"),
    Counted("rayclusters/status", ("ray.io",), "rayclusters/status"),
    Counted("jobs", ("batch",), "jobs"),
    Counted("pods", ("",), "pods"),
    Counted("services", ("",), "services"),
    # Ours writes events.k8s.io/v1 Events, KubeRay core/v1 ones: the same objects, counted together.
    Counted("events", ("", "events.k8s.io"), "events"),
)


def _schema_name(resource: str, verb: str) -> str:
    return _PREFIX + f"{resource}-{verb}".replace("/", "-")


def _schema(name: str, resource_rules: list[dict[str, Any]], non_resource: bool = False) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "subjects": [{"kind": "User", "user": {"name": OPERATOR_USER}}],
        "resourceRules": resource_rules,
    }
    if non_resource:
        rule["nonResourceRules"] = [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
    return {
        "apiVersion": FLOW_SCHEMAS.api_version,
        "kind": FLOW_SCHEMAS.kind,
        "metadata": {"name": name},
        "spec": {
            "matchingPrecedence": _PRECEDENCE,
            "priorityLevelConfiguration": {"name": "exempt"},
            "rules": [rule],
        },
    }


def _any_resource(verbs: list[str]) -> dict[str, Any]:
    return {"verbs": verbs, "apiGroups": ["*"], "resources": ["*"], "namespaces": ["*"], "clusterScope": True}


def flow_schemas() -> list[dict[str, Any]]:
    """The FlowSchemas that sort the operator's requests: one per counted resource and write verb, then
    other writes and reads by verb, then everything else (discovery and other non-resource requests)."""
    found = []
    for counted in COUNTED:
        for verb in WRITE_VERBS:
            rule = {
                "verbs": [verb],
                "apiGroups": list(counted.groups),
                "resources": [counted.resource],
                "namespaces": ["*"],
            }
            found.append(_schema(_schema_name(counted.name, verb), [rule]))
    for verb in (*WRITE_VERBS, "deletecollection", *READ_VERBS):
        found.append(_schema(f"{_OTHER_PREFIX}{verb}", [_any_resource([verb])]))
    found.append(_schema(_REST, [_any_resource(["*"])], non_resource=True))
    return found


def _labels() -> dict[str, tuple[str, str]]:
    """FlowSchema name -> (resource, verb) as reports give them."""
    labels = {
        _schema_name(counted.name, verb): (counted.name, verb) for counted in COUNTED for verb in WRITE_VERBS
    }
    for verb in (*WRITE_VERBS, "deletecollection", *READ_VERBS):
        labels[f"{_OTHER_PREFIX}{verb}"] = ("other" if verb not in READ_VERBS else "any", verb)
    labels[_REST] = ("non-resource", "any")
    return labels


LABELS = _labels()


def issue_operator_identity(plane: ControlPlane, directory: Path) -> tuple[Path, KeyPair]:
    """A kubeconfig for the operator with a client certificate of its own, signed by the plane's CA, for
    user OPERATOR_USER (in no group: system:masters would match the exempt FlowSchema before any other).
    Returns the kubeconfig and the certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(cert=directory / "operator.crt", key=directory / "operator.key")
    csr, ext = directory / "operator.csr", directory / "operator.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=clientAuth\n"
    )
    ca = plane.pki.ca
    commands = [
        ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(pair.key)],
        [
            "req", "-new", "-key", str(pair.key), "-subj", f"/CN={OPERATOR_USER}",
            "-out", str(csr),
        ],
        [
            "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
            "-set_serial", f"0x{secrets.token_hex(8)}", "-days", "7", "-sha256", "-extfile", str(ext),
            "-out", str(pair.cert),
        ],
    ]  # fmt: skip
    for args in commands:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True, text=True)
    csr.unlink()
    ext.unlink()
    kubeconfig = directory / "operator.kubeconfig"
    write_kubeconfig(
        kubeconfig,
        server=plane.server,
        ca_file=plane.ca_file,
        user=client_cert_user(pair),
        name=OPERATOR_USER,
    )
    return kubeconfig, pair


def _get(url: str, ca: Path, pair: KeyPair) -> bytes:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(pair.cert), str(pair.key))
    with urllib.request.urlopen(url, context=context, timeout=30) as response:
        body: bytes = response.read()
        return body


def _binding() -> dict[str, Any]:
    return {
        "apiVersion": CLUSTER_ROLE_BINDINGS.api_version,
        "kind": CLUSTER_ROLE_BINDINGS.kind,
        "metadata": {"name": OPERATOR_USER},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": OPERATOR_USER}],
    }


async def admit_operator(
    client: KubeClient, plane: ControlPlane, cert: KeyPair, timeout: float = 60.0
) -> None:
    """Bind the operator's user to cluster-admin and create the FlowSchemas; return once the API server both
    authorises the user and sorts its requests by them (a probe made as the operator is counted)."""
    await client.create(CLUSTER_ROLE_BINDINGS, _binding())
    for schema in flow_schemas():
        await client.create(FLOW_SCHEMAS, schema)
    counter = WriteCounter(plane)
    probe = plane.server + "/api/v1/namespaces/default/pods?limit=1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = (await counter.scrape()).get(("any", "list"), 0.0)
        try:
            await asyncio.to_thread(_get, probe, plane.ca_file, cert)
        except OSError:  # 403 until RBAC has the binding
            pass
        else:
            if (await counter.scrape()).get(("any", "list"), 0.0) > before:
                return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the API server did not admit the operator's identity within {timeout:.0f} s")


class WriteCounter:
    """`await counter.scrape()` before and after a window, then `minus(after, before)`."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    async def family(self, name: str) -> Scrape:
        """One metric family of the API server's /metrics (the whole of it is megabytes to parse)."""
        pki = self.plane.pki
        text = (
            await asyncio.to_thread(_get, self.plane.server + "/metrics", pki.ca.cert, pki.admin)
        ).decode()
        lines = [line for line in text.splitlines() if line.startswith(name) or f" {name} " in line]
        return Scrape.parse("\n".join(lines) + "\n")

    async def scrape(self) -> dict[tuple[str, str], float]:
        """The operator's requests so far: (resource, verb) -> count."""
        scrape = await self.family(DISPATCHED)
        counts: dict[tuple[str, str], float] = {}
        for schema, value in scrape.by_label(DISPATCHED, "flow_schema").items():
            if schema in LABELS:
                counts[LABELS[schema]] = value
        return counts


def minus(
    after: Mapping[tuple[str, str], float], before: Mapping[tuple[str, str], float]
) -> dict[str, float]:
    """Requests in the window, keyed "resource verb" (e.g. "pods create"), zeros left out."""
    found = {}
    for (resource, verb), value in after.items():
        delta = value - before.get((resource, verb), 0.0)
        if delta:
            found[f"{resource} {verb}"] = delta
    return found
