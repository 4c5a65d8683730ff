"""Turn uv's exported ``pylock.toml`` into a layer lock (reference §3.5.3).

For every package, in order:

1. markers are evaluated on the layer's target platforms: an entry no target can use is
   dropped, a marker every target satisfies is removed;
2. the project's own distribution (when the layer requires it) becomes an unpinned entry the
   build step installs from the freshly built wheel (see
   :mod:`envstacks.stages.locking.project_dist`);
3. packages a lower layer provides get the unmatchable ``from_lower_layer`` clause and lose
   their ``index`` and ``wheels``, so installing the lock skips them;
4. ``archive``, ``directory``, ``sdist`` and ``vcs`` are deleted: layers only install wheels;
5. local wheels (absolute paths, ``file://`` URLs) become paths relative to the lock's folder,
   and a ``file://`` index (a find-links folder on this machine) is dropped;
6. every remaining package must have a wheel for every target platform it applies to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envstacks.floor.errors import LockError
from envstacks.stages.locking import marker_eval as markers
from envstacks.stages.locking import wheels
from envstacks.stages.locking.project_dist import project_entry
from envstacks.stages.locking.pylock import (
    SHARED_CLAUSE,
    SOURCE_KEYS,
    LockedPackage,
    add_clause,
    local_wheel_path,
    normalize_marker,
    wheel_file_name,
)
from envstacks.stages.stackspec.model import LayerSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What post-processing needs to know about the layer being locked."""

    layer: LayerSpec
    #: ``{platform: marker environment}`` for the layer's target platforms.
    environments: markers.Environments
    #: Pins of the lower layers (what they provide).
    pins: Sequence[LockedPackage]
    #: The folder the lock file is written to (local wheel paths are made relative to it).
    lock_dir: Path
    #: The folder uv exported into (relative paths in uv's output start there).
    export_dir: Path
    #: The project's normalised name when the layer requires the project, else ``None``.
    project: str | None = None
    #: The ``Requires-Dist`` of the project's wheel.
    project_requires: tuple[str, ...] = ()


def _is_shared(pkg: LockedPackage, platforms: Sequence[str], ctx: Context) -> bool:
    """Whether a lower layer provides this package on every platform where it applies."""
    provided = [pin for pin in ctx.pins if pin.key == pkg.key]
    if not provided:
        return False
    if any(pin.version == pkg.version and pin.marker in (pkg.marker, "") for pin in provided):
        return True
    conditions = [pin.marker for pin in provided if pin.marker]
    if len(conditions) < len(provided):
        # A lower layer installs it unconditionally.
        return True
    return markers.covered_by(platforms, conditions, ctx.environments)


def _relative_wheel(entry: dict[str, Any], ctx: Context) -> None:
    local = local_wheel_path(entry)
    if local is None:
        return
    if not local.is_absolute():
        local = ctx.export_dir / local
    try:
        relative = os.path.relpath(local, ctx.lock_dir)
    except ValueError as exc:
        raise LockError(
            f"{ctx.layer.build_name}: cannot refer to the local wheel {local} relative to the "
            f"lock folder {ctx.lock_dir} (different drives?)",
            hint="keep local wheels on the same drive as the stack's requirements folder",
        ) from exc
    entry.pop("url", None)
    entry["path"] = Path(relative).as_posix()


def postprocess(data: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Post-process an exported lock (a plain dict) in place and return it.

    Raises:
        LockError: some packages lack wheels for some target platforms (the message lists
            them and the ``platforms`` value that would work).
    """
    layer = ctx.layer
    all_platforms = tuple(ctx.environments)
    kept: list[dict[str, Any]] = []
    missing: dict[str, tuple[str, ...]] = {}
    for entry in data.get("packages", []):
        raw_marker = str(entry.get("marker", "") or "")
        marker = normalize_marker(raw_marker) if raw_marker else ""
        platforms = markers.matching_platforms(marker, ctx.environments)
        if not platforms:
            continue
        if len(platforms) == len(all_platforms):
            marker = ""
        name = str(entry["name"])
        if ctx.project is not None and canonicalize_name(name) == ctx.project:
            kept.append(project_entry(name, marker, ctx.project_requires))
            continue
        if marker:
            entry["marker"] = marker
        else:
            entry.pop("marker", None)
        version = entry.get("version")
        pkg = LockedPackage(
            name=name, version=None if version is None else str(version), marker=marker
        )
        for key in SOURCE_KEYS:
            entry.pop(key, None)
        if _is_shared(pkg, platforms, ctx):
            entry["marker"] = add_clause(marker, SHARED_CLAUSE)
            entry.pop("index", None)
            entry.pop("wheels", None)
            kept.append(entry)
            continue
        if str(entry.get("index", "")).startswith("file:"):
            entry.pop("index")
        for wheel in entry.get("wheels", []):
            _relative_wheel(wheel, ctx)
        lacking = wheels.missing_platforms(
            platforms,
            [wheel_file_name(wheel) for wheel in entry.get("wheels", [])],
            linux_glibc=layer.linux_glibc,
            macosx_version=layer.macosx_version,
        )
        if lacking:
            missing[name] = lacking
        kept.append(entry)
    if missing:
        raise wheels.availability_error(layer.build_name, layer.toml_path, layer.platforms, missing)
    data["packages"] = kept
    return data


def render(data: Mapping[str, Any], layer: str) -> str:
    """The lock file text: a three-line header, then the TOML (LF line endings)."""
    header = [
        f"# Locked requirements for {layer} (DO NOT EDIT)",
        "#     Auto-generated by envstacks with the following command:",
        "#         envstacks lock",
    ]
    import tomlkit  # noqa: PLC0415 - only writing a lock needs it (10-20 ms to import)

    return "\n".join([*header, tomlkit.dumps(dict(data))])
