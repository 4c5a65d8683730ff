"""Unpack several large archives at once in worker processes, so layers unpack on every core.

Unpacking is Python work (tar headers, the safety checks of :mod:`envstacks.published.safe_unpack`)
between system calls, so two threads unpacking two layers take about as long as one thread
unpacking both: they share one interpreter lock. Worker processes do not (the numbers are in
docs/deploy.md). Workers cost a start-up, so they are used only where they pay: at least two
archives of :data:`PROCESS_MIN` bytes or more, more than one core, and a format that can be
sent to another process. Anything else (an update of one application, say) unpacks in the
deploying process.

Workers come from a ``forkserver`` (``spawn`` where there is none), never from forking the
deploying process, which runs threads (fetching, progress display); the fork server loads the
unpack code once. A worker reports no progress while it runs: its layer's task advances when
it is done. Errors (refusals included) come back as they were raised.

Ctrl-C is the deploying process's to handle: a terminal sends SIGINT to every process of the
foreground job, and a worker that took it would print its own traceback. Workers ignore it
(the fork server starts with SIGINT blocked, which its children inherit, and each worker
ignores it as it starts); when the run is cancelled (Ctrl-C, or another layer failed), the
deploying process ends the workers at once instead of waiting for their archives.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import signal
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType

from envstacks.floor.report import Task
from envstacks.floor.workers import Cancellation, Cancelled
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.manifest import ManifestLayer
from envstacks.published.verified_unpack import UnpackJob, unpack_verified

__all__ = ["PROCESS_MIN", "Unpackers"]

#: Archives smaller than this unpack in the deploying process (compressed bytes).
PROCESS_MIN = 4 << 20
#: How often a thread waiting for a worker checks whether the run was cancelled (seconds).
_POLL = 0.1


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Unpackers:
    """Where each archive of one deploy is unpacked: here, or in a worker process."""

    def __init__(self, layers: Sequence[ManifestLayer], *, jobs: int | None = None) -> None:
        big = sum(1 for layer in layers if layer.archive_size >= PROCESS_MIN)
        self.workers = min(jobs or _cores(), _cores(), big)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def __enter__(self) -> Unpackers:
        if self.workers > 1:
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context(
                "forkserver" if "forkserver" in methods else "spawn"
            )
            if "forkserver" in methods:
                context.set_forkserver_preload(["envstacks.published.verified_unpack"])
                _start_forkserver_deaf_to_ctrl_c()
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_ignore_ctrl_c
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            if error is not None:
                # Nothing more is wanted from the workers. A worker spawned for one layer while
                # another layer's thread ended the others would wait for work for ever, and the
                # shutdown below with it (seen after Ctrl-C on a loaded machine).
                self._stop_workers()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def unpack(
        self, job: UnpackJob, task: Task | None = None, *, cancellation: Cancellation | None = None
    ) -> Path:
        """``unpack_verified`` (the published format's), in a worker process where it pays.

        Raises:
            Cancelled: ``cancellation`` was cancelled while a worker unpacked the archive; the
                workers have been ended (nothing more is written into the work folder).
        """
        if self._pool is None or job.layer.archive_size < PROCESS_MIN or not _sendable(job.fmt):
            return unpack_verified(job, task)
        future = self._pool.submit(unpack_verified, job)
        while True:
            try:
                root = future.result(timeout=_POLL)
                break
            except concurrent.futures.TimeoutError:
                if cancellation is not None and cancellation.cancelled:
                    self._stop_workers()
                    raise Cancelled from None
            except BrokenProcessPool:
                if cancellation is not None and cancellation.cancelled:
                    raise Cancelled from None  # another layer's thread ended the workers
                raise
        if task is not None:
            task.advance(job.layer.archive_size)
        return root

    def _stop_workers(self) -> None:
        """End the worker processes now, and wait until they are gone.

        Again while any is alive: the pool may start one meanwhile (a submit racing the end).
        """
        pool = self._pool
        for _round in range(10):
            # No public way before Python 3.14 (``terminate_workers``), which does not wait.
            processes = list((getattr(pool, "_processes", None) or {}).values())
            alive = [process for process in processes if process.is_alive()]
            if not alive:
                return
            for process in alive:
                process.terminate()
            for process in alive:
                process.join(timeout=30)


def _ignore_ctrl_c() -> None:
    """In a worker as it starts: Ctrl-C is the deploying process's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_forkserver_deaf_to_ctrl_c() -> None:
    """Start the fork server (if it is not running) with SIGINT blocked, for its children.

    A blocked signal stays blocked across fork and exec, so workers are deaf to Ctrl-C from
    their first instruction; here the block lasts only while the server starts, and a Ctrl-C
    that arrives meanwhile is delivered when it ends.
    """
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _sendable(fmt: ArchiveFormat) -> bool:
    """Whether a format can go to a worker process (a plugin's may hold unpicklable state)."""
    try:
        pickle.dumps(fmt)
    except Exception:
        return False
    return True
