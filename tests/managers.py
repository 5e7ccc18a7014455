"""Running a runtime Manager in the background of a test, unit or integration alike."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from kuberay_py.runtime import Manager


@contextlib.asynccontextmanager
async def running(manager: Manager, stop_timeout: float = 30.0) -> AsyncIterator[asyncio.Task[None]]:
    """`manager.run()` as a task for the block; stopped (gracefully, then given up on) when it ends."""
    task = asyncio.create_task(manager.run())
    try:
        yield task
    finally:
        manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, stop_timeout)
