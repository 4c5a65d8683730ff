"""Run jobs on worker threads that stop promptly when one fails or the run is interrupted.

A thread cannot be killed, so stopping is cooperative: each job gets a :class:`Cancellation`
and checks it between steps and between chunks of its work (:meth:`Cancellation.watch` wraps
the job's progress task, whose ``advance`` the packers call after every chunk they read).
When a job fails, or Ctrl-C interrupts the thread waiting for them, :func:`run_parallel`
drops the queued jobs, cancels the running ones, waits until every thread has stopped (each
removes its own temporaries on the way out), undoes what the finished jobs made, and raises
the first failure (the ``KeyboardInterrupt`` itself, for an interrupt).
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from envstacks.floor.report import Reporter, Task

T = TypeVar("T")
R = TypeVar("R")


class Cancelled(Exception):
    """Raised inside a job whose run was cancelled (another job failed, or Ctrl-C)."""


class Cancellation:
    """A flag the jobs of one run check to stop early."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask every job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether the run was cancelled."""
        return self._event.is_set()

    def check(self) -> None:
        """Stop here if the run was cancelled.

        Raises:
            Cancelled: it was.
        """
        if self._event.is_set():
            raise Cancelled

    def watch(self, task: Task) -> Task:
        """``task``, checking for cancellation each time it advances."""
        return _WatchedTask(task, self)

    def watching(self, reporter: Reporter) -> Reporter:
        """``reporter``, whose every task checks for cancellation each time it advances.

        For work that reports progress through a reporter it was handed (a runtime provider's
        copy): it stops at its next step once the run is cancelled.
        """
        return _WatchingReporter(reporter, self)

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, checking for cancellation before each one."""
        for item in items:
            self.check()
            yield item


class _WatchedTask:
    """A progress task that stops its job when the run is cancelled."""

    def __init__(self, task: Task, cancellation: Cancellation) -> None:
        self._task = task
        self._cancellation = cancellation

    def advance(self, amount: int = 1) -> None:
        self._cancellation.check()
        self._task.advance(amount)

    def set_total(self, total: int | None) -> None:
        self._task.set_total(total)

    def note(self, text: str) -> None:
        self._task.note(text)

    def __enter__(self) -> Task:
        self._task.__enter__()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._task.__exit__(exc_type, exc, tb)


class _WatchingReporter:
    """A reporter whose tasks stop their job when the run is cancelled."""

    def __init__(self, reporter: Reporter, cancellation: Cancellation) -> None:
        self._reporter = reporter
        self._cancellation = cancellation

    def info(self, message: str) -> None:
        self._reporter.info(message)

    def warning(self, message: str) -> None:
        self._reporter.warning(message)

    def debug(self, message: str) -> None:
        self._reporter.debug(message)

    def task(self, layer: str, action: str, total: int | None = None, *, unit: str = "") -> Task:
        self._cancellation.check()
        return self._cancellation.watch(self._reporter.task(layer, action, total, unit=unit))


def run_parallel(
    job: Callable[[T, Cancellation], R],
    items: Sequence[T],
    *,
    workers: int,
    name: str,
    undo: Callable[[R], None],
) -> list[R]:
    """``job(item, cancellation)`` for every item on ``workers`` threads; results in item order.

    Raises:
        BaseException: the first job's failure, or the interrupt of the calling thread; by
            then every thread has stopped and ``undo`` ran for each finished job's result.
    """
    cancellation = Cancellation()
    pool = concurrent.futures.ThreadPoolExecutor(max(1, workers), thread_name_prefix=name)
    futures: list[concurrent.futures.Future[R]] = []
    interrupt: BaseException | None = None
    try:
        futures = [pool.submit(job, item, cancellation) for item in items]
        for future in concurrent.futures.as_completed(futures):
            if future.exception() is not None:
                break
    except BaseException as exc:  # Ctrl-C while waiting: stop the workers, then re-raise
        interrupt = exc
    finally:
        cancellation.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    results: list[R] = []
    failure = interrupt
    for future in futures:
        if future.cancelled():
            continue
        error = future.exception()
        if error is None:
            results.append(future.result())
        elif failure is None and not isinstance(error, Cancelled):
            failure = error
    if failure is not None:
        for result in results:
            undo(result)
        raise failure
    return results
