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
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from envstacks.floor.report import Task
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.manifest import ManifestLayer
from envstacks.published.verified_unpack import UnpackJob, unpack_verified

__all__ = ["PROCESS_MIN", "Unpackers"]

#: Archives smaller than this unpack in the deploying process (compressed bytes).
PROCESS_MIN = 4 << 20


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
            self._pool = concurrent.futures.ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def unpack(self, job: UnpackJob, task: Task | None = None) -> Path:
        """``unpack_verified`` (the published format's), in a worker process where it pays."""
        if self._pool is None or job.layer.archive_size < PROCESS_MIN or not _sendable(job.fmt):
            return unpack_verified(job, task)
        root = self._pool.submit(unpack_verified, job).result()
        if task is not None:
            task.advance(job.layer.archive_size)
        return root


def _sendable(fmt: ArchiveFormat) -> bool:
    """Whether a format can go to a worker process (a plugin's may hold unpicklable state)."""
    try:
        pickle.dumps(fmt)
    except Exception:
        return False
    return True
