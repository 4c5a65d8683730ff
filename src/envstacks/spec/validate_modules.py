"""Validate what an application runs: launch_module or run_module, and its support_modules."""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from pathlib import Path

from envstacks.spec.model import LayerKind
from envstacks.spec.validate_fields import (
    TomlPath,
    TomlTable,
    expect_str,
    expect_str_list,
    resolve_path,
    spec_error,
)
from envstacks.spec.validate_keys import layer_keys

_KEYS = layer_keys(LayerKind.APPLICATION)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppModules:
    """The validated module keys of one application layer (paths absolute)."""

    launch_module: Path | None = None
    run_module: str | None = None
    #: Sorted by path string.
    support_modules: tuple[Path, ...] = ()


def module_stem(path: Path) -> str:
    """The module name a copied file or package folder gets: its stem."""
    return path.stem if path.suffix == ".py" else path.name


def parse_app_modules(table: TomlTable, where: TomlPath, root: Path, label: str) -> AppModules:
    """Check ``launch_module``/``run_module``/``support_modules`` of one application table.

    ``label`` names the layer in messages (``"application 'empty'"``).
    """
    has_launch = "launch_module" in table
    has_run = "run_module" in table
    if has_launch and has_run:
        raise spec_error(
            where,
            f"{label} sets both launch_module ({table['launch_module']!r}) and run_module "
            f"({table['run_module']!r})",
            "keep launch_module to copy a file or package folder into the layer, or run_module "
            "to run a module of an installed distribution, not both",
        )
    if not has_launch and not has_run:
        raise spec_error(
            where,
            f"{label} has neither launch_module nor run_module",
            f"add {_KEYS['launch_module'].assignment()} (a file or package folder next to the "
            f"spec) or {_KEYS['run_module'].assignment()} (a module of an installed distribution)",
        )
    launch: Path | None = None
    run: str | None = None
    if has_launch:
        launch_where = where.key("launch_module")
        launch = resolve_path(
            root, expect_str(table["launch_module"], launch_where, fix=_KEYS["launch_module"].fix())
        )
        stem = module_stem(launch)
    else:
        run_where = where.key("run_module")
        run = _check_run_module(
            expect_str(table["run_module"], run_where, fix=_KEYS["run_module"].fix()),
            run_where,
            label,
        )
        stem = run.partition(".")[0]

    support_where = where.key("support_modules")
    raw_support = expect_str_list(
        table.get("support_modules", []), support_where, fix=_KEYS["support_modules"].fix()
    )
    support = [(resolve_path(root, value), i) for i, value in enumerate(raw_support)]
    _check_conflicts(support, support_where, stem, label, is_launch=launch is not None)
    if launch is not None:
        _check_launch_exists(launch, where.key("launch_module"), label, root)
    missing = [path for path, _ in support if not path.exists()]
    if missing:
        raise spec_error(
            support_where,
            f"support modules of {label} do not exist: {', '.join(str(p) for p in missing)}",
            f"create them or fix the paths (relative to {root})",
        )
    ordered = tuple(sorted((path for path, _ in support), key=str))
    return AppModules(launch_module=launch, run_module=run, support_modules=ordered)


def _check_run_module(value: str, where: TomlPath, label: str) -> str:
    parts = value.split(".")
    bad = [part for part in parts if not part.isidentifier() or keyword.iskeyword(part)]
    if bad:
        reason = f"{bad[0]!r} is not an identifier" if bad[0] else "it has an empty part"
        raise spec_error(
            where,
            f"run_module of {label} is not a dotted Python module name ({value!r}; {reason})",
            'give the importable module, such as "my_app" or "my_app.cli", not a path or a '
            "distribution name",
        )
    return value


def _check_conflicts(
    support: list[tuple[Path, int]], where: TomlPath, stem: str, label: str, *, is_launch: bool
) -> None:
    seen: dict[str, int] = {}
    for path, i in support:
        name = module_stem(path)
        if name == stem:
            what = "launch module" if is_launch else "run_module's top-level package"
            raise spec_error(
                where.item(i),
                f"{what} {stem!r} conflicts with support module {str(path)!r} in {label}",
                "rename one of them: every module copied into the layer needs its own name",
            )
        if name in seen:
            raise spec_error(
                where.item(i),
                f"conflicting support module names in {label}: {name!r} is also the name of "
                f"{where.item(seen[name])}",
                "rename one of them: every module copied into the layer needs its own name",
            )
        seen[name] = i


def _check_launch_exists(path: Path, where: TomlPath, label: str, root: Path) -> None:
    if not path.exists():
        raise spec_error(
            where,
            f"launch module of {label} does not exist ({str(path)!r})",
            f"create it or fix the path (relative to {root})",
        )
    if path.is_dir():
        if not (path / "__main__.py").is_file():
            raise spec_error(
                where,
                f"launch module of {label} is a package folder without __main__.py ({str(path)!r})",
                "add a __main__.py (python -m runs it) or point launch_module at a .py file",
            )
    elif path.suffix != ".py":
        raise spec_error(
            where,
            f"launch module of {label} is not a .py file ({str(path)!r})",
            "point launch_module at a .py file or a package folder with __main__.py",
        )
