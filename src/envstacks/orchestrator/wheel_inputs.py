"""What the project's own wheel is built from, fingerprinted: an unchanged project is not rebuilt.

A wheel is reused when everything its build could read is as it was for the last build:
the builder (the front-end's), the interpreter it ran on, every file of the project folder
(``pyproject.toml``, the build backend's requirements and settings, build hooks, the source
tree, ``.gitignore``), and the version control state a version plugin (hatch-vcs,
setuptools-scm) reads: the checked-out commit and the tags. Left out, as no backend builds
a wheel from them: version control and tool caches (``.git``, ``.tox``, ``__pycache__``...),
virtual environments (folders with a ``pyvenv.cfg``), ``*.egg-info``, the ``build`` and
``dist`` folders at the top, and the stack's own folders (build, output, export,
requirements).

Files are compared by content. As git does, a file whose size and modification time are
those recorded is not read again, unless it was modified within two seconds before the
record was written (it might have changed again within the same clock tick).
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor.fs import file_sha256, json_sha256, read_json, write_json

__all__ = ["WheelInputs", "gather", "record", "unchanged_wheel"]

_RECORD_VERSION = 1
#: Folders skipped wherever they are: version control, tool caches, bytecode.
_SKIPPED = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "__pycache__",
        "node_modules",
    }
)
#: Folders skipped at the top of the project: what build backends write.
_SKIPPED_AT_TOP = frozenset({"build", "dist"})
#: A file modified this close before the record was written is read again (nanoseconds).
_RACY_NS = 2_000_000_000

#: A file's size, modification time (ns) and sha256.
_FileState = tuple[int, int, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class WheelInputs:
    """What one build of the project's wheel would read."""

    #: The builder, the interpreter and the version control state, hashed.
    key: str
    #: Every project file by its path relative to the project folder.
    files: Mapping[str, _FileState]


def gather(
    root: Path,
    *,
    builder: object,
    python: Path,
    skipped: Sequence[Path],
    previous: Mapping[str, Any] | None,
) -> WheelInputs:
    """The inputs of a wheel build of ``root`` by ``builder`` on ``python``.

    ``skipped`` are folders to leave out (the stack's own); ``previous`` is the last record
    (:func:`record`), whose file hashes are reused for files unchanged on disk.
    """
    known, recorded_at = _previous_files(previous)
    files: dict[str, _FileState] = {}
    for path in _project_files(root, {folder.resolve() for folder in skipped}):
        try:
            info = path.lstat()
        except FileNotFoundError:  # removed since the folder was listed
            continue
        relative = path.relative_to(root).as_posix()
        if path.is_symlink():
            files[relative] = (0, 0, f"link:{path.readlink()}")
            continue
        if not stat.S_ISREG(info.st_mode):  # a fifo or a socket: never read (it could block)
            files[relative] = (0, 0, f"special:{stat.S_IFMT(info.st_mode)}")
            continue
        old = known.get(relative)
        trusted = old is not None and info.st_mtime_ns < recorded_at - _RACY_NS
        if old is not None and trusted and (old[0], old[1]) == (info.st_size, info.st_mtime_ns):
            files[relative] = old
            continue
        try:
            digest = file_sha256(path)
        except OSError:  # unreadable here, so by the build backend too: its state stands for it
            digest = f"unreadable:{info.st_size}:{info.st_mtime_ns}"
        files[relative] = (info.st_size, info.st_mtime_ns, digest)
    function = getattr(builder, "func", builder)  # a functools.partial: the function it calls
    builder_name = f"{getattr(function, '__module__', '')}.{getattr(function, '__qualname__', '')}"
    key = json_sha256(
        {
            "builder": builder_name,
            "python": [str(python), os.path.realpath(python), *_stat(python)],
            "vcs": _git_state(root),
        }
    )
    return WheelInputs(key=key, files=files)


def unchanged_wheel(record_path: Path, folder: Path, inputs: WheelInputs) -> Path | None:
    """The wheel in ``folder`` built from ``inputs`` (``None``: none, or its inputs changed)."""
    data = read_json(record_path)
    if data is None or data.get("version") != _RECORD_VERSION or data.get("key") != inputs.key:
        return None
    files = data.get("files")
    wheel_name = data.get("wheel")
    if not isinstance(files, dict) or not isinstance(wheel_name, str):
        return None
    if {name: state[2] for name, state in inputs.files.items()} != {
        name: state[2] if isinstance(state, list) and len(state) == 3 else None
        for name, state in files.items()
    }:
        return None
    wheel = folder / wheel_name
    return wheel if wheel.name == wheel_name and wheel.is_file() else None


def record(record_path: Path, inputs: WheelInputs, wheel: Path) -> None:
    """Record that ``wheel`` was built from ``inputs`` (read back by :func:`unchanged_wheel`)."""
    write_json(
        record_path,
        {
            "version": _RECORD_VERSION,
            "key": inputs.key,
            "wheel": wheel.name,
            "recorded_at_ns": time.time_ns(),
            "files": {name: list(state) for name, state in sorted(inputs.files.items())},
        },
    )


def _previous_files(previous: Mapping[str, Any] | None) -> tuple[dict[str, _FileState], int]:
    """The file states of the last record and when it was written (nothing: none readable)."""
    if previous is None or previous.get("version") != _RECORD_VERSION:
        return {}, 0
    recorded_at = previous.get("recorded_at_ns")
    files = previous.get("files")
    if not isinstance(recorded_at, int) or not isinstance(files, dict):
        return {}, 0
    known: dict[str, _FileState] = {}
    for name, state in files.items():
        if (
            isinstance(state, list)
            and len(state) == 3
            and isinstance(state[0], int)
            and isinstance(state[1], int)
            and isinstance(state[2], str)
        ):
            known[name] = (state[0], state[1], state[2])
    return known, recorded_at


def _project_files(root: Path, skipped: set[Path]) -> Iterator[Path]:
    """Every file (and symlink) under ``root`` a wheel build could read, in a stable order."""
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            name
            for name in dirs
            if name not in _SKIPPED
            and not name.endswith(".egg-info")
            and not (here == root and name in _SKIPPED_AT_TOP)
            and (here / name).resolve() not in skipped
            and not (here / name / "pyvenv.cfg").exists()
        )
        links = [name for name in dirs if (here / name).is_symlink()]
        for name in links:  # a linked folder counts by its link, not followed
            dirs.remove(name)
        for name in sorted([*names, *links]):
            if not name.endswith((".pyc", ".pyo")):
                yield here / name


def _stat(path: Path) -> list[int]:
    try:
        info = path.stat()
    except OSError:
        return []
    return [info.st_size, info.st_mtime_ns]


def _git_state(root: Path) -> dict[str, str]:
    """The checked-out commit and the tags, as files of the project's git repository hold them.

    Version plugins (hatch-vcs, setuptools-scm) derive the version from these. Read from the
    files (no ``git`` run); a project outside git, or in another VCS, gives nothing.
    """
    git = next(
        (folder / ".git" for folder in (root, *root.parents) if (folder / ".git").exists()), None
    )
    if git is None:
        return {}
    git_dir = git
    if git.is_file():  # a worktree: "gitdir: <path>"
        text = _read(git).strip()
        if not text.startswith("gitdir:"):
            return {}
        git_dir = (git.parent / text.removeprefix("gitdir:").strip()).resolve()
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / _read(git_dir / "commondir").strip()).resolve()
    head = _read(git_dir / "HEAD").strip()
    state = {"HEAD": head, "packed-refs": _read(common / "packed-refs")}
    if head.startswith("ref:"):
        ref = head.removeprefix("ref:").strip()
        state["ref"] = _read(git_dir / ref) or _read(common / ref)
    tags = common / "refs" / "tags"
    for path in sorted(tags.rglob("*")) if tags.is_dir() else ():
        if path.is_file():
            state[f"tag:{path.relative_to(tags).as_posix()}"] = _read(path)
    return state


def _read(path: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8")
    return ""
