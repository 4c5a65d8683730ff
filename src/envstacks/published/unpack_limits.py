"""Bound what an archive may unpack to, so a decompression bomb is refused before the disk fills.

Publish records each layer's unpacked size (``unpacked_size``: bytes of file content) and entry
count (``unpacked_entries``) in its metadata. While unpacking, deploy counts the bytes it
writes and the entries it creates, as they stream (nothing is held in memory), and refuses
the archive the moment either passes what the manifest records. Before unpacking, it checks
that the target's file system has room for every layer it is about to unpack.

Manifests without these fields (venvstacks', or envstacks' before 0.3) unpack without a bound.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, cast

from envstacks.floor.errors import NoSpaceError, UnsafeArchiveError

#: Builds the refusal of one entry: ``(entry name, why) -> error``.
Refuse = Callable[[str, str], UnsafeArchiveError]


class UnpackBudget:
    """The bytes and entries one archive may still create (``None``: no bound recorded)."""

    def __init__(self, *, size: int | None, entries: int | None, refuse: Refuse) -> None:
        self.size_limit = size
        self.entry_limit = entries
        self.written = 0
        self.created = 0
        self._refuse = refuse

    def entry(self, name: str) -> None:
        """Count one more entry.

        Raises:
            UnsafeArchiveError: the archive holds more entries than its manifest records.
        """
        self.created += 1
        self._within(name, self.created, self.entry_limit, "unpacked_entries", "holds more than")

    def wrote(self, name: str, amount: int) -> None:
        """Count ``amount`` more bytes written for the file ``name``.

        Raises:
            UnsafeArchiveError: the archive expands beyond the size its manifest records.
        """
        self.written += amount
        self._within(name, self.written, self.size_limit, "unpacked_size", "expands beyond")

    def _within(self, name: str, count: int, limit: int | None, field: str, verb: str) -> None:
        if limit is not None and count > limit:
            unit = "entries" if field == "unpacked_entries" else "bytes"
            raise self._refuse(
                name,
                f"the archive {verb} the {limit} {unit} its manifest records ({field}); "
                "unpacking stopped there",
            )

    def counted(self, destination: BinaryIO, name: str) -> BinaryIO:
        """``destination`` wrapped so that every write is counted first (only ``write`` works)."""
        return cast(BinaryIO, CountedWriter(destination, self, name))


class CountedWriter:
    """A write-only file wrapper that counts against a budget before each write."""

    def __init__(self, destination: BinaryIO, budget: UnpackBudget, name: str) -> None:
        self._destination = destination
        self._budget = budget
        self._name = name

    def write(self, data: bytes) -> int:
        """Count, then write, ``data``."""
        self._budget.wrote(self._name, len(data))
        return self._destination.write(data)


def require_room(target: Path, sizes: Iterable[int | None]) -> None:
    """Refuse to start unpacking when the layers' recorded sizes exceed the free space.

    Raises:
        NoSpaceError: the file system of ``target`` has less free space than the layers need.
    """
    needed = sum(size for size in sizes if size is not None)
    if not needed:
        return
    free = shutil.disk_usage(target).free
    if needed > free:
        raise NoSpaceError(
            f"deploy: the layers to unpack need {_mib(needed)} (their recorded unpacked size), "
            f"but the file system of {target} has {_mib(free)} free; nothing was changed",
            hint="free some space there (or deploy into a folder on another file system), "
            "then run deploy again",
        )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
