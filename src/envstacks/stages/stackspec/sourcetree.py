"""List and hash the files of an application's launch and support modules, with the source filter.

A module is a single ``.py`` file or a package folder. The files of a folder are filtered the
way venvstacks filters them: ``__pycache__`` folders and names starting with ``.git`` are never
part of a module, and when the folder sits inside a git work tree, whatever git ignores is left
out too (asked of ``git check-ignore``, so every ``.gitignore``, ``info/exclude`` and global
excludes file counts). The build step copies exactly :func:`module_files`; the lock metadata
hashes exactly the same files with venvstacks' formulas (:func:`module_hash`), so a lock and a
build can never disagree about what a module contains.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor import proc
from envstacks.floor.errors import ToolError
from envstacks.floor.fs import tagged_file_sha256

#: Folder names that are never part of a module.
_SKIPPED_DIRS = frozenset({"__pycache__"})
#: Name prefix of git's own files (``.git``, ``.gitignore``, ``.gitattributes``...).
_GIT_PREFIX = ".git"
#: How many paths one ``git check-ignore`` call is given (keeps argv well under OS limits).
_GIT_BATCH = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleDir:
    """One folder of a package module and the files kept in it, both in hashing order."""

    #: The folder, relative to the module's parent (``scipy_client``, ``scipy_client/sub``).
    path: Path
    #: File names kept in this folder, sorted.
    files: tuple[str, ...]


def git_work_tree(path: Path) -> Path | None:
    """The top folder of the git work tree holding ``path``, or ``None`` outside git."""
    current = path if path.is_dir() else path.parent
    for folder in (current, *current.parents):
        if (folder / ".git").exists():
            return folder
    return None


def _skipped(name: str) -> bool:
    return name in _SKIPPED_DIRS or name.startswith(_GIT_PREFIX)


def _git_ignored(folder: Path, names: list[str]) -> set[str]:
    """Which of ``names`` (entries of ``folder``) git ignores."""
    ignored: set[str] = set()
    for start in range(0, len(names), _GIT_BATCH):
        batch = names[start : start + _GIT_BATCH]
        result = proc.run(
            # --no-index: apply the ignore rules even to files that are tracked, as the
            # filter is about what belongs in a layer, not about what git stores.
            # core.quotePath=false: print non-ASCII names as they are, so they match ours.
            ["git", "-c", "core.quotePath=false", "check-ignore", "--no-index", "--", *batch],
            cwd=folder,
            check=False,
            what=f"ask git which files of {folder} it ignores",
        )
        # Exit status 0: some paths are ignored; 1: none is; anything else is an error.
        if result.returncode not in (0, 1):
            raise ToolError(
                f"cannot filter the module folder {folder}: `git check-ignore` failed "
                f"(exit status {result.returncode}): {proc.tail(result.stderr)}",
                hint="check that the folder's git repository is healthy (`git status` in it)",
            )
        ignored.update(line for line in result.stdout.splitlines() if line)
    return ignored


def walk_module(module: Path) -> Iterator[ModuleDir]:
    """Walk a package folder top-down (subfolders sorted), yielding the files kept in each.

    Folders whose files are all filtered out are still walked into but yield no files.
    """
    use_git = git_work_tree(module) is not None
    pending = [module]
    while pending:
        folder = pending.pop(0)
        with os.scandir(folder) as entries:
            listed = sorted((entry.name, entry.is_dir()) for entry in entries)
        names = [name for name, _ in listed if not _skipped(name)]
        ignored = _git_ignored(folder, names) if use_git and names else set()
        kept = [
            (name, is_dir) for name, is_dir in listed if not _skipped(name) and name not in ignored
        ]
        yield ModuleDir(
            path=folder.relative_to(module.parent),
            files=tuple(name for name, is_dir in kept if not is_dir),
        )
        # Depth first, in sorted order, as os.walk with sorted subfolders would go.
        pending[0:0] = [folder / name for name, is_dir in kept if is_dir]


def module_files(module: Path) -> tuple[Path, ...]:
    """The files of a module (absolute paths), in hashing order: what the build step copies.

    A file module is just itself; a package folder is filtered (see the module docstring).
    """
    if module.is_file():
        return (module,)
    return tuple(
        module.parent / folder.path / name
        for folder in walk_module(module)
        for name in folder.files
    )


def file_module_hash(path: Path) -> str:
    """Hash a single-file module as venvstacks does: its name, then its content hash."""
    digest = hashlib.sha256(path.name.encode())
    digest.update(tagged_file_sha256(path).encode())
    return "sha256:" + digest.hexdigest()


def dir_module_hash(module: Path) -> str:
    """Hash a package module as venvstacks does (note the ``sha256/`` prefix).

    For each folder (top-down, sorted) that keeps at least one file: the folder's name, then
    for each kept file in sorted order its name and its content hash.
    """
    digest = hashlib.sha256()
    for folder in walk_module(module):
        if not folder.files:
            continue
        digest.update(folder.path.name.encode())
        base = module.parent / folder.path
        for name in folder.files:
            digest.update(name.encode())
            digest.update(tagged_file_sha256(base / name).encode())
    return "sha256/" + digest.hexdigest()


def module_hash(module: Path) -> str:
    """The hash of a launch or support module as venvstacks records it."""
    if module.is_file():
        return file_module_hash(module)
    return dir_module_hash(module)
