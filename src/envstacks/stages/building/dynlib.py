"""Publish a layer's shared libraries: ``share/venv/dynlib/`` symlinks for the layers above.

Extension modules in upper layers often link libraries that wheels in lower layers ship
(CUDA, MKL, OpenBLAS...). The upper layers' ``bin/python`` wrapper puts every lower layer's
``share/venv/dynlib`` folder on the library search path, and this module fills that folder
with one relative symlink per shared library found in the layer's ``site-packages``:

* ``*.so``, versioned sonames ``*.so.N[.M...]`` (``libcublas.so.12``, which venvstacks
  misses) and ``*.dylib``;
* except Python extension modules, recognised by their ABI tag (``.cpython-312-...so``,
  ``.abi3.so``, ``.pypy310-...so``). An untagged ``foo.so`` counts as a library;
* except paths matching the layer's ``dynlib_exclude`` globs, matched against the end of the
  full path as venvstacks does (``"PIL/**/libpng16.*"``; ``"*"`` turns linking off).

Two files with the same name would need the same link: every such clash is reported at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from envstacks.floor.errors import BuildError
from envstacks.floor.fs import remove_path
from envstacks.published.layer_config import DYNLIB_DIR
from envstacks.stages.stackspec.model import LayerSpec

_SHARED_LIBRARY = re.compile(r"(\.so(\.\d+)*|\.dylib)\Z")
_EXTENSION_MODULE = re.compile(r"\.(cpython-[^.]+|abi3|pypy[^.]*)\.so\Z")


def translate_glob(pattern: str) -> re.Pattern[str]:
    """A regex matching paths that *end* with ``/`` + ``pattern`` (recursive ``**``, dotfiles).

    Equivalent to ``re.compile(glob.translate("/" + pattern, recursive=True,
    include_hidden=True))`` used with ``search``, which needs Python 3.13.
    """
    parts: list[str] = []
    segments = ("/" + pattern).split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]*/)*")
            continue
        parts.append(_translate_segment(segment))
        if not last:
            parts.append("/")
    return re.compile("(?s:" + "".join(parts) + r")\Z")


def _translate_segment(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        index += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            start = index + 1 if segment[index : index + 1] == "!" else index
            start += 1 if segment[start : start + 1] == "]" else 0
            end = segment.find("]", start)
            if end < 0:
                out.append(re.escape(char))
                continue
            body = segment[index:end]
            index = end + 1
            negate = body.startswith("!")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\")
            out.append(f"[{'^/' if negate else ''}{body}]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def is_shared_library(name: str) -> bool:
    """Whether a file name is a shared library (and not a Python extension module)."""
    return bool(_SHARED_LIBRARY.search(name)) and not _EXTENSION_MODULE.search(name)


def find_shared_libraries(site_dir: Path, exclude: Sequence[str] = ()) -> list[Path]:
    """Shared libraries under ``site_dir`` (sorted), minus those ``exclude`` globs match."""
    patterns = [translate_glob(pattern) for pattern in exclude]
    found: list[Path] = []
    for root, dirs, files in os.walk(site_dir):
        dirs[:] = sorted(name for name in dirs if name != "__pycache__")
        for name in sorted(files):
            if not is_shared_library(name):
                continue
            path = Path(root, name)
            if path.is_symlink() and not path.resolve().is_relative_to(site_dir.resolve()):
                continue
            if any(pattern.search(path.as_posix()) for pattern in patterns):
                continue
            found.append(path)
    return found


def link_shared_libraries(
    env: Path, site_dir: Path, layer: LayerSpec, *, toml_path: str | None = None
) -> list[Path]:
    """Empty ``share/venv/dynlib`` of ``env`` and link every shared library of ``site_dir``.

    Returns the links made.

    Raises:
        BuildError: two libraries share a file name; lists every clash and the fix.
    """
    libraries = find_shared_libraries(site_dir, layer.dynlib_exclude)
    by_name: dict[str, list[Path]] = {}
    for path in libraries:
        by_name.setdefault(path.name, []).append(path)
    clashes = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    if clashes:
        raise BuildError(_ambiguity_message(layer, site_dir, clashes, toml_path))
    dynlib_dir = env / DYNLIB_DIR
    dynlib_dir.mkdir(parents=True, exist_ok=True)
    for entry in list(dynlib_dir.iterdir()):
        remove_path(entry)
    links: list[Path] = []
    for name, (path,) in sorted(by_name.items()):
        link = dynlib_dir / name
        link.symlink_to(os.path.relpath(path, dynlib_dir))
        links.append(link)
    return links


def _ambiguity_message(
    layer: LayerSpec, site_dir: Path, clashes: dict[str, list[Path]], toml_path: str | None
) -> str:
    lines = [
        f"layer '{layer.build_name}': shared libraries with the same file name cannot all be "
        f"published in {DYNLIB_DIR} (one link per name):",
        "",
    ]
    for name, paths in sorted(clashes.items()):
        listed = ", ".join(repr(path.relative_to(site_dir).as_posix()) for path in paths)
        lines.append(f"  {name} => [{listed}]")
    example = _example_excludes(site_dir, clashes.values())
    lines += [
        "",
        f"Set dynlib_exclude in the layer's table ({toml_path or layer.toml_path}) to globs of "
        f"the copies lower layers must not see, e.g. dynlib_exclude = {example}.",
    ]
    return "\n".join(lines)


def _example_excludes(site_dir: Path, groups: Iterable[list[Path]]) -> list[str]:
    return [path.relative_to(site_dir).as_posix() for paths in groups for path in paths[1:]]
