import asyncio

import pytest

from kuberay_py.runtime import allocator


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def mallopt(self, *args: int) -> int:
        self.calls.append(("mallopt", args))
        return 1

    def malloc_trim(self, *args: int) -> int:
        self.calls.append(("malloc_trim", args))
        return 1


@pytest.fixture
def libc(monkeypatch):
    fake = FakeLibc()
    monkeypatch.setattr(allocator, "_libc", fake)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return fake


def test_tune_pins_the_mmap_threshold(libc):
    allocator.tune()
    assert libc.calls == [("mallopt", (-3, 128 * 1024))]


def test_a_threshold_from_the_environment_wins(libc, monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    allocator.tune()
    assert libc.calls == []


def test_release_trims_the_heap(libc):
    allocator.release()
    assert libc.calls == [("malloc_trim", (0,))]


async def test_release_periodically_until_cancelled(libc):
    task = asyncio.create_task(allocator.release_periodically(0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(libc.calls) >= 2 and set(libc.calls) == {("malloc_trim", (0,))}


def test_without_glibc_nothing_is_called(monkeypatch):
    monkeypatch.setattr(allocator, "_libc", None)
    allocator.tune()
    allocator.release()


def test_the_real_calls_work_here():
    # On glibc these are real mallopt/malloc_trim calls; elsewhere no-ops.
    allocator.release()
