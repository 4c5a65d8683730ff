"""The stack specification as frozen, validated values: layers, settings and uv configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from envstacks.floor.layer_kinds import LayerKind

#: Where a spec came from: a ``[tool.venvstacks]`` table or a standalone ``venvstacks.toml``.
SourceFormat = Literal["pyproject", "venvstacks"]


def _frozen_map(data: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(data or {}))


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerSpec:
    """What every layer kind has in common.

    ``platforms`` is the *effective* list: inferred from lower layers when the spec gave
    none, empty when the layer is disabled. ``package_indexes`` is the merged map
    (inherited from lower layers, then the layer's own).
    """

    kind: LayerKind
    #: The name as written in the spec.
    name: str
    #: The TOML path of the layer's table, for messages (``tool.venvstacks.frameworks[2]``).
    toml_path: str
    #: PEP 508 requirement strings, validated and normalised, in spec order.
    requirements: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    versioned: bool = False
    #: ``"glibc@X.Y"`` (``"glibc"`` means 2.28).
    linux_target: str = "glibc@2.28"
    #: ``"X.Y"``.
    macosx_target: str = "13.0"
    dynlib_exclude: tuple[str, ...] = ()
    package_indexes: Mapping[str, str] = field(default_factory=_frozen_map)
    priority_indexes: tuple[str, ...] = ()
    #: Ship the layer byte-compiled (``__pycache__`` made at build time, kept when staging).
    precompile: bool = True
    #: Entry-point scripts made into ``bin/`` launchers on deploy; ``None``: the kind's default
    #: (an application's own distributions' scripts, none for other layers).
    scripts: tuple[str, ...] | None = None

    @property
    def build_name(self) -> str:
        """The layer's build name: ``name``, ``framework-name`` or ``app-name``."""
        return self.kind.prefix + self.name

    @property
    def enabled(self) -> bool:
        """False when the layer targets no platform (``platforms = []``)."""
        return bool(self.platforms)

    @property
    def file_name(self) -> str:
        """The build name as used in lock file names (dots become underscores)."""
        return self.build_name.replace(".", "_")

    @property
    def linux_glibc(self) -> tuple[int, int]:
        """The manylinux glibc version that ``linux_target`` selects."""
        _, _, version = self.linux_target.partition("@")
        if not version:
            return (2, 28)
        major, minor = version.split(".")
        return (int(major), int(minor))

    @property
    def macosx_version(self) -> tuple[int, int]:
        """The macOS deployment target as ``(major, minor)``."""
        major, _, minor = self.macosx_target.partition(".")
        return (int(major), int(minor or 0))

    def targets(self, platform: str) -> bool:
        """Whether the layer is built for ``platform``."""
        return platform in self.platforms


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeSpec(LayerSpec):
    """A runtime layer: a relocatable Python installation plus its own requirements."""

    kind: LayerKind = LayerKind.RUNTIME
    #: As written: ``"cpython@3.12.1"`` (``"cpython@3.12"`` means the newest 3.12 found).
    python_implementation: str
    #: ``"cpython"`` or ``"pypy"``.
    implementation: str = "cpython"
    #: The version part of ``python_implementation`` (``"3.12.1"`` or ``"3.12"``).
    python_version: str = ""

    @property
    def py_version(self) -> str:
        """The ``X.Y`` feature version."""
        return ".".join(self.python_version.split(".")[:2])


@dataclass(frozen=True, slots=True, kw_only=True)
class LayeredSpec(LayerSpec):
    """A layer that is a virtual environment on top of a runtime (and maybe frameworks)."""

    #: The runtime's name (its build name too). Set for every layered spec, inferred from
    #: the frameworks when the spec names frameworks instead of a runtime.
    runtime: str
    #: The framework names as declared, in order (empty when the spec names a runtime).
    frameworks: tuple[str, ...] = ()
    #: Build names of the frameworks in ``sys.path`` order (C3 linearisation).
    linearized: tuple[str, ...] = ()
    #: The layer's own post-install step (absolute; ``postinstall_script``), if any.
    postinstall_script: Path | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Build names of every lower layer in ``sys.path`` order: frameworks, then the runtime."""
        return (*self.linearized, self.runtime)


@dataclass(frozen=True, slots=True, kw_only=True)
class FrameworkSpec(LayeredSpec):
    """A framework layer: big shared libraries for the layers above."""

    kind: LayerKind = LayerKind.FRAMEWORK
    #: For a variant layer: the framework's name as written (``accel``), else ``None``.
    variant_of: str | None = None
    #: For a variant layer: the variant's name (``gpu``).
    variant: str | None = None
    #: For a variant layer: its selectors (empty: the framework's fallback).
    select: tuple[str, ...] = ()

    @property
    def is_fallback(self) -> bool:
        """Whether this is the variant deploy uses where no selector matches."""
        return self.variant_of is not None and not self.select


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationSpec(LayeredSpec):
    """An application layer: a launchable module on top of runtime and frameworks.

    Exactly one of ``launch_module`` (a copied file or package folder) and ``run_module``
    (a module of an installed distribution) is set.
    """

    kind: LayerKind = LayerKind.APPLICATION
    launch_module: Path | None = None
    run_module: str | None = None
    #: Absolute paths, sorted by path string.
    support_modules: tuple[Path, ...] = ()

    @property
    def module_name(self) -> str:
        """The module ``python -m`` runs for this application."""
        if self.run_module is not None:
            return self.run_module
        assert self.launch_module is not None
        return self.launch_module.stem


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Stack-wide settings (``[tool.venvstacks]`` keys), with paths made absolute."""

    build_dir: Path
    output_dir: Path
    export_dir: Path
    requirements_dir: Path
    #: Name of the archive format ``publish`` uses unless told otherwise.
    archive_format: str = "tar.zst"
    #: How hard ``publish`` compresses unless told otherwise: ``"fast"``, ``"default"``,
    #: ``"max"`` or a level number (as a string; the format checks its range when publishing).
    compression: str = "default"
    #: ``"auto"``, ``"local"``, ``"uv-managed"`` or the name of a third-party provider.
    runtime_provider: str = "auto"
    #: Extra folders searched for local interpreters (before the built-in places).
    python_search_path: tuple[Path, ...] = ()
    #: Whether layers ship byte-compiled unless their own ``precompile`` key says otherwise.
    precompile: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class UvConfig:
    """The stack's baseline uv settings (``[tool.venvstacks.uv]``, ``[tool.uv]``, a uv.toml).

    ``indexes`` and ``sources`` are split out because layers select among them; ``settings``
    holds every other key, passed through to each layer's generated uv project unchanged.
    """

    settings: Mapping[str, Any] = field(default_factory=_frozen_map)
    #: Every ``[[index]]`` table, in order.
    indexes: tuple[Mapping[str, Any], ...] = ()
    #: ``{normalised dist name: index name}`` from the baseline ``sources``.
    sources: Mapping[str, str] = field(default_factory=_frozen_map)
    #: Where the settings came from (a TOML path or a file), for messages.
    origin: str = ""

    @property
    def index_names(self) -> tuple[str, ...]:
        """Names of the named indexes."""
        return tuple(str(index["name"]) for index in self.indexes if "name" in index)

    def index(self, name: str) -> Mapping[str, Any]:
        """The index table called ``name``."""
        for index in self.indexes:
            if index.get("name") == name:
                return index
        raise KeyError(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class StackSpec:
    """A whole, validated stack: what ``spec.load()`` returns and every stage consumes."""

    #: The file the spec was read from (``pyproject.toml`` or ``venvstacks.toml``).
    spec_path: Path
    source_format: SourceFormat
    #: ``[project].name`` of the pyproject the stack lives in (pyproject format only).
    project_name: str | None = None
    #: ``[project].dependencies`` when they are static (``None`` when absent or dynamic):
    #: a lock that ships the project is stale once they differ from what it was locked with.
    project_dependencies: tuple[str, ...] | None = None
    settings: Settings
    uv: UvConfig = field(default_factory=UvConfig)
    runtimes: tuple[RuntimeSpec, ...] = ()
    frameworks: tuple[FrameworkSpec, ...] = ()
    applications: tuple[ApplicationSpec, ...] = ()
    #: Non-fatal findings (legacy fields...), for the front-end to show.
    warnings: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        """The folder relative paths in the spec are resolved against."""
        return self.spec_path.parent

    @property
    def toml_prefix(self) -> str:
        """``"tool.venvstacks."`` for a pyproject, ``""`` for a venvstacks.toml."""
        return "tool.venvstacks." if self.source_format == "pyproject" else ""

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        """Every layer (including disabled ones) in definition order: runtimes, frameworks, apps."""
        return (*self.runtimes, *self.frameworks, *self.applications)

    @property
    def build_names(self) -> tuple[str, ...]:
        """The build names of :attr:`layers`, in the same order (a manifest's order)."""
        return tuple(layer.build_name for layer in self.layers)

    @property
    def enabled_layers(self) -> tuple[LayerSpec, ...]:
        """The layers that target at least one platform."""
        return tuple(layer for layer in self.layers if layer.enabled)

    def layer(self, build_name: str) -> LayerSpec:
        """The layer with this build name (``cpython-3.12``, ``framework-x``, ``app-y``)."""
        for layer in self.layers:
            if layer.build_name == build_name:
                return layer
        raise KeyError(build_name)

    def runtime_of(self, layer: LayerSpec) -> RuntimeSpec:
        """The runtime a layer runs on (a runtime is its own)."""
        if isinstance(layer, RuntimeSpec):
            return layer
        assert isinstance(layer, LayeredSpec)
        runtime = self.layer(layer.runtime)
        assert isinstance(runtime, RuntimeSpec)
        return runtime

    def dependencies(self, layer: LayerSpec) -> tuple[LayerSpec, ...]:
        """The layers below ``layer`` in ``sys.path`` order (frameworks, then the runtime)."""
        if isinstance(layer, LayeredSpec):
            return tuple(self.layer(name) for name in layer.depends_on)
        return ()

    def variants_of(self, framework: str) -> tuple[FrameworkSpec, ...]:
        """The variant layers of the framework called ``framework`` (empty: it has none)."""
        return tuple(layer for layer in self.frameworks if layer.variant_of == framework)

    @property
    def variant_frameworks(self) -> tuple[str, ...]:
        """Names of the frameworks that have variants, in spec order."""
        return tuple(dict.fromkeys(f.variant_of for f in self.frameworks if f.variant_of))

    def derived(self, layer: LayerSpec) -> tuple[LayerSpec, ...]:
        """The layers that depend on ``layer``, directly or not, in definition order."""
        name = layer.build_name
        return tuple(
            other
            for other in self.layers
            if isinstance(other, LayeredSpec) and name in other.depends_on
        )
