"""The pyc cache builds share: each module is compiled once per content, interpreter and path.

A pyc file depends only on the source's bytes, the path it records (the module's path inside
the layer), the interpreter that compiled it and the invalidation mode (envstacks writes
unchecked-hash pyc files with ``PYTHONHASHSEED=0``), so a build looks each module up by the
sha256 of those four and copies what an earlier build compiled instead of compiling again.

* **where**: ``$ENVSTACKS_PYC_CACHE_DIR``, else ``pyc/`` in envstacks' cache folder (beside
  uv's cache: ``~/.cache/envstacks/pyc`` on Linux, or under ``$ENVSTACKS_CACHE_DIR``);
  ``ENVSTACKS_PYC_CACHE_DIR=off`` turns the cache off;
* **how big**: at most ``$ENVSTACKS_PYC_CACHE_MB`` megabytes (1024 by default). A build that
  added entries removes the least recently used ones (a hit refreshes an entry's mtime once
  a day) until the cache holds four fifths of that;
* **safe under concurrent builds**: an entry is written under a temporary name and renamed,
  so a reader sees a whole entry or none; a missing entry (another build pruned it) is a miss;
* **failures too**: a module that does not compile (a syntax error) is recorded by an empty
  entry, so a warm build starts no compiler at all;
* **checked**: an entry's name ends with the sha256 of its bytes, so a damaged entry is found
  on reading, removed, and its module compiled again; it is never installed;
* **cheap to use**: entries are hard-linked into layers (a copy across file systems), since
  creating a file costs ten times what a link does on common file systems.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import fs
from envstacks.floor.env_settings import whole_number
from envstacks.stages.runtime.paths import user_cache_dir

__all__ = [
    "CACHE_DIR_VARIABLE",
    "CACHE_SIZE_VARIABLE",
    "Interpreter",
    "PycCache",
    "pyc_cache",
]

#: Where the cache lives (``off``: no cache, every build compiles every module).
CACHE_DIR_VARIABLE = "ENVSTACKS_PYC_CACHE_DIR"
#: The most megabytes it may hold.
CACHE_SIZE_VARIABLE = "ENVSTACKS_PYC_CACHE_MB"
DEFAULT_MEGABYTES = 1024
#: Part of every key: a change of the entry format or of how envstacks compiles starts afresh.
KEY_FORMAT = b"envstacks-pyc-1\0unchecked-hash\0PYTHONHASHSEED=0\0optimize=0\0"
#: A hit older than this has its mtime refreshed (the age pruning goes by).
TOUCH_AFTER = 24 * 3600.0
#: Hex digits of an entry's sha256 in its name (128 bits: damage, not attacks, is the risk).
_DIGEST_CHARS = 32
#: The name's end, instead of a digest, of an empty entry: the module does not compile.
_FAILED = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class Interpreter:
    """The interpreter that compiles a layer, as the pyc files it writes depend on it."""

    cache_tag: str
    #: ``importlib.util.MAGIC_NUMBER`` in hex.
    magic: str
    #: ``sys.version`` (with the build's date and compiler): a patch release may compile
    #: differently under the same magic number.
    version: str


class PycCache:
    """A folder of pyc files named by the sha256 of what they were compiled from.

    An entry is ``<root>/<key[:2]>/<key>.<sha256 of its bytes>``: a plain pyc file, so a
    build hard-links it into a layer (one directory entry, where writing a file costs an
    inode), and the digest in its name finds a damaged one.
    """

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        """A cache in ``root`` of at most ``max_bytes`` (it need not exist yet)."""
        self.root = root
        self.max_bytes = max_bytes
        #: Each shard folder's entries (key -> file name), listed once per build.
        self._shards: dict[str, dict[str, str]] = {}
        #: Shard folders this build made sure exist.
        self._made: set[str] = set()

    @staticmethod
    def key(interpreter: Interpreter, relative: str, source: bytes) -> str:
        """The name of the pyc of ``source``, recording ``relative``, by ``interpreter``."""
        digest = hashlib.sha256(KEY_FORMAT)
        for part in (interpreter.cache_tag, interpreter.magic, interpreter.version, relative):
            digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(source)
        return digest.hexdigest()

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
        """Whether the module of ``key`` is known not to compile (a syntax error: no pyc)."""
        return self._shard(key).get(key, "").endswith("." + _FAILED)

    def find(self, key: str) -> Path | None:
        """The cached pyc file of ``key``, checked; ``None`` if absent or damaged (removed)."""
        name = self._shard(key).get(key)
        if name is None or name.endswith("." + _FAILED):
            return None
        path = self.root / key[:2] / name
        try:
            with open(path, "rb") as stream:
                digest = hashlib.sha256(stream.read()).hexdigest()[:_DIGEST_CHARS]
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

    def store(self, key: str, pyc: Path | None) -> None:
        """Cache the pyc file ``pyc`` under ``key``: a hard link where it can, else a copy.

        ``None`` records that the module does not compile. The entry appears whole or not at
        all (a temporary name, then a rename); a cache that cannot be written is skipped.
        """
        with contextlib.suppress(OSError):
            data = b"" if pyc is None else pyc.read_bytes()
            digest = _FAILED if pyc is None else hashlib.sha256(data).hexdigest()[:_DIGEST_CHARS]
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
                    temporary.write_bytes(data)
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


def pyc_cache() -> PycCache | None:
    """The cache the environment asks for (:data:`CACHE_DIR_VARIABLE`); ``None`` when off.

    Raises:
        SettingError: :data:`CACHE_SIZE_VARIABLE` is not a whole number of megabytes.
    """
    megabytes = whole_number(CACHE_SIZE_VARIABLE, default=DEFAULT_MEGABYTES, unit="megabytes")
    where = os.environ.get(CACHE_DIR_VARIABLE, "").strip()
    if where.lower() == "off" or megabytes == 0:
        return None
    root = Path(where).expanduser().absolute() if where else user_cache_dir() / "pyc"
    return PycCache(root, max_bytes=megabytes * 1024 * 1024)
