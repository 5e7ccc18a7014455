"""Give memory the process has freed back to the operating system (glibc's malloc; elsewhere a no-op).

glibc keeps freed memory for reuse rather than returning it, in two ways that matter to an operator whose
work comes in bursts:

* A block above the mmap threshold gets pages of its own, unmapped when freed. But glibc raises the
  threshold to the size of each such block that is freed, so once the first TLS connection has closed, the
  read buffer of every later one (asyncio allocates a large one per connection) and every large response
  body is carved from the heap instead, and a burst leaves them there. :func:`tune` pins the threshold at
  glibc's default, as ``MALLOC_MMAP_THRESHOLD_`` would; a value set in the environment wins.
* Free pages in the middle of the heap (what imports, startup and each burst leave behind) stay resident
  until ``malloc_trim`` is called: :func:`release_periodically` calls it every so often.
"""

from __future__ import annotations

import asyncio
import ctypes
import os

_M_MMAP_THRESHOLD = -3
# glibc's own default, the largest block that is carved from the heap.
_MMAP_THRESHOLD = 128 * 1024
RELEASE_INTERVAL = 10.0


def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL(None)
    except (ValueError, OSError):  # not glibc, or no such confstr name
        return None


_libc = _glibc()


def tune() -> None:
    """Keep large blocks out of the heap, unless the environment already says where they go."""
    if _libc is not None and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        _libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)


def release() -> None:
    """Hand the heap's free pages back to the operating system."""
    if _libc is not None:
        _libc.malloc_trim(0)


async def release_periodically(interval: float = RELEASE_INTERVAL) -> None:
    """:func:`release` every ``interval`` seconds, until cancelled. A trim costs a walk of the free lists."""
    while True:
        await asyncio.sleep(interval)
        release()
