"""What an archive format must provide: the writer and reader protocols and the member values.

A format packs a staged layer folder (the normalised entries of
:mod:`envstacks.published.layer_tree`) into one file and reads such files back member by member for
the deploy side, which decides what is safe to extract. Built-in formats live in
``archive_tar`` and ``archive_zip``; third-party ones come through the
``envstacks_archive_formats`` hook.
"""

from __future__ import annotations

import contextlib
import copy
import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, Self, TypeVar

from envstacks.floor.errors import SpecError
from envstacks.floor.report import Task


class MemberKind(enum.StrEnum):
    """What an archive member is: what a writer stores and a reader reports.

    Writers store only ``DIR``, ``FILE`` and ``SYMLINK`` (a normalised layer tree holds nothing
    else); readers may also meet the other kinds in archives made elsewhere.
    """

    DIR = "dir"
    FILE = "file"
    SYMLINK = "symlink"
    #: A link to an earlier member of the same archive (tar only).
    HARDLINK = "hardlink"
    #: A device, fifo or anything else deploy refuses; ``ArchiveMember.detail`` says which.
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveMember:
    """One member of an archive, as a reader reports it (nothing here is trusted yet)."""

    #: The name as stored (``/``-separated; not yet checked for ``..`` or absolute paths).
    name: str
    #: What the member is; ``OTHER`` (and ``detail``) for anything deploy must refuse.
    kind: MemberKind
    #: Permission bits as stored, including setuid/setgid/sticky (``0o7777`` mask).
    mode: int
    #: Content size in bytes (files only).
    size: int = 0
    #: Symlink target, or the archive name a hard link points at.
    link_target: str = ""
    #: Stored modification time (POSIX seconds).
    mtime: int = 0
    #: For ``OTHER``: what it is (``"character device"``, ``"fifo"``...).
    detail: str = ""


class ArchiveReader(Protocol):
    """Sequential access to an archive's members (compressed tar streams cannot seek)."""

    def members(self) -> Iterator[ArchiveMember]:
        """The members in archive order; each member's content is readable until the next one."""
        ...

    def extract(self, member: ArchiveMember, destination: BinaryIO) -> None:
        """Copy the content of ``member`` (the file ``members()`` yielded last) to a file."""
        ...

    def close(self) -> None:
        """Release the archive."""
        ...

    def __enter__(self) -> ArchiveReader:
        """Use the reader as a context manager."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close the reader."""
        ...


class ArchiveFormat(Protocol):
    """An archive format: a name, a file suffix, a reproducible writer and a reader.

    A format whose reader only ever reads the archive front to back, without seeking, may
    also set ``sequential = True``: deploy then hashes the archive while unpacking it instead
    of reading it twice (the built-in tar formats do; ``zip`` cannot).
    """

    #: The name users give (``archive-format = "tar.zst"``).
    name: str
    #: The file name suffix, with its dot (``".tar.zst"``).
    suffix: str

    def pack(self, source: Path, archive: Path, *, root_name: str, mtime: int, task: Task) -> None:
        """Write ``source`` into ``archive`` under the single top folder ``root_name``.

        The result must depend only on the tree's normalised content (see
        :mod:`envstacks.published.layer_tree`) and on ``mtime``, never on the machine, the user or
        the number of cores. ``task`` advances by the bytes of file content read.
        """
        ...

    def open_reader(self, archive: BinaryIO, *, task: Task | None = None) -> ArchiveReader:
        """Read an archive from an open binary file; ``task`` advances by compressed bytes read."""
        ...


_Format = TypeVar("_Format")

#: The compressions every format with levels understands, besides its own level numbers.
COMPRESSION_NAMES = ("fast", "default", "max")


class LeveledFormat(ArchiveFormat, Protocol):
    """An archive format with compression levels (the built-ins; optional for plugins).

    The level changes the archive's bytes, never what it holds: any reader of the format
    reads every level, and the same tree, mtime and level always give the same bytes.
    """

    #: What it compresses with ("zstd level 10"), for publish to report.
    compression: str

    def with_compression(self, setting: str, *, where: str) -> Self:
        """The same format at ``setting``: ``fast``, ``default``, ``max`` or a level number.

        Raises:
            SpecError: ``setting`` is neither a name nor one of the format's levels.
        """
        ...


def compression_level(
    setting: str, named: Mapping[str, int], levels: range, *, fmt: str, where: str
) -> int:
    """The level a format uses for ``setting``: its level for the name, or the number given.

    Raises:
        SpecError: ``setting`` is neither a name nor one of ``levels``, naming ``where``.
    """
    if setting in named:
        return named[setting]
    with contextlib.suppress(ValueError):
        if int(setting) in levels:
            return int(setting)
    raise SpecError(
        f"{where}: {setting!r} is not a compression of {fmt} (fast, default, max, or a level "
        f"from {levels.start} to {levels.stop - 1})",
        hint=f"use fast, default, max or a {fmt} level from {levels.start} to {levels.stop - 1}",
    )


def recompressed(fmt: _Format, setting: str, **attributes: object) -> _Format:
    """A copy of ``fmt`` with ``attributes`` set, or ``fmt`` itself for ``default``.

    A copy keeps a subclass's name and type; ``default`` keeps the level it was made with.
    """
    if setting == "default":
        return fmt
    changed = copy.copy(fmt)
    for name, value in attributes.items():
        setattr(changed, name, value)
    return changed


class CountingReader:
    """Wraps a binary file being decompressed so progress follows the compressed bytes consumed."""

    def __init__(self, file: BinaryIO, task: Task | None) -> None:
        self._file = file
        self._task = task

    def read(self, size: int = -1) -> bytes:
        """Read and report up to ``size`` bytes."""
        data = self._file.read(size)
        if self._task is not None and data:
            self._task.advance(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Read into ``buffer`` and report the bytes."""
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        """Always readable."""
        return True

    def close(self) -> None:
        """Closing is the owner's business (the file was opened by the caller)."""


class Closing:
    """Base of the readers: ``close`` releases them, and ``with`` closes them on leaving."""

    def close(self) -> None:
        """Release what the reader holds."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
