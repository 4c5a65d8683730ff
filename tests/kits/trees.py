"""A layer-like file tree with awkward entries, for archive-format and packing tests."""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: The mtime archives clamp entries to in these tests (the lock time 2026-01-02T03:04:05Z).
LOCK_MTIME = 1767323045


def make_tree(
    root: Path,
    *,
    reverse: bool = False,
    umask: int = 0o022,
    owner: int | None = None,
    mtime: float | None = None,
) -> Path:
    """A layer-like tree; ``reverse`` creates entries in the opposite order (other dir order)."""
    files: list[tuple[str, bytes, int]] = [
        ("bin/tool", b"#!/bin/sh\necho tool\n", 0o775),
        ("lib/python3.12/site-packages/pkg/__init__.py", b"VALUE = 1\n", 0o664),
        ("lib/python3.12/site-packages/pkg/data.bin", bytes(range(256)) * 64, 0o600),
        ("lib/python3.12/site-packages/pkg/empty.txt", b"", 0o644),
        ("lib/python3.12/site-packages/pkg/__pycache__/__init__.cpython-312.pyc", b"\0pyc", 0o644),
        ("lib/python3.12/site-packages/\u00fcnicode_n\u00e4me.py", b"# utf-8 name\n", 0o644),
        ("lib/python3.12/site-packages/" + "long_" * 25 + "name.py", b"# > 100 chars\n", 0o644),
        ("postinstall.py", b"print('postinstall')\n", 0o644),
    ]
    old = os.umask(umask)
    try:
        root.mkdir(parents=True)
        (root / "share" / "empty").mkdir(parents=True)
        for relative, data, mode in reversed(files) if reverse else files:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(mode & ~umask)
        (root / "bin" / "python").symlink_to("../../cpython-3.12/bin/python3")
        (root / "bin" / "tool2").symlink_to("tool")
    finally:
        os.umask(old)
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            if owner is not None:
                os.lchown(path, owner, owner)
            if mtime is not None and not path.is_symlink():
                os.utime(path, (mtime, mtime))
    return root


def modes_of(root: Path) -> dict[str, int]:
    """Permission bits of every entry (to show two trees really differ)."""
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(root.rglob("*"))
    }
