"""Keeping cancellation intact when library code turns a ``CancelledError`` into another exception.

Closing an async generator or a connection while it is busy can raise ``RuntimeError``/``OSError`` in place
of the ``CancelledError`` that caused it; a loop that retries on ``Exception`` would then never stop. Loops
call :func:`raise_if_cancelling` in their ``except Exception`` branches.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelling(cause: BaseException | None = None) -> None:
    """Raise ``CancelledError`` if the current task has been asked to cancel."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from cause
