"""kubernetes-asyncio's configuration loading and HTTP plumbing, without its generated API classes and models.

The operator uses kubernetes-asyncio for what is hard to get right (kubeconfig and in-cluster loading, exec
plugins, auth providers, token refresh, TLS) and does everything else on raw JSON. But importing any of its
modules first runs ``kubernetes_asyncio/__init__.py`` and ``kubernetes_asyncio/client/__init__.py``, which
import every generated API class and model, and those models are most of the operator's idle memory.

So before the first import, the three packages whose ``__init__`` pulls them in are registered as
:class:`_LazyPackage` modules: their submodules import as usual, the few names the loader needs come from
the submodules that define them, and any other name runs the real ``__init__`` first, so code that wants
``kubernetes_asyncio.client.V1Pod`` (or ``from kubernetes_asyncio import watch``) still gets it. A package
that is already imported is left alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from importlib.machinery import ModuleSpec
from typing import Any

_PACKAGES = ("kubernetes_asyncio", "kubernetes_asyncio.client", "kubernetes_asyncio.client.models")
# Names the configuration loader imports from a package, and the submodule that defines each.
_DEFINED_IN = {
    "kubernetes_asyncio.client": {
        "ApiClient": "kubernetes_asyncio.client.api_client",
        "Configuration": "kubernetes_asyncio.client.configuration",
        "ApiException": "kubernetes_asyncio.client.exceptions",
        "ApiValueError": "kubernetes_asyncio.client.exceptions",
        "ApiTypeError": "kubernetes_asyncio.client.exceptions",
        "ApiKeyError": "kubernetes_asyncio.client.exceptions",
        "OpenApiException": "kubernetes_asyncio.client.exceptions",
    },
}


class _LazyPackage(types.ModuleType):
    """A package whose ``__init__`` runs only when a name it defines is asked for."""

    __spec__: ModuleSpec
    _loaded: bool

    def __getattr__(self, name: str) -> Any:
        fullname = f"{self.__name__}.{name}"
        if not name.startswith("__") and importlib.util.find_spec(fullname) is not None:
            return importlib.import_module(fullname)  # the import binds it on this package too
        where = _DEFINED_IN.get(self.__name__, {}).get(name)
        if where is not None:
            value = getattr(importlib.import_module(where), name)
            setattr(self, name, value)
            return value
        if self.__dict__.get("_loaded", True):  # loaded, or loading now: the name does not exist
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        self._loaded = True
        loader = self.__spec__.loader
        assert loader is not None
        loader.exec_module(self)
        return self.__dict__[name] if name in self.__dict__ else self.__getattribute__(name)


def _install() -> None:
    for name in _PACKAGES:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return  # not installed, or laid out differently: plain imports will do
        module = _LazyPackage(name)
        module.__spec__ = spec
        module.__loader__ = spec.loader
        module.__file__ = spec.origin
        module.__path__ = list(spec.submodule_search_locations)
        module.__package__ = name
        module._loaded = False
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)


_install()

from kubernetes_asyncio.client.api_client import ApiClient  # noqa: E402
from kubernetes_asyncio.client.configuration import Configuration  # noqa: E402
from kubernetes_asyncio.config import load_incluster_config, load_kube_config  # noqa: E402
from kubernetes_asyncio.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION  # noqa: E402

__all__ = [
    "KUBE_CONFIG_DEFAULT_LOCATION",
    "ApiClient",
    "Configuration",
    "load_incluster_config",
    "load_kube_config",
]
