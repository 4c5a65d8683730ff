"""Finding uv: once per process, by one thread at a time (builds run on threads)."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterator

import pytest

from envstacks.floor import uvrun


@pytest.fixture
def slow_finder(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``uv.find_uv_bin`` replaced by a slow one that records its callers' threads.

    The real one reads ``sysconfig``, whose first use in a process is not thread-safe; that
    race cannot be replayed once the test process has used ``sysconfig``, so the test shows
    that two threads never look for uv at the same time.
    """
    calls: list[str] = []

    def find_uv_bin() -> str:
        calls.append(threading.current_thread().name)
        time.sleep(0.05)
        return "/opt/uv/bin/uv"

    monkeypatch.setitem(sys.modules, "uv", types.SimpleNamespace(find_uv_bin=find_uv_bin))
    uvrun._find_uv_bin.cache_clear()
    yield calls
    uvrun._find_uv_bin.cache_clear()


def test_threads_look_for_uv_once(slow_finder: list[str]) -> None:
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(uvrun.uv_bin()), name=f"build-{i}")
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == ["/opt/uv/bin/uv"] * 4
    assert len(slow_finder) == 1
