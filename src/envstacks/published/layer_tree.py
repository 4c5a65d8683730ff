"""The normalised file tree of a staged layer: the sorted entries every format writes, its hash.

Archives must be byte-for-byte the same whichever folder, machine, user or umask produced
them, so nothing about the staging folder may leak into them:

* entries come in one fixed order: depth first, the children of each folder sorted by name;
* everything staged is archived, ``__pycache__`` folders included: staging decides what a
  layer ships (:func:`envstacks.stages.building.stage_layer` keeps the reproducible pyc files of a
  precompiled layer, :mod:`envstacks.stages.building.bytecode`);
* every entry gets the same integer mtime (the layer's lock time), owner root (uid/gid 0);
* modes are normalised: folders and owner-executable files ``0o755``, other files ``0o644``,
  symlinks ``0o755`` (venvstacks' ``& 0o755`` with the umask taken out);
* symlinks are stored as links with their (relative) target; other special files are refused.

:func:`envstacks.published.file_index.tree_hash` identifies a layer by this normalised content,
independently of the archive format and compression level, so recompressing a layer does not
change its identity.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from envstacks.floor.errors import PublishError
from envstacks.floor.report import Task
from envstacks.published.archive_protocol import Closing, MemberKind

FILE_MODE = 0o644
EXEC_MODE = 0o755
DIR_MODE = 0o755
LINK_MODE = 0o755


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeEntry:
    """One normalised entry of a staged layer, as every format writes it."""

    #: The archive name: ``<root>/relative/path`` with ``/`` separators (folders without a slash).
    name: str
    #: ``DIR``, ``FILE`` or ``SYMLINK``.
    kind: MemberKind
    #: Normalised permission bits.
    mode: int
    #: Where the content is read from (files) or the link lives (symlinks).
    source: Path
    #: Size in bytes (files only).
    size: int = 0
    #: The link's target exactly as stored in the link (symlinks only).
    link_target: str = ""


def lock_mtime(locked_at: str | dt.datetime) -> int:
    """The integer POSIX time every archive entry gets: the layer's lock time, in UTC.

    Raises:
        PublishError: ``locked_at`` is not an ISO 8601 time.
    """
    if isinstance(locked_at, str):
        try:
            moment = dt.datetime.fromisoformat(locked_at)
        except ValueError as exc:
            raise PublishError(
                f"lock time {locked_at!r} is not an ISO 8601 time",
                hint="relock the layer (`envstacks lock --include <layer>`) to rewrite it",
            ) from exc
    else:
        moment = locked_at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    # Zip cannot store times before 1980; every format gets the same clamped value.
    return max(int(moment.timestamp()), 315532800)


def scan_tree(source: Path, *, root_name: str) -> tuple[TreeEntry, ...]:
    """The normalised entries of ``source``, archived under the single top folder ``root_name``.

    Raises:
        PublishError: ``source`` is not a folder, or holds a device, fifo or socket.
    """
    if not source.is_dir() or source.is_symlink():
        raise PublishError(f"cannot archive {source}: not a folder")
    entries = [TreeEntry(name=root_name, kind=MemberKind.DIR, mode=DIR_MODE, source=source)]
    entries.extend(_walk(source, root_name))
    return tuple(entries)


def _walk(folder: Path, prefix: str) -> Iterator[TreeEntry]:
    with os.scandir(folder) as scan:
        children = sorted(scan, key=lambda entry: entry.name)
    for child in children:
        name = f"{prefix}/{child.name}"
        path = Path(child.path)
        info = child.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            yield TreeEntry(
                name=name,
                kind=MemberKind.SYMLINK,
                mode=LINK_MODE,
                source=path,
                # os.readlink, not Path.readlink: a Path would normalise the target text.
                link_target=os.readlink(path),  # noqa: PTH115
            )
        elif stat.S_ISDIR(info.st_mode):
            yield TreeEntry(name=name, kind=MemberKind.DIR, mode=DIR_MODE, source=path)
            yield from _walk(path, name)
        elif stat.S_ISREG(info.st_mode):
            mode = EXEC_MODE if info.st_mode & stat.S_IXUSR else FILE_MODE
            yield TreeEntry(
                name=name, kind=MemberKind.FILE, mode=mode, source=path, size=info.st_size
            )
        else:
            raise PublishError(
                f"cannot archive {path}: it is a {_special_kind(info.st_mode)}; layers may hold "
                "only files, folders and symlinks",
                hint="remove it from the layer (or from the step of the build that made it)",
            )


def _special_kind(mode: int) -> str:
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def content_size(entries: Iterable[TreeEntry]) -> int:
    """Total bytes of file content (the unit of pack progress)."""
    return sum(entry.size for entry in entries if entry.kind is MemberKind.FILE)


class ProgressReader(Closing):
    """A read-only file wrapper that reports the bytes it hands out to a progress task.

    Also checks that the file still has the size it had when the tree was scanned, so a file
    changing under the packer fails loudly instead of producing a corrupt archive.
    """

    def __init__(self, entry: TreeEntry, task: Task) -> None:
        self._entry = entry
        self._task = task
        self._file: BinaryIO = entry.source.open("rb")
        self._seen = 0

    def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all when negative), reporting them."""
        data = self._file.read(size)
        self._seen += len(data)
        if self._seen > self._entry.size or (not data and self._seen < self._entry.size):
            raise PublishError(
                f"{self._entry.source} changed size while it was being archived "
                f"({self._entry.size} bytes when scanned)",
                hint="do not modify the build folder while publishing",
            )
        self._task.advance(len(data))
        return data

    def close(self) -> None:
        """Close the underlying file."""
        self._file.close()
