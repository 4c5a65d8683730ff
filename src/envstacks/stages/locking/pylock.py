"""Read PEP 751 layer locks into values, and the marker conventions they use.

A layer lock is a ``pylock.toml`` exported by uv and post-processed (see
:mod:`envstacks.stages.locking.postprocess`). Two kinds of entry are not installed from the lock:

* packages provided by a lower layer ("shared"): their marker gets the unmatchable clause
  ``sys_platform == 'from_lower_layer'`` (venvstacks' convention) and they keep no wheels;
* the project's own distribution, when a layer requires it: its marker gets the unmatchable
  clause ``sys_platform == 'envstacks_project'``, it has no version, wheel or hash, and
  ``[packages.tool.envstacks]`` says ``project = true`` and lists its ``requires-dist``. The
  build step installs the freshly built project wheel itself (see :class:`LockedPackage`).

``uv pip install -r pylock.<layer>.toml`` skips both kinds through their markers.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

from envstacks.floor.errors import LockError
from envstacks.stages.stackspec import stack_paths

if TYPE_CHECKING:
    from envstacks.stages.stackspec.model import LayerSpec, StackSpec

#: The value that marks a package as provided by a lower layer.
SHARED_VALUE = "from_lower_layer"
SHARED_CLAUSE = f"sys_platform == '{SHARED_VALUE}'"
#: The value that marks the project's own distribution (installed from its built wheel).
PROJECT_VALUE = "envstacks_project"
PROJECT_CLAUSE = f"sys_platform == '{PROJECT_VALUE}'"
#: Keys of a package entry that let an installer build from source (never allowed in a layer).
SOURCE_KEYS = ("archive", "directory", "sdist", "vcs")
#: Placeholder venvstacks hashes when a package names no index.
NO_INDEX = "unspecified index"


def normalize_marker(text: str) -> str:
    """A marker in packaging's canonical spelling, with single quotes (as venvstacks writes it)."""
    return str(Marker(text)).replace('"', "'")


def add_clause(marker: str, clause: str) -> str:
    """``marker`` made unmatchable with ``clause`` (``(<marker>) and <clause>``)."""
    return f"({marker}) and {clause}" if marker else clause


def split_clause(marker: str, clause: str) -> tuple[str, bool]:
    """``marker`` without ``clause``, and whether the clause was there."""
    if marker == clause:
        return "", True
    suffix = f" and {clause}"
    if not marker.endswith(suffix):
        return marker, False
    inner = marker.removesuffix(suffix)
    candidates = [inner[1:-1], inner] if inner.startswith("(") and inner.endswith(")") else [inner]
    for candidate in candidates:
        # Only accept a split that puts the same marker back together (parentheses that
        # wrap the whole inner marker, not just its first group).
        try:
            if normalize_marker(add_clause(candidate, clause)) == marker:
                return normalize_marker(candidate), True
        except InvalidMarker:
            continue
    return inner, True


def wheel_file_name(entry: Mapping[str, Any]) -> str:
    """The file name of a wheel entry (from ``name``, ``path`` or ``url``), URL-unquoted."""
    name = entry.get("name")
    if not name and entry.get("path"):
        name = Path(str(entry["path"]).replace("\\", "/")).name
    if not name and entry.get("url"):
        name = Path(urlparse(str(entry["url"])).path).name
    if not name:
        raise ValueError("a wheel entry has no name, path or url")
    return unquote(str(name))


def local_wheel_path(entry: Mapping[str, Any]) -> Path | None:
    """The local file a wheel entry points at (``path``, or a ``file://`` URL), if any."""
    if entry.get("path"):
        return Path(str(entry["path"]))
    url = entry.get("url")
    if url and str(url).startswith("file:"):
        parsed = urlparse(str(url))
        location = parsed.path if not parsed.netloc else f"//{parsed.netloc}{parsed.path}"
        # urllib.request costs 20 ms to import (http, ssl, email); only this needs it.
        from urllib.request import url2pathname  # noqa: PLC0415

        return Path(url2pathname(location))
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedWheel:
    """One wheel of a locked package."""

    #: The wheel's file name (``numpy-2.3.2-cp311-cp311-win_amd64.whl``).
    name: str
    #: ``{algorithm: hex digest}``.
    hashes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    url: str | None = None
    #: A local wheel, relative to the lock file's folder (forward slashes).
    path: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedPackage:
    """One entry of a layer lock.

    ``shared`` entries come from a lower layer and are never installed into this one.
    ``project`` marks the project's own distribution: the build step must install the
    project's freshly built wheel with ``--no-deps`` (its dependencies are locked as ordinary
    entries), only where ``marker`` holds, and should first check that the wheel's
    ``Requires-Dist`` still equals ``requires_dist`` (otherwise the lock is out of date).
    """

    name: str
    #: ``None`` only for the project's own entry (built at install time, so not pinned).
    version: str | None
    #: The environment marker without the shared or project clause; ``""`` = unconditional.
    marker: str = ""
    shared: bool = False
    project: bool = False
    #: The index URL the package came from, if the lock names one.
    index: str | None = None
    wheels: tuple[LockedWheel, ...] = ()
    #: The project's own dependencies when it was locked (``project`` entries only).
    requires_dist: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The normalised distribution name."""
        return canonicalize_name(self.name)

    @property
    def requirement(self) -> str:
        """``name==version[ ; marker]`` (the project's entry has no version pin)."""
        pin = self.name if self.version is None else f"{self.name}=={self.version}"
        return f"{pin} ; {self.marker}" if self.marker else pin


@dataclass(frozen=True, slots=True, kw_only=True)
class LockedLayer:
    """A parsed layer lock: what the build step installs and what summaries list."""

    #: Build name of the layer.
    layer: str
    path: Path
    requires_python: str | None = None
    packages: tuple[LockedPackage, ...] = ()

    @property
    def installed(self) -> tuple[LockedPackage, ...]:
        """Packages this layer installs from the lock (neither shared nor the project)."""
        return tuple(pkg for pkg in self.packages if not pkg.shared and not pkg.project)

    @property
    def shared(self) -> tuple[LockedPackage, ...]:
        """Packages provided by lower layers."""
        return tuple(pkg for pkg in self.packages if pkg.shared)

    @property
    def project(self) -> LockedPackage | None:
        """The project's own distribution, if the layer requires it."""
        return next((pkg for pkg in self.packages if pkg.project), None)

    def package(self, name: str) -> LockedPackage | None:
        """The first entry for distribution ``name`` (any spelling), if any."""
        key = canonicalize_name(name)
        return next((pkg for pkg in self.packages if pkg.key == key), None)


def parse_package(entry: Mapping[str, Any], *, origin: str) -> LockedPackage:
    """One ``[[packages]]`` table as a value (markers normalised, clauses split off)."""
    try:
        name = str(entry["name"])
        raw_marker = str(entry.get("marker", "") or "")
        marker = normalize_marker(raw_marker) if raw_marker else ""
        marker, shared = split_clause(marker, SHARED_CLAUSE)
        marker, project_marked = split_clause(marker, PROJECT_CLAUSE)
        tool = entry.get("tool", {}).get("envstacks", {})
        project = project_marked or bool(tool.get("project", False))
        version = entry.get("version")
        if version is None and not project:
            raise ValueError(f"package {name!r} has no version")
        wheels = tuple(
            LockedWheel(
                name=wheel_file_name(wheel),
                hashes=MappingProxyType(
                    {str(k): str(v) for k, v in wheel.get("hashes", {}).items()}
                ),
                url=str(wheel["url"]) if wheel.get("url") else None,
                path=str(wheel["path"]) if wheel.get("path") else None,
            )
            for wheel in entry.get("wheels", ())
        )
    except (KeyError, TypeError, AttributeError, ValueError, InvalidMarker) as exc:
        raise LockError(
            f"{origin}: invalid package entry {dict(entry).get('name', '?')!r}: {exc}",
            hint="relock the layer (`envstacks lock --reset-lock <layer>`)",
        ) from exc
    return LockedPackage(
        name=name,
        version=None if version is None else str(version),
        marker=marker,
        shared=shared,
        project=project,
        index=str(entry["index"]) if entry.get("index") else None,
        wheels=wheels,
        requires_dist=tuple(str(req) for req in tool.get("requires-dist", ())),
    )


def parse_pylock(text: str, *, layer: str, path: Path) -> LockedLayer:
    """Parse the text of a layer lock.

    Raises:
        LockError: the text is not TOML or not a package lock.
    """
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise LockError(
            f"{path}: the lock of layer {layer!r} is not valid TOML: {exc}",
            hint=f"relock it (`envstacks lock --reset-lock {layer}`)",
        ) from exc
    packages = data.get("packages", [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise LockError(
            f"{path}: `packages` must be an array of tables in the lock of layer {layer!r}",
            hint=f"relock it (`envstacks lock --reset-lock {layer}`)",
        )
    return LockedLayer(
        layer=layer,
        path=path,
        requires_python=data.get("requires-python"),
        packages=tuple(parse_package(p, origin=str(path)) for p in packages),
    )


def same_lock_data(first: str, second: str) -> bool:
    """Whether two lock texts hold the same TOML data (comments aside; no ``packages`` = none).

    venvstacks and envstacks write different header comments, and venvstacks leaves the
    ``packages`` key out of an empty layer's lock; neither changes what the lock says.
    """
    try:
        parsed = [tomllib.loads(text) for text in (first, second)]
    except (tomllib.TOMLDecodeError, RecursionError):
        return False
    for data in parsed:
        data.setdefault("packages", [])
    return parsed[0] == parsed[1]


#: Locks parsed in this process, by path and layer, with the text they were parsed from: the
#: lock check and the build step of one run parse each lock once.
_PARSED: dict[tuple[str, str], tuple[str, LockedLayer]] = {}


def load_pylock(path: Path, *, layer: str) -> LockedLayer:
    """Read and parse a layer lock file (parsed again only when its text changed).

    Raises:
        LockError: the file is missing or unreadable.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise LockError(
            f"layer {layer!r} has no lock file ({path})",
            hint=f"lock it first: `envstacks lock --include {layer}`",
        ) from exc
    # Compared by text, not by size and time: an edit within the file system's time
    # resolution that keeps the size still counts.
    key = (str(path), layer)
    known = _PARSED.get(key)
    if known is not None and known[0] == text:
        return known[1]
    locked = parse_pylock(text, layer=layer, path=path)
    _PARSED[key] = (text, locked)
    return locked


def read_lock(spec: StackSpec, layer: LayerSpec) -> LockedLayer:
    """The parsed lock of a layer (for summaries, the build step and publish metadata).

    Raises:
        LockError: the layer has no lock file, or it cannot be parsed.
    """
    return load_pylock(stack_paths.pylock_path(spec, layer), layer=layer.build_name)
