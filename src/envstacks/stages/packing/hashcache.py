"""Remember the sha256 of published archives by their file identity, so unchanged ones are not read.

Publish checks that every archive it lists in the manifest still has the sha256 its snippet
records: the archives it skips as unchanged, and those other runs published into the same
folder (other layers, other builds). Reading every archive on every publish would cost seconds
per gigabyte, so each hash computed is kept in the build folder (``archive-hashes.json``,
by the archive's absolute path; the output folder holds only what is published) with the
file's size, inode, device, modification and change times (nanoseconds). An archive whose five
values are unchanged is not read again; any difference (a replaced, rewritten, copied or
touched archive) means reading it again. ``publish --verify`` reads every archive regardless.

The cache guards against accidents (a truncated copy, an archive replaced by hand), not against
someone who can write the output folder: they could rewrite the cache as well. Deploy always
verifies every archive against the manifest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from envstacks.floor.fs import file_sha256, read_json, write_json

#: The cache file, at the top of the build folder.
CACHE_FILE = "archive-hashes.json"
_VERSION = 1


def _identity(info: os.stat_result) -> list[int]:
    return [info.st_size, info.st_ino, info.st_dev, info.st_mtime_ns, info.st_ctime_ns]


class ArchiveHashes:
    """The sha256 of the archives in one output folder, read again only when a file changed."""

    def __init__(self, output_dir: Path, cache: Path | None, *, verify: bool = False) -> None:
        """Hashes of the archives in ``output_dir``, kept in ``cache`` (``None``: not kept)."""
        self.output_dir = output_dir
        self.cache = cache
        self.verify = verify
        #: Archives whose sha256 differs from what their snippet records (for a warning).
        self.mismatched: dict[str, str] = {}
        self._entries: dict[str, Any] = {}
        self._changed = False
        data = read_json(cache) if cache is not None else None
        archives = data.get("archives") if data and data.get("version") == _VERSION else None
        if isinstance(archives, dict):
            self._entries = {
                name: entry
                for name, entry in archives.items()
                if isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
            }

    def sha256(self, archive: Path) -> str:
        """The archive's hex sha256: remembered if the file is unchanged, else read and kept.

        Raises:
            OSError: the archive cannot be read.
        """
        identity = _identity(archive.stat())
        entry = self._entries.get(_key(archive))
        if not self.verify and entry is not None and entry.get("identity") == identity:
            return str(entry["sha256"])
        digest = file_sha256(archive)
        self._keep(archive, identity, digest)
        return digest

    def matches(self, archive: Path, expected: object) -> bool:
        """Whether ``archive`` has the sha256 ``expected`` (a mismatch is remembered)."""
        try:
            actual = self.sha256(archive)
        except OSError:
            return False
        if actual != expected:
            self.mismatched[archive.name] = actual
            return False
        self.mismatched.pop(archive.name, None)
        return True

    def record(self, archive: Path, sha256: str) -> None:
        """Remember the hash of an archive just written (computed before it was renamed)."""
        self._keep(archive, _identity(archive.stat()), sha256)
        self.mismatched.pop(archive.name, None)

    def save(self) -> None:
        """Write the cache (only if it changed); entries of archives now gone are dropped."""
        if self.cache is None:
            return
        present = {name: entry for name, entry in self._entries.items() if Path(name).is_file()}
        if not self._changed and present == self._entries:
            return
        write_json(self.cache, {"version": _VERSION, "archives": present}, durable=False)

    def _keep(self, archive: Path, identity: list[int], digest: str) -> None:
        self._entries[_key(archive)] = {"identity": identity, "sha256": digest}
        self._changed = True


def _key(archive: Path) -> str:
    return str(archive.absolute())
