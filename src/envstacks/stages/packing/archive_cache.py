"""Layer archives by content: a layer whose tree was packed before is not compressed again.

An archive of a built-in format depends only on the layer's normalised tree (its tree hash
covers the top folder's name, every path, kind, mode, file sha256 and link target), the lock
time its entries carry, the format and its compression, so publish looks it up by the sha256
of those (:func:`archive_key`) in a :class:`~envstacks.floor.content_cache.ContentCache` and
links the archive an earlier publish wrote, into any publish folder, instead of compressing
the same bytes again (a minute per large layer with ``tar.xz`` or ``max``).

* **where**: ``$ENVSTACKS_ARCHIVE_CACHE_DIR``, else ``archives/`` in envstacks' cache folder
  (``~/.cache/envstacks/archives`` on Linux, or under ``$ENVSTACKS_CACHE_DIR``);
  ``ENVSTACKS_ARCHIVE_CACHE_DIR=off`` turns it off;
* **how big**: at most ``$ENVSTACKS_ARCHIVE_CACHE_MB`` megabytes (2048 by default), least
  recently used archives removed first;
* only the built-in formats are cached (a plugin's bytes may depend on what envstacks cannot
  see), and the versions of the compression libraries are part of the key.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib

from envstacks.floor.content_cache import ContentCache, cache_from_environment
from envstacks.published.archive_formats import BUILTIN_FORMATS, compression_of
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.stages.runtime.paths import user_cache_dir

__all__ = ["CACHE_DIR_VARIABLE", "CACHE_SIZE_VARIABLE", "archive_cache", "archive_key"]

#: Where the cache lives (``off``: every publish compresses every layer it writes).
CACHE_DIR_VARIABLE = "ENVSTACKS_ARCHIVE_CACHE_DIR"
#: The most megabytes it may hold.
CACHE_SIZE_VARIABLE = "ENVSTACKS_ARCHIVE_CACHE_MB"
DEFAULT_MEGABYTES = 2048
#: Part of every key: a change of how envstacks writes archives starts afresh.
KEY_FORMAT = "envstacks-archive-2"  # 2: tar.xz in fixed pieces (xz_pieces.py)


def archive_cache() -> ContentCache | None:
    """The cache the environment asks for (:data:`CACHE_DIR_VARIABLE`); ``None`` when off.

    Raises:
        SettingError: :data:`CACHE_SIZE_VARIABLE` is not a whole number of megabytes.
    """
    return cache_from_environment(
        CACHE_DIR_VARIABLE,
        CACHE_SIZE_VARIABLE,
        default_folder=user_cache_dir() / "archives",
        default_megabytes=DEFAULT_MEGABYTES,
    )


def archive_key(fmt: ArchiveFormat, *, tree_sha256: str, mtime: int) -> str | None:
    """The cache key of ``fmt``'s archive of a tree; ``None`` for a format not cached."""
    if not any(type(fmt) is type(builtin) for builtin in BUILTIN_FORMATS.values()):
        return None
    parts = {
        "key": KEY_FORMAT,
        "format": fmt.name,
        "compression": compression_of(fmt),
        "tree_sha256": tree_sha256,
        "mtime": mtime,
        "libraries": _libraries(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _libraries() -> str:
    """The compression libraries' versions (zstd's, zlib's, and Python's for lzma)."""
    if sys.version_info >= (3, 14):
        from compression import zstd  # noqa: PLC0415 - only exists on 3.14+

        zstd_version = str(zstd.zstd_version_info)
    else:
        import zstandard  # noqa: PLC0415 - imported when first needed

        zstd_version = str(zstandard.ZSTD_VERSION)
    return f"zstd {zstd_version}; zlib {zlib.ZLIB_RUNTIME_VERSION}; python {sys.version}"
