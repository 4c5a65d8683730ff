"""Copy a CPython installation into a runtime layer folder: trimmed, relocatable, checked, atomic.

The copy leaves out what a runtime layer must not carry (test suites, IDLE, the static
libpython, ``__pycache__``, the contents of site-packages, ``EXTERNALLY-MANAGED``, scripts
of tools and packages), is made independent of its source on Linux (:mod:`.relocate`),
proves that it runs from its own folder, and only then is renamed into place: a failure
never leaves a half-made runtime at the destination.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from envstacks import proc
from envstacks.errors import RuntimeProvisionError
from envstacks.report import Reporter, Task
from envstacks.runtime import relocate
from envstacks.runtime.probe import InterpreterInfo

#: Prefixes shared with other software: only the Python pieces are copied from them.
SHARED_PREFIXES = frozenset({"/", "/usr", "/usr/local", "/opt/local"})

#: Folders inside stdlib packages that hold only tests (``ctypes/test``, ``lib2to3/tests``...).
_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
#: Extension modules that exist only for CPython's own test suite.
_TEST_EXTENSIONS = re.compile(r"^(_test|_ctypes_test|_xxtestfuzz|xxlimited)")
#: What a runtime's ``bin/`` keeps: the interpreter, its links, and ``python3.X-config``.
_BIN_KEEP = re.compile(r"^python(\d+(\.\d+)?)?(-config)?$")

#: Prints the prefix the copy computes for itself and the libpython it actually loaded.
_SELF_CHECK = """
import sys
maps = []
try:
    with open("/proc/self/maps") as f:
        maps = sorted({l.split()[-1] for l in f if "libpython" in l and "/" in l})
except OSError:
    pass
print(sys.prefix)
print("\\n".join(maps))
"""


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


def _copy_tree(
    info: InterpreterInfo, source: Path, target: Path, *, whole_prefix: bool, task: Task
) -> None:
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


def _ensure_links(target: Path, info: InterpreterInfo) -> Path:
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


def _relocate(target: Path, sources: tuple[Path, ...], *, layer: str, reporter: Reporter) -> None:
    """Strip debug info and make every ELF rpath ``$ORIGIN``-relative (Linux only)."""
    relocate.relink_symlinks(target, sources, reporter=reporter)
    relocate.fix_pkgconfig(target, sources)
    if not sys.platform.startswith("linux"):
        return
    elves = relocate.elf_files(target)
    if not elves:
        return
    patchelf = relocate.find_patchelf()
    before = sum(path.stat().st_size for path in elves)
    with reporter.task(layer, "relocate runtime", total=len(elves)) as task:
        if relocate.strip_debug(elves, reporter=reporter):
            after = sum(path.stat().st_size for path in elves)
            reporter.debug(
                f"{layer}: strip --strip-debug: ELF files {before / 2**20:.1f} MiB -> "
                f"{after / 2**20:.1f} MiB"
            )
        for path in elves:
            change = relocate.relocate_elf(
                path, copy_root=target, source_roots=sources, patchelf=patchelf, reporter=reporter
            )
            if change is not None:
                reporter.debug(
                    f"{layer}: rpath of {path.relative_to(target)}: {':'.join(change.old)} -> "
                    f"{':'.join(change.new) or '(removed)'}"
                )
            task.advance()


def _self_check(target: Path, python: Path, info: InterpreterInfo, reporter: Reporter) -> None:
    """Run the copy: it must compute its own folder as prefix and load its own libpython."""
    result = proc.run(
        [target / python, "-I", "-S", "-B", "-c", _SELF_CHECK],
        reporter=reporter,
        what=f"run the copied interpreter {target / python}",
        error=RuntimeProvisionError,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    prefix = lines[0] if lines else ""
    real_target = os.path.realpath(target)
    if os.path.realpath(prefix) != real_target:
        raise RuntimeProvisionError(
            f"the copy of {info.prefix} at {target} computes sys.prefix = {prefix!r} instead of "
            "its own folder: the installation is not relocatable"
        )
    foreign = [
        lib for lib in lines[1:] if not os.path.realpath(lib).startswith(real_target + os.sep)
    ]
    if foreign:
        raise RuntimeProvisionError(
            f"the copy of {info.prefix} at {target} still loads {', '.join(foreign)}: its rpath "
            "was not made relative (is patchelf working?)"
        )


def copy_installation(
    info: InterpreterInfo,
    destination: Path,
    *,
    layer: str,
    whole_prefix: bool,
    reporter: Reporter,
) -> Path:
    """Copy the installation ``info`` describes into ``destination``; return its interpreter.

    Args:
        info: the probed source interpreter (its ``prefix`` is copied).
        destination: the runtime layer folder; must not exist yet.
        layer: the runtime layer's build name, for progress and messages.
        whole_prefix: copy everything under the prefix (a dedicated installation, such as a
            pyenv version or a python-build-standalone tree) rather than only the Python
            pieces (a prefix shared with other software, such as ``/usr/local``).
        reporter: receives progress and the relocation details.

    Returns:
        The interpreter, relative to ``destination`` (``bin/python3.12``).

    Raises:
        RuntimeProvisionError: the copy does not run from its new place.
        ToolError: patchelf or strip failed.
    """
    source = info.prefix
    sources = tuple(dict.fromkeys((source, Path(os.path.realpath(source)))))
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Built beside the destination (same file system) so the final rename is atomic.
    work = Path(
        tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    )
    try:
        with reporter.task(layer, "copy runtime") as task:
            task.note(f"from {source}")
            _copy_tree(info, source, work, whole_prefix=whole_prefix, task=task)
        reporter.debug(f"{layer}: copied {tree_size(work) / 2**20:.1f} MiB from {source}")
        python = _ensure_links(work, info)
        _relocate(work, sources, layer=layer, reporter=reporter)
        _self_check(work, python, info, reporter)
        # mkdtemp made the folder private (0700); a runtime is as readable as its source.
        work.chmod(stat.S_IMODE(source.stat().st_mode) | stat.S_IRWXU)
        try:
            work.rename(destination)
        except OSError as exc:
            raise RuntimeProvisionError(
                f"cannot move the new runtime into place at {destination}: {exc.strerror} "
                "(was it made meanwhile by another build?)",
                hint=f"remove {destination} and build again",
            ) from exc
        reporter.debug(f"{layer}: runtime size {tree_size(destination) / 2**20:.1f} MiB")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return python


def tree_size(root: Path) -> int:
    """Bytes in the files under ``root`` (symlinks counted, not followed), for size reports."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        total += sum(Path(folder, name).lstat().st_size for name in files)
    return total
