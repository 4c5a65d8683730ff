"""The folders a run writes: held for the whole run, and the file system's refusals explained.

Every verb enters through the orchestrator (:mod:`envstacks.orchestrator.pipeline` for the
stack verbs, :mod:`envstacks.orchestrator.distribution` for deploy and merge), which passes
through :func:`guarded` once: it holds the run's folders for its whole duration
(:mod:`envstacks.floor.folderlock`), and when the file system refuses a write anywhere inside
(a full disk, a read-only file system, a permission, a name too long, a file where a folder
must be), the ``OSError`` becomes one :class:`~envstacks.floor.errors.FileSystemError` naming
the folder and the fix, instead of reaching a front-end as an unexplained failure. Nothing
below needs its own ``try``/``except`` for these: every stage writes through
:mod:`envstacks.floor.fs` (temporary names, then renames), so what a refused write leaves
behind is a temporary, never a half-made file under a final name, and the next run removes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import folderlock
from envstacks.floor.errors import (
    AccessDeniedError,
    FileSystemError,
    NameTooLongError,
    NoSpaceError,
    NotAFolderError,
    ReadOnlyError,
)
from envstacks.floor.report import Reporter

#: Below this many free bytes, a folder's file system counts as full (for the message).
_NEARLY_FULL = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkFolder:
    """A folder a run writes, and the lock file that holds it (``None``: the folder itself)."""

    path: Path
    lock_file: str | None = folderlock.LOCK_FILE


@contextlib.contextmanager
def guarded(verb: str, folders: Sequence[WorkFolder], reporter: Reporter) -> Iterator[None]:
    """Hold ``folders`` (in the order given) for the block; explain the file system's refusals.

    Raises:
        FileSystemError: (a subclass) the file system refused a write inside the block.
        BusyError: another run held a folder longer than the wait allowed.
    """
    try:
        with contextlib.ExitStack() as stack:
            for folder in folders:
                stack.enter_context(
                    folderlock.hold(
                        folder.path, verb=verb, reporter=reporter, lock_file=folder.lock_file
                    )
                )
            yield
    except FileSystemError:
        raise
    except OSError as exc:
        error = explain(exc, verb=verb, folders=[folder.path for folder in folders])
        if error is None:
            raise
        raise error from exc


def explain(exc: OSError, *, verb: str, folders: Sequence[Path]) -> FileSystemError | None:
    """The clear error for an OS refusal (``None``: not one of the conditions explained here)."""
    code = exc.errno
    filename = os.fsdecode(exc.filename) if exc.filename is not None else None
    where = _folder_of(filename, folders, code)
    writing = f" (at {filename})" if filename is not None and filename != str(where) else ""
    kept = "; nothing half-made was left under a final name"
    again = f"run {verb} again"
    error: FileSystemError
    if code in (errno.ENOSPC, errno.EDQUOT):
        what = "disk quota" if code == errno.EDQUOT else "space"
        error = NoSpaceError(
            f"{verb}: no {what} left on the file system of {where}{writing}{kept}",
            hint=f"free some space there (or choose a folder on another file system), then {again}",
        )
    elif code == errno.EROFS:
        error = ReadOnlyError(
            f"{verb}: {where} is on a read-only file system{writing}{kept}",
            hint=f"choose a writable folder (or remount it read-write), then {again}",
        )
    elif code in (errno.EACCES, errno.EPERM):
        error = AccessDeniedError(
            f"{verb}: permission denied in {where}{writing}{kept}",
            hint=f"give this user access there (or choose another folder), then {again}",
        )
    elif code in (errno.EEXIST, errno.ENOTDIR) and (blocker := _file_in_the_way(filename)):
        error = NotAFolderError(
            f"{verb}: {blocker} is a file, but a folder is needed there{kept}",
            hint=f"move it away (or choose another folder), then {again}",
        )
    elif code == errno.ENAMETOOLONG:
        error = NameTooLongError(
            f"{verb}: a file name or path is longer than the file system allows in {where}"
            f"{writing}{kept}",
            hint=f"use a shorter folder path (or shorter layer names), then {again}",
        )
    else:
        return None
    error.errno, error.filename = code, filename
    return error


def _file_in_the_way(filename: str | None) -> Path | None:
    """The file (not folder) at ``filename`` or above it, which keeps a folder from being made."""
    if filename is None:
        return None
    path = Path(filename)
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return None if candidate.is_dir() else candidate
    return None


def is_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` has (next to) no space left.

    For failures that reach envstacks as a program's exit status rather than an ``OSError``
    (a layer's ``postinstall.py``), so the error can still say what to do.
    """
    return _shows(folder, errno.ENOSPC)


def _folder_of(filename: str | None, folders: Sequence[Path], code: int | None) -> Path | str:
    """The run's folder the refusal concerns: the one holding ``filename``, else the likely one.

    Writes through an open file report no file name; then the folder whose file system shows
    the condition (full, read-only, not writable) is named, or every folder of the run.
    """
    if filename is not None:
        path = Path(filename)
        inside = [folder for folder in folders if folder == path or folder in path.parents]
        if inside:
            return max(inside, key=lambda folder: len(folder.parts))
        return path.parent
    suspects = [folder for folder in folders if _shows(folder, code)]
    if not suspects and code in (errno.ENOSPC, errno.EDQUOT) and folders:
        # What the failed write made is removed by now: the fullest file system is the one.
        suspects = [min(folders, key=_free_space)]
    chosen = suspects or list(folders)
    return chosen[0] if len(chosen) == 1 else " or ".join(str(folder) for folder in chosen)


def _free_space(folder: Path) -> int:
    try:
        return shutil.disk_usage(_existing(folder)).free
    except OSError:
        return 1 << 62


def _existing(folder: Path) -> Path:
    """``folder``, or its nearest existing parent."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _shows(folder: Path, code: int | None) -> bool:
    """Whether ``folder``'s file system shows the condition ``code`` stands for."""
    probe = _existing(folder)
    try:
        if code in (errno.ENOSPC, errno.EDQUOT):
            return shutil.disk_usage(probe).free < _NEARLY_FULL
        if code == errno.EROFS:
            return bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        if code in (errno.EACCES, errno.EPERM):
            return not os.access(probe, os.W_OK)
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    return False
