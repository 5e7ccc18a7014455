"""Process faults at a random moment: the operator killed (SIGKILL) or asked to stop (SIGTERM), and the API
server restarted. The moment is drawn from the caller's seeded ``random.Random``, so a failing run replays.

The blocking parts (waiting for an exit, for the API server to be ready) run in a worker thread, so the
test's event loop keeps observing while the fault happens.
"""

from __future__ import annotations

import asyncio
import random
import signal

from kuberay_py.testing.controlplane import ControlPlane
from kuberay_py.testing.operator_process import OperatorProcess


async def signal_operator_at_random_moment(
    process: OperatorProcess,
    rng: random.Random,
    *,
    within: tuple[float, float] = (0.0, 2.0),
    sig: signal.Signals = signal.SIGKILL,
    restart: bool = True,
    exit_timeout: float = 30.0,
) -> float:
    """After a random delay in `within`, SIGKILL or SIGTERM the operator, then start it again (without
    waiting for it to be ready) if `restart`. Returns the delay.

    After SIGTERM the operator must exit within `exit_timeout`: if it does not, it is killed and this
    raises, because a restart would otherwise run two operators at once.
    """
    if sig not in (signal.SIGKILL, signal.SIGTERM):
        raise ValueError(f"only SIGKILL and SIGTERM are supported, not {sig!r}")
    delay = rng.uniform(*within)
    await asyncio.sleep(delay)
    if sig is signal.SIGKILL:
        await asyncio.to_thread(process.kill)
    elif await asyncio.to_thread(process.terminate, exit_timeout) is None:
        await asyncio.to_thread(process.kill)
        raise RuntimeError(f"the operator did not exit within {exit_timeout:.0f}s of SIGTERM")
    if restart:
        process.start(wait_ready=False)
    return delay


async def restart_apiserver_at_random_moment(
    plane: ControlPlane, rng: random.Random, *, within: tuple[float, float] = (0.0, 2.0)
) -> float:
    """After a random delay in `within`, restart kube-apiserver; returns once it is ready again, with the
    delay."""
    delay = rng.uniform(*within)
    await asyncio.sleep(delay)
    await asyncio.to_thread(plane.restart_apiserver)
    return delay
