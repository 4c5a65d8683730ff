"""Verify an archive's size and sha256 while unpacking it, so deploy reads each archive once.

Deploy used to hash an archive, then read it again to unpack it. Now, for a format whose
reader only ever reads front to back (``sequential = True``: the tar formats), the bytes the
decompressor consumes pass through a :class:`VerifyingReader` that hashes and counts them;
after the last member the rest of the file is read too, and the size and sha256 are compared
with the manifest. The unpacking goes into a work folder inside the target, which is renamed
into place only after that check, and removed on any failure, so nothing from an archive that
does not match its manifest is ever placed; the unpack rules
(:mod:`envstacks.published.safe_unpack`) keep even a forged archive inside the work folder
meanwhile.

When unpacking fails (a damaged stream, an unsafe entry), the rest of the file is hashed
first: an archive that is not the published one is reported as such
(:class:`~envstacks.floor.errors.VerificationError`), as a separate verification would have.

An archive the source hashed while fetching it (an HTTP download, a registry blob) is
not hashed again; a format that needs random access (``zip`` reads its central directory at
the end first) is verified before unpacking, as before.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from envstacks.floor.errors import DeployError, VerificationError
from envstacks.floor.fs import CHUNK
from envstacks.floor.report import Task
from envstacks.published.archive_fetch import check_sha256, check_size, verify_archive
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.manifest import ManifestLayer
from envstacks.published.safe_unpack import unpack_layer
from envstacks.published.sources import FetchedArchive

__all__ = ["UnpackJob", "VerifyingReader", "unpack_verified"]


class VerifyingReader:
    """A binary file read once, front to back, hashing and counting every byte handed out."""

    def __init__(self, file: BinaryIO, *, name: str) -> None:
        self._file = file
        self._digest = hashlib.sha256()
        #: The archive's path, for the readers' messages.
        self.name = name
        #: Bytes read so far.
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all when negative), hashing them."""
        data = self._file.read(size)
        self._digest.update(data)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        """Always readable."""
        return True

    def close(self) -> None:
        """Closing is the owner's business (the file was opened by the caller)."""

    def finish(self) -> str:
        """Read what the unpacking left (trailing padding, frames), return the hex sha256."""
        while self.read(CHUNK):
            pass
        return self._digest.hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class UnpackJob:
    """One archive to unpack: its format, the local file, its manifest entry, where to."""

    fmt: ArchiveFormat
    archive: FetchedArchive
    layer: ManifestLayer
    #: An empty folder inside the deployment folder.
    workdir: Path
    #: The deployment folder (for messages).
    target: Path


def unpack_verified(job: UnpackJob, task: Task | None = None) -> Path:
    """Unpack ``job``'s archive into its work folder, checking it against the manifest on the way.

    Returns the layer folder in the work folder. ``task`` advances by compressed bytes read.

    Raises:
        VerificationError: the archive's size or sha256 differs from the manifest's.
        UnsafeArchiveError: a member breaks an unpack rule (in an archive that matches).
        DeployError: the archive is damaged.
    """
    layer, path = job.layer, job.archive.path

    def unpack(source: Path | BinaryIO) -> Path:
        return unpack_layer(
            job.fmt,
            source,
            job.workdir,
            install_target=layer.install_target,
            archive_name=layer.archive_name,
            target=job.target,
            task=task,
            unpacked_size=layer.unpacked_size,
            unpacked_entries=layer.unpacked_entries,
        )

    if job.archive.sha256 is not None:  # checked while it was fetched
        return unpack(path)
    if not getattr(job.fmt, "sequential", False):
        size, sha256 = layer.archive_size, layer.archive_sha256
        verify_archive(path, archive_name=layer.archive_name, size=size, sha256=sha256)
        return unpack(path)
    with path.open("rb") as raw:
        _check_size(os.fstat(raw.fileno()).st_size, layer, path)
        reader = VerifyingReader(raw, name=str(path))
        try:
            root = unpack(cast(BinaryIO, reader))
        except DeployError as exc:
            if not isinstance(exc, VerificationError):
                _verify(reader, layer, path, cause=exc)
            raise
        _verify(reader, layer, path)
    return root


def _check_size(actual: int, layer: ManifestLayer, path: Path) -> None:
    check_size(actual, archive_name=layer.archive_name, expected=layer.archive_size, path=path)


def _verify(
    reader: VerifyingReader, layer: ManifestLayer, path: Path, *, cause: BaseException | None = None
) -> None:
    digest = reader.finish()
    try:
        _check_size(reader.count, layer, path)
        check_sha256(
            digest, archive_name=layer.archive_name, expected=layer.archive_sha256, path=path
        )
    except VerificationError as exc:
        raise exc from cause
