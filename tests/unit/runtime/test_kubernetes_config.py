"""kubernetes-asyncio's loader without its generated models: each case runs in a fresh interpreter, since
this one may have imported kubernetes-asyncio already."""

import subprocess
import sys
import textwrap


def run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_operator_does_not_import_the_generated_api_or_models():
    out = run(
        """
        import sys
        import kuberay_py.operator
        loaded = [m for m in sys.modules if m.startswith("kubernetes_asyncio.client.")]
        print(any(".models." in m or m.startswith("kubernetes_asyncio.client.api.") for m in loaded))
        """
    )
    assert out == "False"


def test_every_name_of_the_packages_is_still_there():
    out = run(
        """
        import kuberay_py.runtime
        import kubernetes_asyncio
        from kubernetes_asyncio import client, watch
        from kubernetes_asyncio.client import CoreV1Api, V1Pod
        assert client.models.V1Pod is V1Pod and client.V1ObjectMeta.__name__ == "V1ObjectMeta"
        assert kubernetes_asyncio.__version__ and watch.Watch and CoreV1Api
        print("ok")
        """
    )
    assert out == "ok"


def test_api_client_deserializes_into_models():
    out = run(
        """
        import asyncio, json
        from kuberay_py.runtime.kubernetes_config import ApiClient, Configuration

        class Response:
            data = json.dumps({"metadata": {"name": "p"}})

        async def main():
            async with ApiClient(Configuration()) as api:
                pod = api.deserialize(Response(), "V1Pod")
            print(type(pod).__name__, pod.metadata.name)

        asyncio.run(main())
        """
    )
    assert out == "V1Pod p"


def test_a_package_imported_before_is_left_alone():
    out = run(
        """
        import kubernetes_asyncio.client
        import kuberay_py.runtime
        print(type(kubernetes_asyncio.client).__name__)
        """
    )
    assert out == "module"
