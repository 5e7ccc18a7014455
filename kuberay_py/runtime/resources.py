"""Resource identities and object keys.

A :class:`Resource` names one REST collection of the API server (group, version, plural) together with the
kind it holds and whether it is namespaced. Everything in the runtime addresses objects through a resource
and a namespace/name pair, never through generated model classes: objects are plain JSON dicts.

Constants exist for the core resources a controller usually needs; define others the same way::

    WIDGETS = Resource("example.com", "v1", "widgets", "Widget", has_status=True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Resource:
    """One API collection, e.g. ``Resource("", "v1", "pods", "Pod")``.

    ``has_status`` says the resource serves a ``status`` subresource: writes through the main endpoint then
    leave ``.status`` untouched and ``patch_status`` changes nothing else. The real API server knows this by
    itself; the in-memory backend relies on the flag.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    has_status: bool = False

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` field of objects of this resource (``v1`` or ``group/version``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> str:
        """``Kind.group`` (or just ``Kind`` for the core group), the way Kubernetes prints it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path of the collection, of one object, or of one object's subresource."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base = f"{base}/namespaces/{namespace}"
        base = f"{base}/{self.plural}"
        if name is not None:
            base = f"{base}/{name}"
            if subresource:
                base = f"{base}/{subresource}"
        return base

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


class ObjectKey(NamedTuple):
    """Namespace and name of one object; the namespace is ``""`` for cluster-scoped objects."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


PODS = Resource("", "v1", "pods", "Pod", has_status=True)
SERVICES = Resource("", "v1", "services", "Service", has_status=True)
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False, has_status=True)
NODES = Resource("", "v1", "nodes", "Node", namespaced=False, has_status=True)
EVENTS = Resource("events.k8s.io", "v1", "events", "Event")
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
)
JOBS = Resource("batch", "v1", "jobs", "Job", has_status=True)
