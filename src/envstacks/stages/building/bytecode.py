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

A layer with ``precompile = false`` has its ``__pycache__`` folders removed instead, so what
the build folder holds matches what ships.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from envstacks._injected import postinstall
from envstacks.floor import proc
from envstacks.floor.errors import BuildError
from envstacks.floor.report import Reporter
from envstacks.published.layer_config import BYTECODE_RECORD

__all__ = ["drop_bytecode", "precompile_layer"]


def precompile_layer(env: Path, python: Path, *, layer: str, reporter: Reporter) -> None:
    """Make the ``__pycache__`` folders of ``env/lib`` the current unchecked-hash pyc files.

    ``python`` is the layer's runtime interpreter (the pyc files are for its version).

    Raises:
        BuildError: the interpreter could not compile (not a syntax error in one module:
            those are left without a pyc, as ``compileall`` does).
    """
    proc.run(
        # -s -S: no site-packages needed to compile; not -I, which would ignore PYTHONHASHSEED.
        [python, "-s", "-S", postinstall.__file__, "--compile", env, "--refresh"],
        env=proc.clean_environ({"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": None}),
        reporter=reporter,
        what=f"byte-compile layer '{layer}'",
        error=BuildError,
    )


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
