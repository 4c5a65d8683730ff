"""The ``zip`` built-in format: deflate, explicit folder entries, sorted, fixed timestamps.

What venvstacks publishes on Windows, made reproducible the same way as the tar formats:
entries in the normalised order of :mod:`envstacks.published.layer_tree`, every timestamp the
lock time (stored as UTC, as venvstacks does), Unix attributes with normalised modes and
``create_system`` fixed to Unix so the bytes do not depend on the publishing OS. Symlinks are
stored the Info-ZIP way (mode ``S_IFLNK``, the target as content), which envstacks' deploy
understands; Windows publishers should stage without symlinks.
"""

from __future__ import annotations

import calendar
import shutil
import stat
import time
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from envstacks.floor.errors import DeployError
from envstacks.floor.fs import CHUNK
from envstacks.floor.report import Task
from envstacks.published.archive_protocol import (
    ArchiveMember,
    Closing,
    MemberKind,
    compression_level,
    recompressed,
)
from envstacks.published.layer_tree import ProgressReader, scan_tree

#: The "made by" system recorded in every entry (3 = Unix), whatever machine packs.
_UNIX = 3
#: zlib's default deflate level (what zipfile uses unless told), and each named compression's.
DEFLATE_LEVEL = 6
DEFLATE_LEVELS = {"fast": 1, "default": DEFLATE_LEVEL, "max": 9}
#: MS-DOS directory attribute, set on folder entries as zip tools expect.
_MSDOS_DIRECTORY = 0x10
#: Longest symlink target a reader accepts (a link's target is read into memory).
_MAX_LINK = 4096


class ZipFormat:
    """``zip``: deflated entries, as venvstacks writes on Windows, but reproducible everywhere."""

    name = "zip"
    suffix = ".zip"

    def __init__(self, *, level: int = DEFLATE_LEVEL) -> None:
        self.level = level

    @property
    def compression(self) -> str:
        """The deflate level it writes with."""
        return f"deflate level {self.level}"

    def with_compression(self, setting: str, *, where: str) -> ZipFormat:
        """``zip`` at ``setting``: fast (deflate level 1), default (6), max (9) or 0-9."""
        level = compression_level(setting, DEFLATE_LEVELS, range(10), fmt=self.name, where=where)
        return recompressed(self, setting, level=level)

    def pack(self, source: Path, archive: Path, *, root_name: str, mtime: int, task: Task) -> None:
        """Write ``source`` as a reproducible ``.zip``."""
        entries = scan_tree(source, root_name=root_name)
        date_time = time.gmtime(mtime)[:6]
        # Level 6 is zlib's default, what zipfile writes when given no level.
        level = None if self.level == DEFLATE_LEVEL else self.level
        with zipfile.ZipFile(
            archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level
        ) as zf:
            for entry in entries:
                name = entry.name + "/" if entry.kind is MemberKind.DIR else entry.name
                info = zipfile.ZipInfo(name, date_time=date_time)
                info.create_system = _UNIX
                if entry.kind is MemberKind.DIR:
                    info.external_attr = (stat.S_IFDIR | entry.mode) << 16 | _MSDOS_DIRECTORY
                    info.compress_type = zipfile.ZIP_STORED
                    zf.writestr(info, b"")
                elif entry.kind is MemberKind.SYMLINK:
                    info.external_attr = (stat.S_IFLNK | entry.mode) << 16
                    info.compress_type = zipfile.ZIP_STORED
                    zf.writestr(info, entry.link_target.encode("utf-8", "surrogateescape"))
                else:
                    info.external_attr = (stat.S_IFREG | entry.mode) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    # What zf.open(info, "w") compresses with (compress_level from 3.13 on).
                    info._compresslevel = level  # type: ignore[attr-defined]
                    # Known in advance so zipfile decides on zip64 from the real size.
                    info.file_size = entry.size
                    with ProgressReader(entry, task) as src, zf.open(info, "w") as dst:
                        shutil.copyfileobj(src, dst, CHUNK)

    def open_reader(self, archive: BinaryIO, *, task: Task | None = None) -> ZipReader:
        """Read a ``.zip`` member by member."""
        return ZipReader(archive, task=task)


def _member(info: zipfile.ZipInfo, link_target: str) -> ArchiveMember:
    mode = info.external_attr >> 16
    kind_bits = stat.S_IFMT(mode)
    detail = ""
    if info.is_dir() or stat.S_ISDIR(mode):
        kind = MemberKind.DIR
    elif stat.S_ISLNK(mode):
        kind = MemberKind.SYMLINK
    elif kind_bits in (0, stat.S_IFREG):
        kind = MemberKind.FILE
    else:
        kind = MemberKind.OTHER
        detail = {
            stat.S_IFCHR: "character device",
            stat.S_IFBLK: "block device",
            stat.S_IFIFO: "fifo",
            stat.S_IFSOCK: "socket",
        }.get(kind_bits, f"zip entry of file type {kind_bits:o}")
    permissions = mode & 0o7777
    if kind_bits == 0 and permissions == 0:  # made on Windows: no Unix attributes at all
        permissions = 0o755 if kind is MemberKind.DIR else 0o644
    return ArchiveMember(
        name=info.filename.rstrip("/"),
        kind=kind,
        mode=permissions,
        size=info.file_size if kind is MemberKind.FILE else 0,
        link_target=link_target,
        mtime=calendar.timegm((*info.date_time, 0, 0, 0)),
        detail=detail,
    )


class ZipReader(Closing):
    """Reads a zip archive member by member (in central-directory order)."""

    def __init__(self, archive: BinaryIO, *, task: Task | None) -> None:
        self._what = getattr(archive, "name", "zip archive")
        self._task = task
        try:
            self._zip = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DeployError(f"{self._what}: not a readable zip archive ({exc})") from exc
        self._current: zipfile.ZipInfo | None = None

    def members(self) -> Iterator[ArchiveMember]:
        """The members in archive order."""
        for info in self._zip.infolist():
            self._current = info
            link_target = ""
            if stat.S_ISLNK(info.external_attr >> 16):
                if info.file_size > _MAX_LINK:
                    raise DeployError(
                        f"{self._what}: symlink {info.filename!r} has a "
                        f"{info.file_size}-byte target"
                    )
                link_target = self._read(info).decode("utf-8", "surrogateescape")
            if self._task is not None:
                self._task.advance(info.compress_size)
            yield _member(info, link_target)

    def _read(self, info: zipfile.ZipInfo) -> bytes:
        try:
            return self._zip.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise DeployError(
                f"{self._what}: damaged archive at {info.filename!r} ({exc})"
            ) from exc

    def extract(self, member: ArchiveMember, destination: BinaryIO) -> None:
        """Copy the current member's content into ``destination``."""
        info = self._current
        if info is None or info.filename.rstrip("/") != member.name:
            raise DeployError(f"{self._what}: {member.name!r} is not the current member")
        try:
            with self._zip.open(info) as source:
                shutil.copyfileobj(source, destination, CHUNK)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise DeployError(f"{self._what}: damaged archive at {member.name!r} ({exc})") from exc

    def close(self) -> None:
        """Close the archive."""
        self._zip.close()
