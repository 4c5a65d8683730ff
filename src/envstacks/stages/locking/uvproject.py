"""Write the generated uv project a layer is locked with: ``<build-dir>/<layer>_resolve/``.

The project's ``pyproject.toml`` has the layer's requirements as dependencies,
``requires-python = "==X.Y.*"`` and a ``[tool.uv]`` table made of the stack's baseline uv
settings, the forced settings (``no-build``), the pins of the lower layers as
``constraint-dependencies`` and the layer's own ``index`` list and ``sources``.

uv reads *settings* (indexes, exclude-newer, find-links...) from configuration files and
merges a developer's ``~/.config/uv/uv.toml`` and the system's ``/etc/uv/uv.toml`` into them;
``--no-config`` would stop that but also drops the project's own ``[tool.uv]`` settings. So the
same settings are also written to ``uv-settings.toml`` beside the project and uv is run with
``--config-file`` on it: with an explicit configuration file uv reads no other, while the
project-level fields it only takes from ``pyproject.toml`` (``constraint-dependencies``,
``sources``...) are still read from there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envstacks.floor.fs import json_sha256, write_text
from envstacks.stages.locking.project_dist import requires_project
from envstacks.stages.locking.pylock import LockedLayer, LockedPackage
from envstacks.stages.locking.requirements import clean_requirements
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, StackSpec

#: ``[tool.uv]`` keys uv only accepts in a ``pyproject.toml`` (never in a ``uv.toml``).
PROJECT_ONLY_KEYS = frozenset(
    {
        "sources",
        "environments",
        "required-environments",
        "conflicts",
        "dev-dependencies",
        "default-groups",
        "dependency-groups",
        "managed",
        "package",
        "workspace",
        "build-backend",
    }
)
#: Name of the settings file passed with ``--config-file``.
SETTINGS_FILE = "uv-settings.toml"
#: uv settings whose relative paths are meant relative to the stack's folder.
_PATH_LIST_SETTINGS = ("find-links",)


@dataclass(frozen=True, slots=True, kw_only=True)
class UvProject:
    """The generated project of one layer."""

    directory: Path
    pyproject: Path
    settings: Path
    #: The ``constraint-dependencies`` written (pins of the lower layers).
    constraints: tuple[str, ...]
    #: The lower-layer packages behind ``constraints`` (for shared marking).
    pins: tuple[LockedPackage, ...]
    #: Which lower layer each pinned name comes from (first one), for error messages.
    pinned_by: Mapping[str, str]


def lower_pins(
    spec: StackSpec, layer: LayerSpec, locks: Mapping[str, LockedLayer]
) -> tuple[list[LockedPackage], dict[str, str]]:
    """The pins that lower layers impose on ``layer`` (venvstacks 0.8's shadowing rule).

    Lock files are read runtime first, then frameworks in ``sys.path`` order; shared entries
    are skipped. A name pinned without a marker by an earlier layer is not pinned again; until
    then, marker-conditional pins accumulate (one per distinct marker). The result is sorted
    by name, each name's conditional pins before its unconditional one.
    """
    deps = spec.dependencies(layer)
    # dependencies() ends with the runtime; venvstacks reads the runtime's lock first.
    order = [deps[-1], *deps[:-1]] if deps else []
    unconditional: dict[str, LockedPackage] = {}
    conditional: dict[str, list[LockedPackage]] = {}
    pinned_by: dict[str, str] = {}
    for dep in order:
        for pkg in locks[dep.build_name].packages:
            if pkg.shared or pkg.project or pkg.key in unconditional:
                continue
            pinned_by.setdefault(pkg.key, dep.build_name)
            bare = LockedPackage(name=pkg.name, version=pkg.version, marker=pkg.marker)
            if not pkg.marker:
                unconditional[pkg.key] = bare
            elif all(other.marker != pkg.marker for other in conditional.get(pkg.key, [])):
                conditional.setdefault(pkg.key, []).append(bare)
    pins: list[LockedPackage] = []
    for key in sorted(unconditional.keys() | conditional.keys()):
        pins.extend(conditional.get(key, []))
        if key in unconditional:
            pins.append(unconditional[key])
    return pins, pinned_by


def layer_indexes(spec: StackSpec, layer: LayerSpec) -> list[dict[str, Any]]:
    """The layer's ``[[tool.uv.index]]`` list (reference §1.7).

    Priority indexes first (made non-explicit), then the explicit indexes the layer's
    ``package_indexes`` name, then the common indexes (default or not explicit). Explicit
    indexes the layer does not use are left out.
    """
    indexes = spec.uv.indexes
    by_name = {str(ix["name"]): dict(ix) for ix in indexes if "name" in ix}
    priority = [{**by_name[name], "explicit": False} for name in layer.priority_indexes]
    referenced = sorted(set(layer.package_indexes.values()) - set(layer.priority_indexes))
    explicit = [by_name[name] for name in referenced if by_name[name].get("explicit")]
    common = [
        dict(ix)
        for ix in indexes
        if (ix.get("default") or not ix.get("explicit"))
        and ix.get("name") not in layer.priority_indexes
    ]
    return [*priority, *explicit, *common]


def layer_sources(spec: StackSpec, layer: LayerSpec) -> dict[str, dict[str, Any]]:
    """The layer's ``[tool.uv.sources]``: the baseline sources, then its ``package_indexes``."""
    names = {**dict(spec.uv.sources), **dict(layer.package_indexes)}
    return {dist: {"index": index} for dist, index in sorted(names.items())}


def _absolute_paths(spec: StackSpec, values: Sequence[Any]) -> list[Any]:
    resolved: list[Any] = []
    for value in values:
        text = str(value)
        if "://" in text or Path(text).is_absolute():
            resolved.append(value)
        else:
            resolved.append(os.fspath(spec.root / text))
    return resolved


def baseline_settings(spec: StackSpec) -> dict[str, Any]:
    """The stack's own uv settings as the generated projects get them (paths made absolute)."""
    settings = dict(spec.uv.settings)
    for key in _PATH_LIST_SETTINGS:
        if isinstance(settings.get(key), list):
            settings[key] = _absolute_paths(spec, settings[key])
    return settings


def uv_inputs_hash(spec: StackSpec, layer: LayerSpec) -> str:
    """A hash of the uv configuration the stack gives this layer (settings, indexes, sources).

    Recorded in the lock metadata so that changing an index, ``exclude-newer`` or another uv
    setting makes the lock stale. Command-line options (``--local-wheels``, ``--no-index``)
    are deliberately not part of it.
    """
    return json_sha256(
        {
            "settings": dict(spec.uv.settings),
            "index": layer_indexes(spec, layer),
            "sources": layer_sources(spec, layer),
        }
    )


def _project_name(layer: LayerSpec) -> str:
    return canonicalize_name(re.sub(r"[^a-zA-Z0-9._-]", "-", layer.build_name))


def _tool_uv(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    constraints: Sequence[str],
    index: bool,
    find_links: Sequence[Path],
    project_wheel: Path | None,
) -> dict[str, Any]:
    """The ``[tool.uv]`` table of the layer's project (settings, indexes and sources)."""
    settings = baseline_settings(spec)
    # Forced: a layer only ever installs wheels, so a resolution must not need a build.
    settings["no-build"] = True
    # The project is generated from pyproject.toml alone (venvstacks does the same).
    settings["cache-keys"] = [{"file": "pyproject.toml"}]
    if not index:
        settings["no-index"] = True
    if find_links:
        extra_links = [os.fspath(Path(folder).resolve()) for folder in find_links]
        settings["find-links"] = [*settings.get("find-links", []), *extra_links]
    settings["constraint-dependencies"] = list(constraints)
    indexes = layer_indexes(spec, layer)
    if indexes:
        settings["index"] = indexes
    sources: dict[str, Any] = layer_sources(spec, layer)
    if project_wheel is not None and spec.project_name and requires_project(spec, layer):
        # Lock the project against exactly this wheel (never an index's namesake).
        sources[canonicalize_name(spec.project_name)] = {
            "path": os.fspath(Path(project_wheel).resolve())
        }
    if sources:
        settings["sources"] = sources
    return settings


def write_project(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    locks: Mapping[str, LockedLayer],
    python_version: str,
    index: bool,
    find_links: Sequence[Path],
    project_wheel: Path | None,
) -> UvProject:
    """Write the layer's uv project (``pyproject.toml`` and the settings file) and describe it."""
    pins, pinned_by = lower_pins(spec, layer, locks)
    constraints = tuple(pin.requirement for pin in pins)
    tool_uv = _tool_uv(
        spec,
        layer,
        constraints=constraints,
        index=index,
        find_links=find_links,
        project_wheel=project_wheel,
    )
    major_minor = ".".join(python_version.split(".")[:2])
    document = {
        "project": {
            "name": _project_name(layer),
            "version": "0",
            "dependencies": clean_requirements(layer.requirements),
            "requires-python": f"=={major_minor}.*",
        },
        "tool": {"uv": tool_uv},
    }
    import tomlkit  # noqa: PLC0415 - only writing a uv project needs it (10 ms to import)

    directory = stack_paths.resolve_project_dir(spec, layer)
    pyproject = directory / "pyproject.toml"
    write_text(pyproject, tomlkit.dumps(document))
    settings = directory / SETTINGS_FILE
    write_text(
        settings, tomlkit.dumps({k: v for k, v in tool_uv.items() if k not in PROJECT_ONLY_KEYS})
    )
    return UvProject(
        directory=directory,
        pyproject=pyproject,
        settings=settings,
        constraints=constraints,
        pins=tuple(pins),
        pinned_by=pinned_by,
    )
