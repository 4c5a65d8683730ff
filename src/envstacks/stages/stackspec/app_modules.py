"""What an application runs: its launch_module or run_module, and the support_modules beside it."""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from envstacks.stages.stackspec.fields import TableView, TomlPath, resolve_path, spec_error


@dataclass(frozen=True, slots=True, kw_only=True)
class AppModules:
    """The checked module keys of one application layer (paths absolute)."""

    launch_module: Path | None = None
    run_module: str | None = None
    #: Sorted by path string.
    support_modules: tuple[Path, ...] = ()


def module_stem(path: Path) -> str:
    """The module name a copied file or package folder gets: its stem."""
    return path.stem if path.suffix == ".py" else path.name


def parse_app_modules(app: TableView, root: Path) -> AppModules:
    """Check ``launch_module``/``run_module``/``support_modules`` of one application table.

    Relative paths resolve against ``root`` (the spec's folder).
    """
    label = app.owner
    launch, run = _entry_point(app, root)
    stem = module_stem(launch) if launch is not None else str(run).partition(".")[0]
    support = tuple(
        resolve_path(root, value) for value in app.strings("support_modules", owned=False)
    )
    _check_names(support, app.at("support_modules"), stem, label, is_launch=launch is not None)
    if launch is not None:
        _check_launch_exists(launch, app.at("launch_module"), label, root)
    missing = [path for path in support if not path.exists()]
    if missing:
        raise spec_error(
            app.at("support_modules"),
            f"{label}: support modules do not exist: {', '.join(str(p) for p in missing)}",
            f"create them or fix the paths (relative to {root})",
        )
    ordered = tuple(sorted(support, key=str))
    return AppModules(launch_module=launch, run_module=run, support_modules=ordered)


def _entry_point(app: TableView, root: Path) -> tuple[Path | None, str | None]:
    """``(launch_module, run_module)``: exactly one of them is set."""
    key = app.one_of(
        "launch_module",
        "run_module",
        both=(
            f"{app.owner} sets both launch_module ({app.data.get('launch_module')!r}) and "
            f"run_module ({app.data.get('run_module')!r})",
            "keep launch_module to copy a file or package folder into the layer, or run_module "
            "to run a module of an installed distribution, not both",
        ),
        neither=(
            f"{app.owner} has neither launch_module nor run_module",
            f"add {app.keys['launch_module'].assignment()} (a file or package folder next to "
            f"the spec) or {app.keys['run_module'].assignment()} (a module of an installed "
            "distribution)",
        ),
    )
    if key == "launch_module":
        return resolve_path(root, app.string("launch_module", owned=False)), None
    run = app.string("run_module", owned=False)
    return None, _check_run_module(run, app.at("run_module"), app.owner)


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


def _check_names(
    support: Sequence[Path], where: TomlPath, stem: str, label: str, *, is_launch: bool
) -> None:
    """Every module copied into the layer has its own name."""
    names = [module_stem(path) for path in support]
    for i, name in enumerate(names):
        if name == stem:
            what = "launch module" if is_launch else "run_module's top-level package"
            raise spec_error(
                where.item(i),
                f"{what} {stem!r} conflicts with support module {str(support[i])!r} in {label}",
                "rename one of them: every module copied into the layer needs its own name",
            )
        if name in names[:i]:
            raise spec_error(
                where.item(i),
                f"conflicting support module names in {label}: {name!r} is also the name of "
                f"{where.item(names.index(name))}",
                "rename one of them: every module copied into the layer needs its own name",
            )


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
