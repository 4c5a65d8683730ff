"""What a runtime layer keeps of a CPython installation, and the copy that leaves the rest out.

A runtime copy leaves out test suites, IDLE, the static libpython, ``__pycache__``, the
contents of site-packages, ``EXTERNALLY-MANAGED`` and the scripts of tools and packages, and
gets ``bin/python`` and ``bin/python3`` links. Every copied file and folder is writable by
its owner (patchelf edits them afterwards).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from envstacks.floor.errors import RuntimeProvisionError
from envstacks.floor.report import Task
from envstacks.stages.runtime import relocate
from envstacks.stages.runtime.probe import InterpreterInfo

__all__ = ["copy_tree", "ensure_links", "tree_size"]

#: Folders inside stdlib packages that hold only tests (``ctypes/test``, ``lib2to3/tests``...).
_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
#: Extension modules that exist only for CPython's own test suite.
_TEST_EXTENSIONS = re.compile(r"^(_test|_ctypes_test|_xxtestfuzz|xxlimited)")
#: What a runtime's ``bin/`` keeps: the interpreter, its links, and ``python3.X-config``.
_BIN_KEEP = re.compile(r"^python(\d+(\.\d+)?)?(-config)?$")


def _stdlib_ignore(info: InterpreterInfo, source: Path) -> Callable[[str, list[str]], set[str]]:
    """The ``shutil.copytree`` ignore function for one installation."""
    stdlib = Path("lib") / info.stdlib_name
    source_roots = (source, Path(os.path.realpath(source)))

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(os.path.relpath(folder, source))
        ignored = {name for name in names if name == "__pycache__" or name.endswith(".pyc")}
        if rel == Path("bin"):
            ignored.update(
                name for name in names if not _keep_in_bin(Path(folder, name), source_roots)
            )
        elif rel == Path("lib"):
            ignored.update(name for name in names if name.endswith(".a"))
        elif rel == stdlib:
            ignored.update(set(names) & {"test", "idlelib", "EXTERNALLY-MANAGED"})
        elif rel == stdlib / "site-packages":
            ignored.update(names)
        elif rel == stdlib / "lib-dynload":
            ignored.update(name for name in names if _TEST_EXTENSIONS.match(name))
        elif rel.parent == stdlib and rel.name.startswith("config-"):
            ignored.update(name for name in names if name.endswith((".a", ".o")))
        elif stdlib in rel.parents:
            ignored.update(
                name for name in names if name in _TEST_DIRS and Path(folder, name).is_dir()
            )
        return ignored

    return ignore


def _keep_in_bin(path: Path, source_roots: tuple[Path, ...]) -> bool:
    """A runtime needs only its interpreter: tool and package scripts are left out."""
    if not _BIN_KEEP.match(path.name):
        return False
    interpreter = relocate.shebang(path)
    # python3.X-config is a /bin/sh script that finds its prefix from its own place; a
    # script whose #! points back into the source would not survive the move.
    return interpreter is None or not relocate.points_into(interpreter, source_roots)


def _pieces(info: InterpreterInfo, source: Path, whole_prefix: bool) -> list[Path]:
    """What to copy, relative to the source prefix."""
    if whole_prefix:
        return [Path(entry.name) for entry in sorted(source.iterdir())]
    feature = info.feature_version
    names = [
        f"bin/python{feature}",
        f"bin/python{feature}-config",
        f"lib/{info.stdlib_name}",
        f"include/python{feature}{info.abiflags}",
        f"lib/pkgconfig/python-{feature}.pc",
        f"lib/pkgconfig/python-{feature}-embed.pc",
        "lib/libpython3.so",
    ]
    pieces = [Path(name) for name in names]
    lib = source / "lib"
    pieces += [
        Path("lib", entry.name)
        for entry in sorted(lib.glob(f"libpython{feature}{info.abiflags}.so*"))
    ]
    return [piece for piece in pieces if (source / piece).exists()]


def _writable_copy(task: Task) -> Callable[[str, str], object]:
    """A ``copy2`` that counts files and leaves each copy writable (patchelf edits them)."""

    def copy(src: str, dst: str) -> object:
        result = shutil.copy2(src, dst)
        copied = Path(dst)
        mode = copied.stat().st_mode
        if not mode & stat.S_IWUSR:
            copied.chmod(mode | stat.S_IWUSR)
        task.advance()
        return result

    return copy


def copy_tree(
    info: InterpreterInfo, source: Path, target: Path, *, whole_prefix: bool, task: Task
) -> None:
    """Copy what a runtime keeps of the installation at ``source`` into ``target``.

    ``whole_prefix``: everything under the prefix (a dedicated installation), else only the
    Python pieces (a prefix shared with other software, such as ``/usr/local``).
    """
    ignore = _stdlib_ignore(info, source)
    copy = _writable_copy(task)
    for piece in _pieces(info, source, whole_prefix):
        src, dst = source / piece, target / piece
        if src.is_symlink() or not src.is_dir():
            if src.is_symlink() or not ignore(os.fspath(src.parent), [src.name]):
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.is_symlink():
                    dst.symlink_to(src.readlink())
                else:
                    copy(os.fspath(src), os.fspath(dst))
            continue
        shutil.copytree(src, dst, symlinks=True, ignore=ignore, copy_function=copy)
    for folder, dirs, _files in os.walk(target):
        for name in dirs:
            path = Path(folder, name)
            mode = path.lstat().st_mode
            if not path.is_symlink() and not mode & stat.S_IWUSR:
                path.chmod(mode | stat.S_IWUSR)


def ensure_links(target: Path, info: InterpreterInfo) -> Path:
    """Give the copy ``bin/python`` and ``bin/python3`` (relative links); return its interpreter."""
    if os.name == "nt":
        return Path("python.exe")
    real = Path("bin") / f"python{info.feature_version}"
    if not (target / real).is_file():
        raise RuntimeProvisionError(
            f"the copy of {info.prefix} has no {real}: the installation is incomplete"
        )
    (target / "lib" / info.stdlib_name / "site-packages").mkdir(parents=True, exist_ok=True)
    for alias in ("python3", "python"):
        link = target / "bin" / alias
        if not link.exists():
            if link.is_symlink():
                link.unlink()
            link.symlink_to(real.name)
    return real


def tree_size(root: Path) -> int:
    """Bytes in the files under ``root`` (symlinks counted, not followed), for size reports."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        total += sum(Path(folder, name).lstat().st_size for name in files)
    return total
