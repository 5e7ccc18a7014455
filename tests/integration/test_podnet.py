"""The pod network on the real kernel: namespaces joined by their own bridge, relays to and from the host's
loopback, and cleanup, checked against `ip` and /proc, and the root network namespace watched throughout."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from kuberay_py.testing.podnet import (
    STATE_DIR,
    CommandError,
    PodNetwork,
    PodNetworkError,
    PodSandbox,
    list_namespaces,
    remove_leftovers,
)
from tests.integration.processes import process_state
from tests.waiting import eventually

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="creating network namespaces needs root"),
    pytest.mark.timeout(120),
]

PREFIX = "krpytest-"
PAYLOAD_SIZE = 256 * 1024

# Pod processes: tiny scripts run with the test's own interpreter inside a namespace.
ECHO_SERVER = """
import asyncio, sys

async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(echo, sys.argv[1], int(sys.argv[2]))
    print("ready", flush=True)
    await server.serve_forever()

asyncio.run(main())
"""

ECHO_CLIENT = """
import asyncio, sys

async def one(host, port, payload):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    writer.write(payload)
    writer.write_eof()
    echoed = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return echoed == payload

async def main():
    host, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    payload = bytes(range(256)) * (size // 256)
    results = await asyncio.gather(*(one(host, port, payload) for _ in range(count)))
    print("ok" if all(results) else f"mismatch {results}")

asyncio.run(main())
"""

# Prints "<target> connected" or "<target> <the error's type>" for each host:port given.
PROBE = """
import socket, sys

for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
        print(target, "connected")
    except OSError as error:
        print(target, type(error).__name__)
"""

# An instance that crashes: namespaces, a pod process and a relay forwarder, then SIGKILL from the test.
CRASHING_INSTANCE = """
import asyncio, sys
from kuberay_py.testing.podnet import PodNetwork

async def main():
    network = PodNetwork(prefix=sys.argv[1])
    await network.start()
    a = await network.add_pod("a")
    b = await network.add_pod("b")
    sleeper = await asyncio.create_subprocess_exec(
        *a.exec_prefix(), "sleep", "300", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL
    )
    await network.relay_out_of(b, 80)
    print(network.run_name, sleeper.pid, flush=True)
    await asyncio.sleep(300)

asyncio.run(main())
"""


# --- helpers ----------------------------------------------------------------------------------------------


async def sh(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, f"{argv}: {err.decode()}"
    return out.decode()


async def run_in(sandbox: PodSandbox, script: str, *args: object) -> str:
    return (await sh(*sandbox.exec_prefix(), sys.executable, "-c", script, *map(str, args))).strip()


async def spawn_in(sandbox: PodSandbox, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *sandbox.exec_prefix(), *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    # Bounded: asyncio's wait() also waits for the pipes, which a surviving child may hold open.
    await asyncio.wait_for(process.wait(), 10)


@contextlib.asynccontextmanager
async def echo_server_in(sandbox: PodSandbox, host: str, port: int) -> AsyncIterator[None]:
    server = await spawn_in(sandbox, sys.executable, "-c", ECHO_SERVER, host, str(port))
    try:
        assert server.stdout is not None
        assert await asyncio.wait_for(server.stdout.readline(), 20) == b"ready\n"
        yield
    finally:
        await stop(server)


@contextlib.asynccontextmanager
async def host_echo_server(host: str = "127.0.0.1") -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, host, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


async def exchange(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    writer.write(payload)
    writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


async def host_echo_through(host: str, port: int, payload: bytes) -> bytes | None:
    """What an echo exchange from the host to host:port brings back; None if it cannot connect."""
    try:
        async with asyncio.timeout(2):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            writer.write_eof()
            return await reader.read()
    except (OSError, TimeoutError):
        return None


def is_dead(pid: int) -> bool:
    return process_state(pid) in (None, "Z", "X")  # a zombie has finished; only its parent is late


async def all_dead(pids: list[int]) -> bool:
    return all(is_dead(pid) for pid in pids)


async def pids_in(netns: str) -> list[int]:
    return [int(pid) for pid in (await sh("ip", "netns", "pids", netns)).split()]


async def host_ipv4_addresses() -> list[str]:
    found = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", await sh("ip", "-o", "-4", "addr"))
    return [address for address in found if not address.startswith("127.")]


async def root_namespace_snapshot() -> dict[str, str]:
    # Address lifetimes count down by themselves; everything else must be exactly as it was.
    addresses = re.sub(r"valid_lft \S+ preferred_lft \S+", "", await sh("ip", "-o", "addr"))
    return {
        "link": await sh("ip", "-o", "link"),
        "addr": addresses,
        "route": await sh("ip", "route"),
        "route6": await sh("ip", "-6", "route"),
    }


# rtnetlink groups: link, IPv4 and IPv6 addresses and routes.
_RTNL_GROUPS = 0x1 | 0x10 | 0x40 | 0x100 | 0x400


@contextlib.contextmanager
def root_namespace_events() -> Iterator[list[int]]:
    """Collect the type of every link, address and route change in this process's (the root) namespace;
    subscribed before the body runs, so even a change undone at once is seen."""
    events: list[int] = []
    with socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE
    ) as sock:
        sock.bind((0, _RTNL_GROUPS))
        yield events
        while True:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as error:  # ENOBUFS: more changes than the socket could hold
                events.append(-(error.errno or 0))
                break
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("IH", data, offset)
                events.append(kind)
                offset += max((length + 3) & ~3, 16)  # netlink pads each message to an aligned length


async def crashed_instance() -> tuple[str, str]:
    """Run an instance in a process of its own and SIGKILL it, so none of its own cleanup runs; return its
    run name and the pid of a process it left in a pod."""
    crashing = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_INSTANCE, PREFIX, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert crashing.stdout is not None
        run_name, sleeper = (await asyncio.wait_for(crashing.stdout.readline(), 30)).decode().split()
    finally:
        await stop(crashing)
    return run_name, sleeper


@pytest.fixture
async def network() -> AsyncIterator[PodNetwork]:
    async with PodNetwork(prefix=PREFIX) as network:
        yield network


# --- the switch -------------------------------------------------------------------------------------------


async def test_pods_talk_tcp_to_each_other_over_the_switch(network: PodNetwork) -> None:
    a = await network.add_pod("default/head")
    b = await network.add_pod("default/worker")

    assert a.ip != b.ip
    assert {a.ip, b.ip} <= {str(host) for host in network.subnet.hosts()} - {network.gateway}
    assert a.netns.startswith(f"{network.run_name}-") and b.netns.startswith(f"{network.run_name}-")
    async with echo_server_in(b, b.ip, 7000):
        assert await run_in(a, ECHO_CLIENT, b.ip, 7000, 3, PAYLOAD_SIZE) == "ok"


async def test_pods_reach_nothing_but_pods(network: PodNetwork) -> None:
    a = await network.add_pod("a")
    b = await network.add_pod("b")
    async with host_echo_server("0.0.0.0") as host_port, echo_server_in(a, a.ip, 7000):
        targets = [f"{a.ip}:7000", f"127.0.0.1:{host_port}"]
        targets += [f"{address}:{host_port}" for address in await host_ipv4_addresses()]
        results = dict(line.split() for line in (await run_in(b, PROBE, *targets)).splitlines())

        assert results.pop(f"{a.ip}:7000") == "connected"
        assert results.pop(f"127.0.0.1:{host_port}") == "ConnectionRefusedError"  # the pod's own loopback
        assert "connected" not in results.values(), results
        # The host's own routes never lead to a pod (a proxy out there may still accept the connection).
        assert await host_echo_through(a.ip, 7000, b"ping") != b"ping"


async def test_the_root_namespace_gains_no_interface_address_or_route() -> None:
    before = await root_namespace_snapshot()
    with root_namespace_events() as events:
        async with PodNetwork(prefix=PREFIX) as network:
            a = await network.add_pod("a")
            b = await network.add_pod("b")
            async with host_echo_server() as host_port, echo_server_in(b, "127.0.0.1", 7000):
                await network.relay_into(a, host_port, 6443)
                out_port, _ = await network.relay_out_of(b, 7000)
                assert await run_in(a, ECHO_CLIENT, "127.0.0.1", 6443, 1, 1024) == "ok"
                assert await exchange(out_port, b"hello") == b"hello"
                during = await root_namespace_snapshot()
            await network.remove_pod("a")
        after = await root_namespace_snapshot()

    assert during == before
    assert after == before
    assert events == [], "link/address/route changes in the root namespace (rtnetlink message types)"


# --- pods -------------------------------------------------------------------------------------------------


async def test_remove_pod_kills_its_processes_and_deletes_its_namespace_and_veth(network: PodNetwork) -> None:
    pod = await network.add_pod("default/head")
    sleeper = await spawn_in(pod, "sleep", "300")
    host_port, relay = await network.relay_out_of(pod, 7000)
    assert await eventually(lambda: pids_in(pod.netns), timeout=10, what="the sleeper in the pod")

    await network.remove_pod(pod.key)

    assert await asyncio.wait_for(sleeper.wait(), 5) == -signal.SIGKILL
    assert await host_echo_through("127.0.0.1", host_port, b"ping") is None  # its relay is closed too
    assert not relay.socket_path.exists()
    assert pod.netns not in await list_namespaces(PREFIX)
    assert "port" not in await sh("ip", "-n", network.bridge_netns, "-o", "link")
    assert network.pods == {}
    await network.remove_pod(pod.key)  # removing twice is fine, as a kubelet may retry
    again = await network.add_pod("default/head")
    assert again.ip != pod.ip  # a freed address is not handed out again at once
    assert again.netns != pod.netns


async def test_addresses_run_out_and_freed_ones_come_back() -> None:
    async with PodNetwork(prefix=PREFIX, subnet="10.244.7.0/29") as network:
        pods = [await network.add_pod(f"p{n}") for n in range(5)]
        assert [pod.ip for pod in pods] == [f"10.244.7.{n}" for n in range(2, 7)]
        with pytest.raises(PodNetworkError, match=re.escape("no free address left in 10.244.7.0/29")):
            await network.add_pod("one-too-many")
        with pytest.raises(ValueError, match="already has a sandbox"):
            await network.add_pod("p0")

        await network.remove_pod("p1")
        assert (await network.add_pod("p5")).ip == "10.244.7.3"
        assert len(await list_namespaces(f"{network.run_name}-")) == 6  # five pods and the switch


async def test_a_failing_command_is_named_with_its_stderr_and_leaves_nothing() -> None:
    async with PodNetwork(prefix=PREFIX) as network:
        await sh("ip", "netns", "delete", network.bridge_netns)  # the switch is gone under it

        with pytest.raises(CommandError) as failure:
            await network.add_pod("default/head")

        message = str(failure.value)
        assert f"`ip -n {network.bridge_netns} -batch -` exited with" in message
        assert "link add port1 type veth" in message
        assert failure.value.detail  # ip's own stderr
        assert await list_namespaces(f"{network.run_name}-") == []  # the half-made pod is gone
        assert network.pods == {}


# --- relays -----------------------------------------------------------------------------------------------


async def test_relay_into_a_pod_reaches_a_server_on_the_host_loopback(network: PodNetwork) -> None:
    pod = await network.add_pod("default/head")
    async with host_echo_server() as host_port:
        relay = await network.relay_into(pod, host_port, 6443)
        assert relay.socket_path.is_socket()

        assert await run_in(pod, ECHO_CLIENT, "127.0.0.1", 6443, 4, PAYLOAD_SIZE) == "ok"

        await relay.close()
        assert await run_in(pod, PROBE, "127.0.0.1:6443") == "127.0.0.1:6443 ConnectionRefusedError"
        assert not relay.socket_path.exists()
        await relay.close()  # closing twice is fine


async def test_relay_out_of_a_pod_reaches_servers_bound_inside_it(network: PodNetwork) -> None:
    pod = await network.add_pod("default/head")
    http = await spawn_in(pod, sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "8000")
    try:
        assert http.stdout is not None
        assert (await asyncio.wait_for(http.stdout.readline(), 20)).startswith(b"Serving HTTP")
        http_port, http_relay = await network.relay_out_of(pod, 8000)
        answer = await exchange(http_port, b"GET / HTTP/1.0\r\n\r\n")
        assert answer.startswith(b"HTTP/1.0 200 OK"), answer[:200]
    finally:
        await stop(http)

    async with echo_server_in(pod, pod.ip, 7000):  # bound to eth0 only, reached through the pod's address
        echo_port, echo_relay = await network.relay_out_of(pod, 7000, pod_host=pod.ip)
        payload = os.urandom(PAYLOAD_SIZE)
        answers = await asyncio.gather(*(exchange(echo_port, payload) for _ in range(4)))
        assert answers == [payload] * 4

    async with echo_relay:
        pass
    with pytest.raises(OSError):
        await exchange(echo_port, b"x")
    assert http_relay.socket_path.exists()  # the other relay is untouched


async def test_a_relay_that_cannot_listen_says_why(network: PodNetwork) -> None:
    pod = await network.add_pod("default/head")
    async with echo_server_in(pod, "127.0.0.1", 6443):
        with pytest.raises(CommandError) as failure:
            await network.relay_into(pod, 1, 6443)

    message = str(failure.value)
    assert "ip netns exec" in message and "kuberay_py.testing.podnet_forward tcp-to-unix 6443" in message
    assert "address already in use" in message.lower()
    assert list((STATE_DIR / network.run_name).iterdir()) == []  # no socket left behind


# --- cleanup ----------------------------------------------------------------------------------------------


async def test_close_leaves_no_namespace_and_no_process() -> None:
    prefix = f"{PREFIX}close-"
    network = PodNetwork(prefix=prefix)
    await network.start()
    a = await network.add_pod("a")
    b = await network.add_pod("b")
    sleepers = [await spawn_in(pod, "sleep", "300") for pod in (a, b)]
    await network.relay_out_of(a, 7000)
    await network.relay_into(b, 1, 6443)
    names = await list_namespaces(prefix)
    assert len(names) == 3
    pids = [pid for name in names for pid in await pids_in(name)]
    assert len(pids) == 4  # two sleepers, two forwarders

    await network.close()

    assert await list_namespaces(prefix) == []
    assert await eventually(lambda: all_dead(pids), timeout=5, what=f"the end of processes {pids}")
    assert [await asyncio.wait_for(sleeper.wait(), 5) for sleeper in sleepers] == [-signal.SIGKILL] * 2
    assert not (STATE_DIR / network.run_name).exists()
    assert not (STATE_DIR / f"{network.run_name}.lock").exists()
    await network.close()  # closing twice is fine
    with pytest.raises(PodNetworkError, match="after close"):
        await network.add_pod("c")


async def test_remove_leftovers_cleans_up_a_crashed_instance_and_spares_live_ones(
    network: PodNetwork,
) -> None:
    run_name, sleeper = await crashed_instance()
    leftovers = await list_namespaces(f"{run_name}-")
    assert len(leftovers) == 3
    assert not is_dead(int(sleeper))
    # Namespaces made and never closed by anyone, without any state of their own.
    orphan = f"{PREFIX}{'0' * 8}-br"
    await sh("ip", "netns", "add", orphan)

    removed = await remove_leftovers(PREFIX)

    assert sorted(removed) == sorted([*leftovers, orphan])
    assert await list_namespaces(f"{run_name}-") == [] and orphan not in await list_namespaces(PREFIX)
    assert await eventually(lambda: all_dead([int(sleeper)]), timeout=5, what="the crashed pod's sleeper")
    assert not (STATE_DIR / run_name).exists() and not (STATE_DIR / f"{run_name}.lock").exists()
    # The live instance was spared and still works.
    assert network.bridge_netns in await list_namespaces(PREFIX)
    pod = await network.add_pod("still-alive")
    assert await run_in(pod, PROBE, f"{network.gateway}:1") == f"{network.gateway}:1 ConnectionRefusedError"
