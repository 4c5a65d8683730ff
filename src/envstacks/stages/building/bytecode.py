"""Byte-compile a built layer once, with its runtime's interpreter, into reproducible pyc files.

A layer with ``precompile`` on (the default) leaves the build with ``__pycache__`` holding
exactly one pyc per module of its ``lib`` folder, which staging carries into the archive and
the export, so deploying compiles nothing and applications start warm. The compiling is done
by the layer's own ``postinstall.py`` code (``--compile LAYER --refresh``), run by the runtime's
interpreter, so a deploy that must compile what is missing does it the same way:

* **unchecked-hash pyc files** (PEP 552): Python loads them without comparing the source's
  mtime or hash, so unpacking with any mtimes (the archive's lock time, zip's two-second
  steps) or hard-linking into an export never makes Python rewrite them, and a read-only
  deployment starts as fast as a writable one. Timestamp pyc files would record the build
  folder's mtimes, which neither the archive (one fixed mtime) nor local-export (hard links
  keep them, but a deploy does not) reproduces; checked-hash ones read and hash every source on
  each import (measured in docs/deploy.md). A build refreshes every pyc whose recorded source
  hash differs from its source's, so updates never leave stale code behind;
* **reproducible bytes**: each pyc records its path relative to the layer folder as its file
  name (Python substitutes the real path on import). What marshal writes depends only on the
  code object: interned strings are always written as references, other objects by their
  reference count within it, and since Python 3.11 sets of constants are sorted (the compiler
  also runs with ``PYTHONHASHSEED=0``, for older runtimes). Two build folders, processes, hash
  seeds and worker counts give the same bytes; tests/stages/building/test_bytecode.py checks it with
  CPython 3.11, 3.12 and 3.13.

The compiling writes ``share/venv/metadata/envstacks_bytecode.json``: the interpreter's cache
tag and magic number. Staging ships it with the modules it regenerates, so a deploy's
postinstall compiles those and looks at nothing else.

With the pyc cache (:mod:`envstacks.stages.building.pyc_cache`, on by default), the build
walks the layer itself: a module whose pyc the cache holds gets those bytes, and only the
others are compiled by the runtime's interpreter (``--compile-listed``, on every usable core),
then cached. Either way the pyc files are the same bytes.

A layer with ``precompile = false`` has its ``__pycache__`` folders removed instead, so what
the build folder holds matches what ships.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from envstacks._injected import postinstall
from envstacks.floor import fs, proc
from envstacks.floor.content_cache import ContentCache
from envstacks.floor.errors import BuildError
from envstacks.floor.report import Reporter
from envstacks.published.layer_config import BYTECODE_RECORD
from envstacks.stages.building.pyc_cache import Interpreter, pyc_cache, pyc_key

__all__ = ["drop_bytecode", "precompile_layer"]

#: What the layer's interpreter prints about itself (one line each).
_IDENTITY = (
    "import importlib.util, sys; print(sys.implementation.cache_tag); "
    "print(importlib.util.MAGIC_NUMBER.hex()); print(sys.version.replace(chr(10), ' '))"
)


def precompile_layer(env: Path, python: Path, *, layer: str, reporter: Reporter) -> None:
    """Make the ``__pycache__`` folders of ``env/lib`` the current unchecked-hash pyc files.

    ``python`` is the layer's runtime interpreter (the pyc files are for its version). With
    the pyc cache on, only the modules it lacks are compiled.

    Raises:
        BuildError: the interpreter could not compile (not a syntax error in one module:
            those are left without a pyc, as ``compileall`` does), or a ``__pycache__``
            folder lies outside the layer.
    """
    cache = pyc_cache()
    if cache is None:
        _compile(python, ["--compile", env, "--refresh"], layer=layer, reporter=reporter)
        return
    interpreter = interpreter_identity(python)
    try:
        misses = _from_cache(env, cache, interpreter)
    except postinstall.PostInstallError as exc:
        raise BuildError(f"byte-compile layer '{layer}': {exc}") from None
    if misses:
        listed = "".join(f"{relative}\n" for relative, _key, _pyc in misses)
        answer = _compile(
            python, ["--compile-listed", env], layer=layer, reporter=reporter, input=listed
        )
        uncompilable = set(answer.splitlines())
        for relative, key, pyc in misses:
            if pyc.is_file():
                cache.store(key, pyc)
            elif relative in uncompilable:  # its source does not compile: remembered
                cache.store(key, None)
            # Otherwise the file system stopped it (a full disk...): the next build tries again.
        cache.prune()
    record = {"cache_tag": interpreter.cache_tag, "magic": interpreter.magic}
    fs.write_text(env / BYTECODE_RECORD, json.dumps(record, indent=2, sort_keys=True) + "\n")
    reporter.debug(f"{layer}: {len(misses)} modules compiled, the others from the pyc cache")


@functools.cache
def interpreter_identity(python: Path) -> Interpreter:
    """The cache tag, magic number and version of ``python`` (asked once per run)."""
    out = proc.run(
        [python, "-I", "-S", "-c", _IDENTITY], what=f"ask {python} for its version"
    ).stdout.splitlines()
    return Interpreter(cache_tag=out[0], magic=out[1], version=out[2])


def _compile(
    python: Path,
    arguments: list[str | Path],
    *,
    layer: str,
    reporter: Reporter,
    input: str | None = None,
) -> str:
    """Run ``postinstall.py`` with ``arguments`` on ``python``; its standard output."""
    return proc.run(
        # -s -S: no site-packages needed to compile; not -I, which would ignore PYTHONHASHSEED.
        [python, "-s", "-S", postinstall.__file__, *arguments],
        env=proc.clean_environ({"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": None}),
        reporter=reporter,
        what=f"byte-compile layer '{layer}'",
        error=BuildError,
        input=input,
    ).stdout


@dataclass(frozen=True, slots=True)
class _Module:
    relative: str
    source: Path
    pyc: Path


def _from_cache(
    env: Path, cache: ContentCache, interpreter: Interpreter
) -> list[tuple[str, str, Path]]:
    """Put the cached pyc of every module of ``env``'s lib in place; return the misses.

    Each miss is ``(path relative to the layer, cache key, where its pyc goes)``; its stale
    pyc, if any, is removed so that a module that no longer compiles keeps none. As a
    refreshing compile does, ``__pycache__`` files of no current module are removed.

    Raises:
        PostInstallError: a ``__pycache__`` folder lies outside the layer.
    """
    lib = postinstall.lib_folder(str(env))
    if lib is None:
        return []
    postinstall.inside_layer(str(env), lib, "the lib folder")
    modules = _modules(env, Path(lib), interpreter.cache_tag)
    postinstall.confine_compiled(str(env), [str(module.source) for module in modules])
    misses = []
    folders: set[Path] = set()
    for module in modules:
        try:
            source = module.source.read_bytes()
        except OSError:
            continue  # compiling could not read it either: no pyc, as without the cache
        key = pyc_key(interpreter, module.relative, source)
        if cache.failed(key):
            module.pyc.unlink(missing_ok=True)
            continue
        entry = cache.find(key)
        if entry is not None and _same_bytes(entry, module.pyc):
            continue
        module.pyc.unlink(missing_ok=True)
        if entry is not None:
            if module.pyc.parent not in folders:
                module.pyc.parent.mkdir(exist_ok=True)
                folders.add(module.pyc.parent)
            if cache.link_to(entry, module.pyc):
                continue
        misses.append((module.relative, key, module.pyc))  # not cached (or pruned meanwhile)
    return misses


def _same_bytes(entry: Path, pyc: Path) -> bool:
    """Whether ``pyc`` is ``entry`` (a hard link) or a copy of it (a cache on another disk)."""
    try:
        return entry.samefile(pyc) or entry.read_bytes() == pyc.read_bytes()
    except OSError:
        return False


def _modules(env: Path, lib: Path, cache_tag: str) -> list[_Module]:
    """The ``.py`` files under ``lib``, sorted folder by folder; stray pyc files removed."""
    modules = []
    for root, dirs, files in os.walk(lib):
        dirs[:] = sorted(name for name in dirs if name != "__pycache__")
        folder = Path(root)
        cache = folder / "__pycache__"
        wanted = set()
        for name in sorted(name for name in files if name.endswith(".py")):
            pyc = f"{name[:-3]}.{cache_tag}.pyc"
            wanted.add(pyc)
            source = folder / name
            relative = source.relative_to(env).as_posix()
            modules.append(_Module(relative, source, cache / pyc))
        if not cache.is_dir():
            continue
        for stray in sorted(entry for entry in cache.iterdir() if entry.name not in wanted):
            stray.unlink(missing_ok=True)
    return modules


def drop_bytecode(env: Path) -> int:
    """Remove every ``__pycache__`` folder under ``env/lib``; return how many there were."""
    (env / BYTECODE_RECORD).unlink(missing_ok=True)
    removed = 0
    for root, dirs, _files in os.walk(env / "lib"):
        if "__pycache__" in dirs:
            shutil.rmtree(Path(root, "__pycache__"), ignore_errors=True)
            removed += 1
        dirs[:] = [name for name in dirs if name != "__pycache__"]
    return removed
