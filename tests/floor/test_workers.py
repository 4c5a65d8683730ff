"""Worker jobs stop at their next chunk when one fails or the waiting thread is interrupted."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from envstacks.floor.report import NullReporter
from envstacks.floor.workers import Cancellation, Cancelled, run_parallel


def _endless(stopped: list[str]):  # type: ignore[no-untyped-def]
    """A job that advances its task forever, as a packer reading chunks does."""

    def job(name: str, cancellation: Cancellation) -> str:
        try:
            with cancellation.watch(NullReporter().task(name, "pack")) as task:
                if name == "quick":
                    return name
                if name == "broken":
                    raise OSError(28, "No space left on device")
                while True:
                    task.advance(1 << 20)
                    time.sleep(0.01)
        finally:
            stopped.append(name)

    return job


def test_a_failing_job_stops_the_others_and_undoes_the_finished():
    stopped: list[str] = []
    undone: list[str] = []
    with pytest.raises(OSError, match="No space left"):
        run_parallel(
            _endless(stopped),
            ["quick", "endless", "broken", "queued"],
            workers=3,
            name="test",
            undo=undone.append,
        )
    assert undone == ["quick"]
    assert "endless" in stopped and "broken" in stopped


def test_an_interrupt_of_the_waiting_thread_stops_every_job():
    stopped: list[str] = []
    undone: list[str] = []
    # Ctrl-C: a real SIGINT to this process (Linux hands it to the waiting main thread).
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_parallel(
            _endless(stopped),
            ["quick", "endless", "endless-too"],
            workers=3,
            name="test",
            undo=undone.append,
        )
    assert time.monotonic() - started < 30  # not stuck waiting for endless jobs
    assert sorted(stopped) == ["endless", "endless-too", "quick"]
    assert undone == ["quick"]


def test_results_come_in_item_order():
    def job(item: int, cancellation: Cancellation) -> int:
        cancellation.check()
        time.sleep(0.01 * (5 - item))
        return item * 10

    assert run_parallel(job, [1, 2, 3, 4], workers=4, name="t", undo=print) == [10, 20, 30, 40]


def test_a_cancelled_job_raises_cancelled_at_its_next_check():
    cancellation = Cancellation()
    items = cancellation.each([1, 2, 3])
    assert next(items) == 1
    cancellation.cancel()
    with pytest.raises(Cancelled):
        next(items)
