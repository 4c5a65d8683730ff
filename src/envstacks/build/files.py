"""File operations safe for hard-linked trees: replace instead of edit, link instead of copy.

Installed files are hard links into uv's cache, and staged or exported layers are hard links
to the build folder, so envstacks never changes a file's content in place: it writes a new
file and renames it over the old one, which leaves every other link untouched.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path


def replace_text(path: Path, text: str, *, mode: int | None = None) -> bool:
    """Write ``text`` to ``path`` through a temporary file and a rename; skip if unchanged.

    The new file keeps the old one's permission bits (or gets ``mode``). Returns whether the
    file was written.
    """
    try:
        if path.read_text(encoding="utf-8") == text and (
            mode is None or path.stat().st_mode & 0o7777 == mode
        ):
            return False
    except (OSError, UnicodeDecodeError):
        pass
    return replace_bytes(path, text.encode("utf-8"), mode=mode)


def replace_bytes(path: Path, data: bytes, *, mode: int | None = None) -> bool:
    """Write ``data`` to ``path`` through a temporary file and a rename (always written)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(data)
        if mode is not None:
            temporary.chmod(mode)
        elif path.exists() and not path.is_symlink():
            temporary.chmod(path.stat().st_mode & 0o7777)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def link_or_copy(source: Path, destination: Path) -> bool:
    """Hard-link ``source`` to ``destination``, copying (with metadata) where linking fails.

    Returns whether a hard link was made (False: a copy, e.g. across file systems).
    """
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
        return False
    return True


def remove_path(path: Path) -> None:
    """Remove a file, a symlink or a whole folder; nothing if it does not exist."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
