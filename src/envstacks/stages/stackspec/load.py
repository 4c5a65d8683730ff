"""Find and read a stack spec (pyproject.toml or venvstacks.toml) and turn it into a StackSpec.

This is the entry point of the ``spec`` package: it reads TOML (naming the file and line of
syntax errors), picks the format, checks the top-level keys and hands the tables to
``stack.py`` (settings, uv) and ``layers.py`` (each layer), then resolves the layers
together. Every error is a SpecError that starts with ``file:line`` (the line of the TOML path
it names, when the path is written in the file) and carries the fix as its hint.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from envstacks.floor.errors import SpecError
from envstacks.floor.layer_kinds import LayerKind
from envstacks.floor.suggest import closest
from envstacks.stages.stackspec.fields import (
    TomlPath,
    TomlTable,
    check_keys,
    expect_str,
    expect_table,
    expect_table_array,
    quoted_list,
    spec_error,
)
from envstacks.stages.stackspec.keys import (
    PYPROJECT_TABLE_KEYS,
    SETTINGS_KEYS,
    VENVSTACKS_TOP_LEVEL_KEYS,
)
from envstacks.stages.stackspec.layers import RawLayer, parse_layer
from envstacks.stages.stackspec.model import Settings, StackSpec, UvConfig
from envstacks.stages.stackspec.stack import parse_settings, parse_uv_config, resolve_layers
from envstacks.stages.stackspec.toml_lines import line_of

PYPROJECT = "pyproject.toml"
VENVSTACKS = "venvstacks.toml"
#: Baseline uv settings beside a venvstacks.toml that has no inline [tool.uv].
VENVSTACKS_UV = "venvstacks.uv.toml"
#: The table of envstacks' settings in a venvstacks.toml (which venvstacks ignores).
ENVSTACKS_TABLE = "tool.envstacks"

_TOML_POSITION = re.compile(r"\s*\((at line \d+, column \d+|at end of document)\)$")
_LINE_COLUMN = re.compile(r"line (\d+), column (\d+)")


class _LocatedSpecError(SpecError):
    """A SpecError whose message already names its file."""


def find_spec_file(path: Path | None = None) -> Path:
    """The spec file for ``path``: a pyproject.toml, a venvstacks.toml or a folder holding one.

    In a folder, ``pyproject.toml`` wins if it has a ``[tool.venvstacks]`` table, else
    ``venvstacks.toml``. A file is taken as given: any file not called ``pyproject.toml`` is
    read as a venvstacks.toml. A folder given explicitly is searched alone; without ``path``
    the search starts in the current folder and goes up to the root of the file system, as
    uv, Hatch and PDM find a project: the nearest folder holding a spec wins, and a
    pyproject.toml without ``[tool.venvstacks]`` is passed over. Returns an absolute path.

    Raises:
        SpecError: nothing usable was found; the message names the folders searched.
    """
    if path is None:
        start = Path.cwd().resolve()
        folders = [start, *start.parents]
    else:
        target = Path(path).expanduser().resolve()
        if target.is_file():
            return target
        if not target.is_dir():
            raise SpecError(
                f"{target}: no such file or folder",
                hint="pass a pyproject.toml, a venvstacks.toml or the folder holding one",
            )
        folders = [target]
    without_table: list[str] = []
    for folder in folders:
        pyproject = folder / PYPROJECT
        if pyproject.is_file():
            data = read_toml(pyproject)
            if _has_venvstacks_table(data):
                return pyproject
            without_table.append(f"{pyproject} has no [tool.venvstacks] table{_misspelt(data)}")
        venvstacks = folder / VENVSTACKS
        if venvstacks.is_file():
            return venvstacks
    raise SpecError(_not_found(folders, without_table), hint=_NOT_FOUND_HINT)


_NOT_FOUND_HINT = (
    f"add a [tool.venvstacks] table with [[tool.venvstacks.runtimes]] layers to the project's "
    f"{PYPROJECT}, or pass the path of a {VENVSTACKS} (see docs/configuration.md)"
)


def _misspelt(data: Mapping[str, Any]) -> str:
    """`` (it has [tool.venvstack]: misspelt?)`` when a pyproject's tool table looks misspelt."""
    tool = data.get("tool")
    if not isinstance(tool, Mapping):
        return ""
    tables = ", ".join(
        f"[{TomlPath('tool').key(key)}]" for key, _ in _misspelt_tables(tool, PYPROJECT)
    )
    return f" (it has {tables}: misspelt?)" if tables else ""


def _not_found(folders: list[Path], without_table: list[str]) -> str:
    """Where the search looked, and what it found there that was not a spec."""
    looked = (
        f"in {folders[0]}"
        if len(folders) == 1
        else f"in {folders[0]} or any folder above it (up to {folders[-1]})"
    )
    if not without_table:
        found = f"no {PYPROJECT}, no {VENVSTACKS}"
    else:
        found = "; ".join(without_table)
        found += f"; no {VENVSTACKS}"
    return (
        f"{folders[0]}: no stack specification found {looked} (looked for a {PYPROJECT} "
        f"with a [tool.venvstacks] table and for a {VENVSTACKS}; {found})"
    )


def load(path: Path | None = None) -> StackSpec:
    """Find (as :func:`find_spec_file` does), read and validate a stack spec.

    Raises:
        SpecError: the spec cannot be found, read or validated; the message names the TOML
            path, the bad value and the fix.
    """
    spec_path = find_spec_file(path)
    data = read_toml(spec_path)
    if spec_path.name == PYPROJECT:
        return _load_pyproject(data, spec_path)
    return _load_venvstacks(data, spec_path)


def load_pyproject_data(data: Mapping[str, Any], pyproject_path: Path) -> StackSpec:
    """Validate an already parsed ``pyproject.toml`` (for front-ends that hold one).

    ``data`` may be a plain mapping or a tomlkit document; relative paths in it resolve
    against ``pyproject_path``'s folder.
    """
    path = Path(pyproject_path).expanduser().resolve()
    with _in_file(path):
        plain = _plain(data)
    return _load_pyproject(plain, path)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; syntax errors become SpecErrors naming the file, line and column."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise _LocatedSpecError(
            f"{path}: cannot be read ({error.strerror})",
            hint="check that the file exists and that you may read it",
        ) from None
    except UnicodeDecodeError as error:
        raise _LocatedSpecError(
            f"{path}: is not UTF-8 text (byte {error.start})", hint="save it as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise _LocatedSpecError(_too_deep(path), hint=_TOO_DEEP_HINT) from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _TOML_POSITION.search(message)
        reason = message[: match.start()] if match else message
        position = _LINE_COLUMN.search(match.group(1)) if match else None
        where = f"{path}:{position.group(1)}:{position.group(2)}" if position else str(path)
        raise _LocatedSpecError(
            f"{where}: invalid TOML: {reason}", hint="fix the TOML syntax at that line and column"
        ) from None


@contextmanager
def _in_file(path: Path) -> Iterator[None]:
    """Add the spec file to the messages of SpecErrors raised inside (once)."""
    try:
        yield
    except _LocatedSpecError:
        raise
    except SpecError as error:
        where = f"{path}:{line}" if (line := _line(path, error.toml_path)) else str(path)
        raise _LocatedSpecError(f"{where}: {error.message}", hint=error.hint) from None
    except RecursionError:
        raise _LocatedSpecError(_too_deep(path), hint=_TOO_DEEP_HINT) from None


def _line(path: Path, toml_path: str | None) -> int | None:
    """The line of ``path`` where ``toml_path`` is written (``None``: unknown)."""
    if not toml_path:
        return None
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return line_of(text, toml_path)


_TOO_DEEP_HINT = "no stack spec nests more than a few levels: flatten or remove them"


def _too_deep(path: Path) -> str:
    return (
        f"{path}: arrays or tables are nested too deeply to read (beyond Python's recursion limit)"
    )


def _has_venvstacks_table(data: Mapping[str, Any]) -> bool:
    tool = data.get("tool")
    return isinstance(tool, Mapping) and "venvstacks" in tool


def _load_pyproject(data: Mapping[str, Any], spec_path: Path) -> StackSpec:
    with _in_file(spec_path):
        if not _has_venvstacks_table(data):
            raise _LocatedSpecError(
                f"{spec_path}: no [tool.venvstacks] table",
                hint="add one with the stack's layers ([[tool.venvstacks.runtimes]], "
                "[[tool.venvstacks.frameworks]], [[tool.venvstacks.applications]]), see "
                "docs/configuration.md",
            )
        where = TomlPath("tool.venvstacks")
        table = expect_table(
            data["tool"]["venvstacks"], where, fix="write [tool.venvstacks] as a table"
        )
        check_keys(
            table,
            (*SETTINGS_KEYS, *PYPROJECT_TABLE_KEYS),
            where,
            what="[tool.venvstacks] key",
            fix=f"settings are {quoted_list(SETTINGS_KEYS)}; tables are "
            f"{quoted_list(PYPROJECT_TABLE_KEYS)}",
        )
        settings = parse_settings(table, where, spec_path.parent, "pyproject")
        origin = f"{spec_path} [{where.key('uv')}]"
        uv, warnings = (
            parse_uv_config(table["uv"], where.key("uv"), origin=origin)
            if "uv" in table
            else (UvConfig(origin=origin), ())
        )
        stack = StackSpec(
            spec_path=spec_path,
            source_format="pyproject",
            project_name=_project_name(data),
            project_dependencies=_project_dependencies(data),
            settings=settings,
            uv=uv,
            warnings=(*warnings, *_misplaced_envstacks_table(data)),
        )
        return _with_layers(stack, table, where)


def _misplaced_envstacks_table(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Warnings for ``[tool.envstacks]`` (a venvstacks.toml's table) and misspelt tool tables."""
    tool = data.get("tool")
    if not isinstance(tool, Mapping):
        return ()
    warnings = [_misspelt_warning(key, table) for key, table in _misspelt_tables(tool, PYPROJECT)]
    if "envstacks" in tool:
        warnings.insert(
            0,
            f"tool.envstacks: a {PYPROJECT} does not read this table (it holds envstacks' "
            f"settings in a {VENVSTACKS}); put them in [tool.venvstacks] instead",
        )
    return tuple(warnings)


#: The ``[tool.*]`` tables each format reads, and those it knows but does not read.
_READ_TABLES = {PYPROJECT: ("venvstacks",), VENVSTACKS: ("envstacks", "uv")}
_KNOWN_TABLES = ("venvstacks", "envstacks", "uv")


def _misspelt_tables(tool: Mapping[str, Any], file_format: str) -> list[tuple[str, str]]:
    """``(key, meant)`` for each ``[tool.<key>]`` that looks like a misspelt table envstacks reads.

    ``[tool.venvstack.uv]`` or ``[tool.venvstacks-foo]`` would otherwise be passed over in
    silence, as any other tool's table is; ``file_format`` is :data:`PYPROJECT` or
    :data:`VENVSTACKS`.
    """
    read = _READ_TABLES[file_format]
    found = []
    for key in tool:
        if key in _KNOWN_TABLES:
            continue
        meant = closest(key, read)
        if meant is not None:
            found.append((key, meant))
    return found


def _misspelt_warning(key: str, meant: str) -> str:
    where = TomlPath("tool").key(key)
    return (
        f"{where}: envstacks does not read this table (did you mean [tool.{meant}]?); rename "
        "it, or ignore this if the table belongs to another tool"
    )


def _load_venvstacks(data: Mapping[str, Any], spec_path: Path) -> StackSpec:
    root = TomlPath()
    with _in_file(spec_path):
        check_keys(
            data,
            VENVSTACKS_TOP_LEVEL_KEYS,
            root,
            what="top-level key",
            fix=f"a venvstacks.toml holds {quoted_list(VENVSTACKS_TOP_LEVEL_KEYS)} "
            "(other tools' settings go under [tool.<name>])",
        )
        tool = expect_table(data.get("tool", {}), root.key("tool"), fix="write [tool] as a table")
        settings = _envstacks_settings(tool, spec_path)
    ignored = (
        f"tool.venvstacks: a {VENVSTACKS} does not read this table (venvstacks ignores it, and "
        f"so does envstacks); put envstacks' settings in [{ENVSTACKS_TABLE}] instead"
    )
    uv, uv_warnings = _venvstacks_uv(tool, spec_path)
    stack = StackSpec(
        spec_path=spec_path,
        source_format="venvstacks",
        settings=settings,
        uv=uv,
        warnings=(
            *([ignored] if "venvstacks" in tool else []),
            *(_misspelt_warning(key, meant) for key, meant in _misspelt_tables(tool, VENVSTACKS)),
            *uv_warnings,
        ),
    )
    with _in_file(spec_path):
        return _with_layers(stack, data, root)


def _envstacks_settings(tool: TomlTable, spec_path: Path) -> Settings:
    """A venvstacks.toml's settings: venvstacks' defaults, changed by ``[tool.envstacks]``.

    venvstacks ignores every ``[tool.*]`` table but ``[tool.uv]``, so this one opts a
    venvstacks.toml into envstacks' settings without venvstacks refusing the file.
    """
    where = TomlPath(ENVSTACKS_TABLE)
    table = expect_table(
        tool.get("envstacks", {}), where, fix=f"write [{ENVSTACKS_TABLE}] as a table"
    )
    check_keys(
        table,
        SETTINGS_KEYS,
        where,
        what=f"[{ENVSTACKS_TABLE}] key",
        fix=f"its settings are {quoted_list(SETTINGS_KEYS)} (in a {VENVSTACKS}, layers stay at "
        "the top level and uv settings in [tool.uv])",
    )
    return parse_settings(table, where, spec_path.parent, "venvstacks")


def _venvstacks_uv(tool: TomlTable, spec_path: Path) -> tuple[UvConfig, tuple[str, ...]]:
    """``[tool.uv]`` if present, else ``venvstacks.uv.toml`` beside the spec (never both)."""
    if "uv" in tool:
        where = TomlPath("tool.uv")
        with _in_file(spec_path):
            return parse_uv_config(tool["uv"], where, origin=f"{spec_path} [tool.uv]")
    uv_file = spec_path.parent / VENVSTACKS_UV
    if not uv_file.is_file():
        return UvConfig(origin=str(spec_path)), ()
    with _in_file(uv_file):
        return parse_uv_config(read_toml(uv_file), TomlPath(), origin=str(uv_file))


def _with_layers(stack: StackSpec, table: TomlTable, where: TomlPath) -> StackSpec:
    """``stack`` with the layers of ``table`` (the table at ``where`` holding the arrays)."""
    raw = {kind: _raw_layers(stack, table, where.key(kind.table), kind) for kind in LayerKind}
    if not any(raw.values()):
        runtimes = where.key(LayerKind.RUNTIME.table)
        raise spec_error(
            where,
            "the stack defines no layers",
            f"add at least one [[{runtimes.text}]] table (name, python_implementation, "
            "requirements)",
        )
    layers = resolve_layers(
        raw[LayerKind.RUNTIME], raw[LayerKind.FRAMEWORK], raw[LayerKind.APPLICATION]
    )
    layer_warnings = [w for kind in LayerKind for layer in raw[kind] for w in layer.warnings]
    return dataclasses.replace(
        stack,
        runtimes=layers.runtimes,
        frameworks=layers.frameworks,
        applications=layers.applications,
        warnings=(*stack.warnings, *layer_warnings),
    )


def _raw_layers(
    stack: StackSpec, table: TomlTable, where: TomlPath, kind: LayerKind
) -> tuple[RawLayer, ...]:
    """The layers of ``kind``, each checked on its own (``where`` is their array)."""
    fix = f"write each layer as a [[{where.text}]] table"
    tables = expect_table_array(table.get(kind.table, []), where, fix=fix)
    return tuple(
        parse_layer(
            item,
            kind=kind,
            where=where.item(i),
            root=stack.root,
            index_names=stack.uv.index_names,
            precompile=stack.settings.precompile,
        )
        for i, item in enumerate(tables)
    )


def _project_name(data: Mapping[str, Any]) -> str | None:
    project = data.get("project")
    if not isinstance(project, Mapping) or "name" not in project:
        return None
    return expect_str(
        project["name"], TomlPath("project.name"), fix='write name = "my-project" in [project]'
    )


def _project_dependencies(data: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Static ``[project].dependencies`` (``None`` if dynamic, absent or not a string list)."""
    project = data.get("project")
    if not isinstance(project, Mapping):
        return None
    dynamic = project.get("dynamic", ())
    if isinstance(dynamic, list | tuple) and "dependencies" in dynamic:
        return None
    deps = project.get("dependencies", [])
    if not isinstance(deps, list | tuple) or not all(isinstance(d, str) for d in deps):
        return None
    return tuple(str(d) for d in deps)


def _plain(value: Any) -> Any:
    """Plain dicts, lists and scalars from a mapping that may hold tomlkit items."""
    unwrap = getattr(value, "unwrap", None)
    if callable(unwrap):
        return unwrap()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
