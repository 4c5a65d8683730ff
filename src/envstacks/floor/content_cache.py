"""A size-bounded cache of files by content key, shared by concurrent runs, damage-checked.

What envstacks makes once per content and reuses (pyc files, layer archives) lives in such a
cache: a file is found by a key, the sha256 of everything that decides its bytes, which its
user computes.

* **bounded**: a run that added entries calls :meth:`ContentCache.prune`, which removes the
  least recently used ones (a hit refreshes an entry's mtime once a day) down to four fifths
  of the bound;
* **safe under concurrent runs**: an entry is written under a temporary name and renamed, so
  a reader sees a whole entry or none; a missing entry (another run pruned it) is a miss;
* **checked**: an entry's name ends with the sha256 of its bytes, so a damaged entry is found
  on reading, removed, and made again; it is never used;
* **cheap to use**: entries are plain files, hard-linked where they are used (a copy across
  file systems), since creating a file costs far more than a link on common file systems;
* **failures too**: an empty entry records that a key makes nothing (a module that does not
  compile), so it is not tried again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path

from envstacks.floor import fs
from envstacks.floor.env_settings import whole_number

__all__ = ["ContentCache", "cache_from_environment"]

#: A hit older than this has its mtime refreshed (the age pruning goes by).
TOUCH_AFTER = 24 * 3600.0
#: Hex digits of an entry's sha256 in its name (128 bits: damage, not attacks, is the risk).
_DIGEST_CHARS = 32
#: The name's end, instead of a digest, of an empty entry: the key makes nothing.
_FAILED = "none"


class ContentCache:
    """A folder of files named by a key (a hex sha256 of what made them) and their own sha256.

    An entry is ``<root>/<key[:2]>/<key>.<sha256 of its bytes>``: a plain file, so a user
    hard-links it where it is needed, and the digest in its name finds a damaged one.
    """

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        """A cache in ``root`` of at most ``max_bytes`` (it need not exist yet)."""
        self.root = root
        self.max_bytes = max_bytes
        #: Each shard folder's entries (key -> file name), listed once per build.
        self._shards: dict[str, dict[str, str]] = {}
        #: Shard folders this build made sure exist.
        self._made: set[str] = set()

    def _shard(self, key: str) -> dict[str, str]:
        shard = self._shards.get(key[:2])
        if shard is None:
            try:
                names = [entry.name for entry in (self.root / key[:2]).iterdir()]
            except OSError:
                names = []
            shard = {}
            for name in names:
                entry_key, dot, digest = name.partition(".")
                if dot and (len(digest) == _DIGEST_CHARS or digest == _FAILED):
                    shard[entry_key] = name
            self._shards[key[:2]] = shard
        return shard

    def failed(self, key: str) -> bool:
        """Whether ``key`` is recorded as making nothing (a module that does not compile)."""
        return self._shard(key).get(key, "").endswith("." + _FAILED)

    def find(self, key: str) -> Path | None:
        """The cached file of ``key``, checked; ``None`` if absent or damaged (then removed)."""
        name = self._shard(key).get(key)
        if name is None or name.endswith("." + _FAILED):
            return None
        path = self.root / key[:2] / name
        try:
            with open(path, "rb") as stream:
                # Streamed: entries can be whole archives (GBs), memory stays one chunk.
                digest = hashlib.file_digest(stream, "sha256").hexdigest()[:_DIGEST_CHARS]
                modified = os.fstat(stream.fileno()).st_mtime
        except OSError:
            return None  # another build pruned it
        if digest != name.partition(".")[2]:
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        if time.time() - modified > TOUCH_AFTER:
            with contextlib.suppress(OSError):  # a read-only cache is still a cache
                os.utime(path)
        return path

    def link_to(self, entry: Path, destination: Path) -> bool:
        """Link (or copy) ``entry``, as :meth:`find` gave it, to ``destination``; whether it was.

        Another run may prune the entry between :meth:`find` and this call: that is a miss
        (``False``), as the module's rule says, not an error.
        """
        try:
            fs.link_or_copy(entry, destination)
        except FileNotFoundError:
            destination.unlink(missing_ok=True)
            return False
        return True

    def store(self, key: str, pyc: Path | None) -> None:
        """Cache the file ``pyc`` under ``key``: a hard link where it can, else a copy.

        ``None`` records that ``key`` makes nothing. The entry appears whole or not at all (a
        temporary name, then a rename); a cache that cannot be written is skipped.
        """
        with contextlib.suppress(OSError):
            digest = _FAILED if pyc is None else fs.file_sha256(pyc)[:_DIGEST_CHARS]
            name = f"{key}.{digest}"
            final = self.root / key[:2] / name
            if key[:2] not in self._made:
                final.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(key[:2])
            temporary = final.parent / fs.temporary_name(name)
            try:
                try:
                    if pyc is None:
                        raise FileNotFoundError
                    os.link(pyc, temporary)
                except OSError:
                    if pyc is None:
                        temporary.write_bytes(b"")
                    else:  # streamed, as the digest above: never the whole file in memory
                        shutil.copyfile(pyc, temporary)
                temporary.replace(final)
            finally:
                temporary.unlink(missing_ok=True)
            self._shard(key)[key] = name

    def prune(self) -> int:
        """Remove the least recently used entries down to 4/5 of the bound; return how many.

        Temporaries of builds that died are removed too; another build's are left alone.
        """
        entries: list[tuple[float, int, Path]] = []
        total = 0
        with contextlib.suppress(OSError):
            for folder in self.root.iterdir():
                if not folder.is_dir() or len(folder.name) != 2:
                    continue
                fs.remove_stale_temporaries(folder)
                for entry in os.scandir(folder):
                    with contextlib.suppress(OSError):
                        if entry.name.startswith(fs.TEMP_PREFIX):
                            continue
                        info = entry.stat(follow_symlinks=False)
                        entries.append((info.st_mtime, info.st_size, Path(entry.path)))
                        total += info.st_size
        if total <= self.max_bytes:
            return 0
        removed = 0
        for _mtime, size, path in sorted(entries):
            if total <= self.max_bytes * 4 // 5:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
                total -= size
        self._shards.clear()
        self._made.clear()
        return removed


def cache_from_environment(
    folder_variable: str, size_variable: str, *, default_folder: Path, default_megabytes: int
) -> ContentCache | None:
    """The cache the environment asks for (``None``: ``off`` or a size of 0).

    It lives in ``folder_variable``'s folder, else in ``default_folder``, and holds at most
    ``size_variable`` megabytes (``default_megabytes`` when unset).

    Raises:
        SettingError: ``size_variable`` is not a whole number of megabytes.
    """
    megabytes = whole_number(size_variable, default=default_megabytes, unit="megabytes")
    where = os.environ.get(folder_variable, "").strip()
    if where.lower() == "off" or megabytes == 0:
        return None
    root = Path(where).expanduser().absolute() if where else default_folder
    return ContentCache(root, max_bytes=megabytes * 1024 * 1024)
