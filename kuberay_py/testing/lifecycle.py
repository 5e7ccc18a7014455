"""The `async with` protocols of the test parts that are started and stopped, or closed, and ending the
task a part runs in the background."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from typing import Any, Self


class StartStop(ABC):
    """`async with part:` starts it and stops it again, however the block ends."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class CloseOnExit(ABC):
    """`async with part:` closes it however the block ends; a part that has to start first does that in an
    `__aenter__` of its own."""

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended; an error it ended with before is raised here."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
