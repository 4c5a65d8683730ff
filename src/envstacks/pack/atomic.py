"""Crash-safe file writes: temporary name, fsync, rename, fsync of the folder; stale-temp cleanup.

Publish and deploy both promise that a crash (a kill, a full disk, a power cut) never leaves a
file under its final name with partial content. Everything they write therefore goes through
:func:`temporary_path` / :func:`commit` (archives, which a format writes itself) or
:func:`write_json` (metadata). Temporary names start with :data:`TEMP_PREFIX` so the next run
can recognise and remove what an interrupted one left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Every temporary file or folder envstacks makes inside an output or deployment folder starts so.
TEMP_PREFIX = ".envstacks-tmp."


def temporary_name(final_name: str) -> str:
    """A fresh temporary sibling name for ``final_name`` (recognisable by :data:`TEMP_PREFIX`)."""
    return f"{TEMP_PREFIX}{secrets.token_hex(4)}.{final_name}"


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames, creations) to disk, where folders can be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; its renames are durable enough.
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(temporary: Path, final: Path) -> None:
    """Make a fully written temporary file the final one: fsync it, rename it, fsync the folder."""
    fsync_file(temporary)
    temporary.replace(final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def temporary_path(final: Path) -> Iterator[Path]:
    """A temporary path next to ``final``, removed again if the block fails.

    The caller writes the file and then calls :func:`commit`; a temporary file still present when
    the block ends (because it failed or was never committed) is removed.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.parent / temporary_name(final.name)
    try:
        yield temp
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def dumps(data: Any) -> str:
    """JSON as envstacks and venvstacks write it: two-space indent, sorted keys, final newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (temporary name, fsync, rename)."""
    with temporary_path(path) as temp:
        temp.write_text(text, encoding="utf-8")
        commit(temp, path)


def write_json(path: Path, data: Any) -> None:
    """Write a JSON file atomically (temporary name, fsync, rename)."""
    write_text(path, dumps(data))


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove temporary files and folders an interrupted run left in ``folder``; return them."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed
