"""Make a built layer portable: drop scripts and build-machine metadata, fix RECORDs and symlinks.

Run after every install into a layer (venvstacks' ``_ensure_portability``, plus fixes):

* ``bin/`` keeps only the interpreter names (``python*``, which covers the wrapper and its
  ``python_`` link); entry-point scripts (absolute shebangs), activation scripts and
  sub-folders (xlsxwriter once put a ``__pycache__`` there, venvstacks #103) go.
* In every ``*.dist-info``, ``direct_url.json`` pointing at a local file (a build-machine
  path) and uv's private ``uv_cache.json`` (a build timestamp) go.
* ``RECORD`` files lose the rows of everything removed, so ``importlib.metadata`` and
  uninstallers keep working (venvstacks #28); rewritten, never edited in place.
* Symlinks: absolute ones inside ``boundary`` (the build folder) become relative; ones that
  leave it become hard links (or copies) of their target.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import bounded_json
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.fs import link_or_copy, remove_path, write_text


@dataclass(frozen=True, slots=True, kw_only=True)
class PortabilityReport:
    """What a clean-up changed (for debug messages and tests)."""

    removed: tuple[Path, ...] = ()
    records_edited: tuple[Path, ...] = ()
    symlinks_fixed: tuple[Path, ...] = ()


def clean_scripts(env: Path) -> list[Path]:
    """Remove everything in ``env/bin`` whose name does not start with ``python``."""
    bin_dir = env / "bin"
    if not bin_dir.is_dir():
        return []
    removed: list[Path] = []
    for entry in sorted(bin_dir.iterdir()):
        if entry.name.startswith("python") and not (entry.is_dir() and not entry.is_symlink()):
            continue
        remove_path(entry)
        removed.append(entry)
    return removed


def drop_build_metadata(site_dir: Path) -> list[Path]:
    """Remove ``direct_url.json`` files naming local paths and uv's ``uv_cache.json`` files."""
    removed: list[Path] = []
    for info in sorted(site_dir.glob("*.dist-info")):
        cache = info / "uv_cache.json"
        if cache.is_file():
            cache.unlink()
            removed.append(cache)
        direct = info / "direct_url.json"
        if direct.is_file() and _is_local_url(direct):
            direct.unlink()
            removed.append(direct)
    return removed


def _is_local_url(path: Path) -> bool:
    try:
        url = bounded_json.read_file(path).get("url", "")
    except (OSError, EnvStacksError, AttributeError):
        return False
    return isinstance(url, str) and url.startswith("file:")


def edit_records(site_dir: Path, removed: Iterable[Path]) -> list[Path]:
    """Drop the rows of removed files (or of files inside removed folders) from every RECORD.

    Returns the RECORD files rewritten.
    """
    gone = {Path(os.path.normpath(path)) for path in removed}
    if not gone:
        return []
    edited: list[Path] = []
    for record in sorted(site_dir.glob("*.dist-info/RECORD")):
        text = record.read_text(encoding="utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        kept = [row for row in rows if not (row and _is_gone(site_dir, row[0], gone))]
        if len(kept) == len(rows):
            continue
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        write_text(record, out.getvalue())
        edited.append(record)
    return edited


def _is_gone(site_dir: Path, entry: str, gone: set[Path]) -> bool:
    path = Path(os.path.normpath(site_dir / entry))
    return path in gone or any(parent in gone for parent in path.parents)


def convert_symlinks(env: Path, boundary: Path) -> list[Path]:
    """Make symlinks under ``env`` portable; returns the links changed.

    Absolute links to places inside ``boundary`` become relative links; links (absolute or
    relative) to places outside it become hard links or copies of what they point at.
    Dangling links outside the boundary are removed.
    """
    boundary = boundary.absolute()
    fixed: list[Path] = []
    for root, dirs, files in os.walk(env):
        for name in [*dirs, *files]:
            link = Path(root, name)
            if not link.is_symlink():
                continue
            target = link.readlink()
            absolute = Path(os.path.normpath(link.parent / target))
            if absolute.is_relative_to(boundary):
                if target.is_absolute():
                    link.unlink()
                    link.symlink_to(os.path.relpath(absolute, link.parent))
                    fixed.append(link)
                continue
            resolved = link.resolve()
            link.unlink()
            if resolved.is_dir():
                shutil.copytree(resolved, link, symlinks=False, copy_function=_link_or_copy)
            elif resolved.exists():
                link_or_copy(resolved, link)
            fixed.append(link)
        dirs[:] = [name for name in dirs if not Path(root, name).is_symlink()]
    return fixed


def _link_or_copy(source: str, destination: str) -> None:
    link_or_copy(Path(source), Path(destination))


def ensure_portability(env: Path, site_dir: Path, *, boundary: Path) -> PortabilityReport:
    """Run the whole clean-up on a built layer."""
    removed = clean_scripts(env) + drop_build_metadata(site_dir)
    records = edit_records(site_dir, removed)
    symlinks = convert_symlinks(env, boundary)
    return PortabilityReport(
        removed=tuple(removed), records_edited=tuple(records), symlinks_fixed=tuple(symlinks)
    )
