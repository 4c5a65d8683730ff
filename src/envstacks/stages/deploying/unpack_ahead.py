"""Unpack the layers to install on threads, ahead of their placement; hand each over when done.

Deploy places layers in dependency order while the others are still being fetched and unpacked
(:func:`envstacks.stages.deploying.deployer.deploy_layers`): :class:`UnpackAhead` starts every
layer's unpacking at once (up to one thread per core; large archives in worker processes,
:mod:`envstacks.stages.deploying.unpack_workers`), says which layers are done, and hands each
over (:meth:`UnpackAhead.take`): its work folder, or the refusal that stopped it (verification,
unsafe content, a missing archive), which the other layers do not wait for.

Any other failure of a layer's unpacking (or Ctrl-C, or a failure of the placing thread) stops
the others at their next chunk; leaving the ``with`` block waits until every thread has
stopped and removes every work folder not handed over, then the failure propagates. The work
folders handed over are the placing thread's to remove.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import pluggy

from envstacks.floor.errors import DeployError, VerificationError
from envstacks.floor.fs import remove_tree, temporary_name
from envstacks.floor.report import BYTES, Reporter
from envstacks.floor.workers import Cancellation, Cancelled
from envstacks.published.archive_fetch import fetch_archive
from envstacks.published.archive_formats import format_for_archive
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import Source
from envstacks.published.verified_unpack import UnpackJob
from envstacks.stages.deploying.deploy_record import DeployedLayer
from envstacks.stages.deploying.transfer import Unpacked, unpack_cheapest
from envstacks.stages.deploying.unpack_workers import Unpackers

__all__ = ["DOWNLOADS", "UnpackAhead"]

#: Where downloaded archives are kept until their layer is in place.
DOWNLOADS = ".envstacks-downloads"


class UnpackAhead:
    """The layers of one deploy being fetched, verified and unpacked while others are placed."""

    def __init__(
        self,
        src: Source,
        layers: Sequence[ManifestLayer],
        target: Path,
        *,
        pm: pluggy.PluginManager,
        reporter: Reporter,
        jobs: int | None,
        records: Mapping[str, DeployedLayer],
    ) -> None:
        """Prepare to unpack ``layers`` into work folders inside ``target``.

        ``records`` are the layers installed before this deploy (the bases of deltas); the
        threads read their own copy, since placing changes the deployment's.
        """
        self._src, self._layers, self._target = src, tuple(layers), target
        self._pm, self._reporter, self._jobs = pm, reporter, jobs
        self._records = dict(records)
        self._cancellation = Cancellation()
        self._unpackers = Unpackers(self._layers, jobs=jobs)
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._futures: dict[str, concurrent.futures.Future[Unpacked | DeployError]] = {}

    def __enter__(self) -> UnpackAhead:
        self._unpackers.__enter__()
        # One thread per core: two per core (small archives unpacking in this process while
        # the large ones wait for worker processes) measured no faster (docs/deploy.md).
        workers = min(self._jobs or os.cpu_count() or 1, len(self._layers) or 1)
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="deploy")
        for layer in self._layers:
            self._futures[layer.install_target] = self._pool.submit(self._unpack, layer)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop (on a failure) or wait for every thread, remove what was not handed over.

        Raises:
            BaseException: (leaving normally) the first failure of a layer not handed over.
        """
        if error is not None:
            self._cancellation.cancel()
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._unpackers.__exit__(kind, error, traceback)
        failure: BaseException | None = None
        for future in self._futures.values():
            if future.cancelled():
                continue
            if future.exception() is None:
                result = future.result()
                if isinstance(result, Unpacked):
                    remove_tree(result.workdir)
            elif failure is None and not isinstance(future.exception(), Cancelled):
                failure = future.exception()
        self._futures.clear()
        if error is None and failure is not None:
            raise failure

    def installing(self, name: str) -> bool:
        """Whether ``name`` is unpacked here (and not yet handed over)."""
        return name in self._futures

    def done(self, name: str) -> bool:
        """Whether ``name`` can be handed over now (True for a layer not unpacked here)."""
        future = self._futures.get(name)
        return future is None or future.done()

    def check(self) -> None:
        """Raise the failure of a layer's unpacking, if one failed other than by a refusal.

        Raises:
            BaseException: that failure (leaving the ``with`` block then stops the others).
        """
        for future in self._futures.values():
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise _raised(future)

    def wait(self) -> None:
        """Wait until one more layer is done (at least one must be running), then :meth:`check`."""
        running = [future for future in self._futures.values() if not future.done()]
        concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
        self.check()

    def take(self, name: str) -> Unpacked | DeployError:
        """Hand over ``name`` (done): its work folder, or the refusal that stopped it.

        Raises:
            BaseException: its unpacking failed other than by a refusal.
        """
        future = self._futures.pop(name)
        error = future.exception()
        if error is not None:
            raise _raised(future)
        return future.result()

    def _unpack(self, layer: ManifestLayer) -> Unpacked | DeployError:
        """Fetch, verify and unpack one layer by the cheapest path (a delta, else its archive).

        A refusal is returned, not raised: raised, it would stop the other layers.
        """
        try:
            return unpack_cheapest(
                self._unpack_archive,
                self._src,
                layer,
                target=self._target,
                records=self._records,
                reporter=self._reporter,
            )
        except DeployError as exc:
            return exc

    def _unpack_archive(self, layer: ManifestLayer) -> Path:
        """Fetch, verify and unpack one archive into a fresh work folder inside the target."""
        target, reporter, cancellation = self._target, self._reporter, self._cancellation
        fmt = format_for_archive(self._pm, layer.archive_name, declared=layer.archive_format)
        archive = fetch_archive(
            self._src,
            layer,
            downloads=target / DOWNLOADS,
            reporter=reporter,
            cancellation=cancellation,
        )
        cancellation.check()
        workdir = target / temporary_name(layer.install_target)
        workdir.mkdir()
        try:
            with reporter.task(
                layer.install_target, "unpack", total=layer.archive_size, unit=BYTES
            ) as task:
                # Verified (size, sha256) while unpacking: the archive is read once.
                job = UnpackJob(
                    fmt=fmt, archive=archive, layer=layer, workdir=workdir, target=target
                )
                self._unpackers.unpack(job, cancellation.watch(task), cancellation=cancellation)
        except BaseException as exc:
            remove_tree(workdir)
            if isinstance(exc, VerificationError):
                archive.release()  # a bad download must not be reused by the next attempt
            raise
        archive.release()
        return workdir


def _raised(future: concurrent.futures.Future[Unpacked | DeployError]) -> BaseException:
    """The failure of a finished layer's unpacking (not a refusal, which is its result)."""
    error = future.exception()
    assert error is not None
    return error
