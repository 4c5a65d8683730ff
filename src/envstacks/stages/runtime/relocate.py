"""Make a copied Python installation independent of its source: symlinks, shebangs, pkg-config.

Absolute symlinks into the source become relative, links left dangling by the trimmed copy
go, and pkg-config files compute their prefix from their own place. The ELF side (rpaths,
debug information) is :mod:`envstacks.stages.runtime._elf`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from envstacks.floor.report import Reporter

__all__ = ["fix_pkgconfig", "points_into", "relative_inside", "relink_symlinks", "shebang"]


def relative_inside(path: str, roots: Iterable[Path]) -> Path | None:
    """The part of absolute ``path`` below one of ``roots`` (relative), or None."""
    normalised = Path(os.path.normpath(path))
    for root in roots:
        if normalised == root or root in normalised.parents:
            return normalised.relative_to(root)
    return None


def shebang(path: Path) -> str | None:
    """The interpreter named on the ``#!`` line of ``path``, or None if it has none."""
    if path.is_symlink() or not path.is_file():
        return None
    with path.open("rb") as stream:
        first = stream.readline(512)
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode("utf-8", "replace").split()
    return parts[0] if parts else None


def points_into(path: str, roots: Sequence[Path]) -> bool:
    """Whether absolute ``path`` lies inside one of ``roots``."""
    return Path(path).is_absolute() and relative_inside(path, roots) is not None


def relink_symlinks(copy_root: Path, source_roots: Sequence[Path], *, reporter: Reporter) -> None:
    """Turn absolute symlinks into the source into relative ones; drop links left dangling.

    Links can dangle because the copy leaves out tests, scripts and site-packages content.
    """
    for folder, dirs, files in os.walk(copy_root):
        for name in [*dirs, *files]:
            link = Path(folder, name)
            if not link.is_symlink():
                continue
            target = os.fspath(link.readlink())
            relative = relative_inside(target, source_roots) if Path(target).is_absolute() else None
            if relative is not None:
                link.unlink()
                link.symlink_to(os.path.relpath(copy_root / relative, link.parent))
            if not link.exists():
                reporter.debug(f"dropping dangling link {link.relative_to(copy_root)} -> {target}")
                link.unlink()


def _pc_line(line: str, source_roots: Sequence[Path]) -> str:
    key, sep, value = line.partition("=")
    if key.strip() == "prefix" and sep and points_into(value.strip(), source_roots):
        return "prefix=${pcfiledir}/../..\n"
    return line


def fix_pkgconfig(copy_root: Path, source_roots: Sequence[Path]) -> list[Path]:
    """Make ``lib/pkgconfig/*.pc`` compute their prefix from their own place (``${pcfiledir}``).

    Returns the files changed.
    """
    changed: list[Path] = []
    folder = copy_root / "lib" / "pkgconfig"
    if not folder.is_dir():
        return changed
    for pc_file in sorted(folder.glob("*.pc")):
        if pc_file.is_symlink():
            continue
        lines = pc_file.read_text(encoding="utf-8").splitlines(keepends=True)
        rewritten = [_pc_line(line, source_roots) for line in lines]
        if rewritten != lines:
            pc_file.write_text("".join(rewritten), encoding="utf-8")
            changed.append(pc_file)
    return changed
