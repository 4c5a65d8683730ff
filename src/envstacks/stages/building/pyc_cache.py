"""The pyc cache builds share: each module is compiled once per content, interpreter and path.

A pyc file depends only on the source's bytes, the path it records (the module's path inside
the layer), the interpreter that compiled it and the invalidation mode (envstacks writes
unchecked-hash pyc files with ``PYTHONHASHSEED=0``), so a build looks each module up by the
sha256 of those four (:func:`pyc_key`) in a :class:`~envstacks.floor.content_cache.ContentCache`
and links what an earlier build compiled instead of compiling again.

* **where**: ``$ENVSTACKS_PYC_CACHE_DIR``, else ``pyc/`` in envstacks' cache folder (beside
  uv's cache: ``~/.cache/envstacks/pyc`` on Linux, or under ``$ENVSTACKS_CACHE_DIR``);
  ``ENVSTACKS_PYC_CACHE_DIR=off`` turns the cache off;
* **how big**: at most ``$ENVSTACKS_PYC_CACHE_MB`` megabytes (1024 by default);
* modules that do not compile (syntax errors) are recorded too, so a warm build starts no
  compiler at all; a damaged entry is compiled again, never installed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from envstacks.floor.content_cache import ContentCache, cache_from_environment
from envstacks.stages.runtime.paths import user_cache_dir

__all__ = [
    "CACHE_DIR_VARIABLE",
    "CACHE_SIZE_VARIABLE",
    "Interpreter",
    "pyc_cache",
    "pyc_key",
]

#: Where the cache lives (``off``: no cache, every build compiles every module).
CACHE_DIR_VARIABLE = "ENVSTACKS_PYC_CACHE_DIR"
#: The most megabytes it may hold.
CACHE_SIZE_VARIABLE = "ENVSTACKS_PYC_CACHE_MB"
DEFAULT_MEGABYTES = 1024
#: Part of every key: a change of the entry format or of how envstacks compiles starts afresh.
KEY_FORMAT = b"envstacks-pyc-1\0unchecked-hash\0PYTHONHASHSEED=0\0optimize=0\0"


@dataclass(frozen=True, slots=True, kw_only=True)
class Interpreter:
    """The interpreter that compiles a layer, as the pyc files it writes depend on it."""

    cache_tag: str
    #: ``importlib.util.MAGIC_NUMBER`` in hex.
    magic: str
    #: ``sys.version`` (with the build's date and compiler): a patch release may compile
    #: differently under the same magic number.
    version: str


def pyc_key(interpreter: Interpreter, relative: str, source: bytes) -> str:
    """The cache key of the pyc of ``source``, recording ``relative``, by ``interpreter``."""
    digest = hashlib.sha256(KEY_FORMAT)
    for part in (interpreter.cache_tag, interpreter.magic, interpreter.version, relative):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(source)
    return digest.hexdigest()


def pyc_cache() -> ContentCache | None:
    """The cache the environment asks for (:data:`CACHE_DIR_VARIABLE`); ``None`` when off.

    Raises:
        SettingError: :data:`CACHE_SIZE_VARIABLE` is not a whole number of megabytes.
    """
    return cache_from_environment(
        CACHE_DIR_VARIABLE,
        CACHE_SIZE_VARIABLE,
        default_folder=user_cache_dir() / "pyc",
        default_megabytes=DEFAULT_MEGABYTES,
    )
