"""The stack as a whole: its settings, its baseline uv settings, its layers resolved together.

Resolving checks what no single layer can: distinct names, references (``graph.py``), one
runtime per layer, platforms inherited from lower layers and consistent package indexes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from envstacks.floor.layer_kinds import LayerKind
from envstacks.floor.platforms import TARGET_PLATFORMS
from envstacks.floor.suggest import did_you_mean
from envstacks.stages.stackspec.fields import (
    TableView,
    TomlPath,
    TomlTable,
    expect_table,
    resolve_path,
    show,
    spec_error,
    unknown_keys,
)
from envstacks.stages.stackspec.graph import check_references, linearize
from envstacks.stages.stackspec.indexes import (
    merge_package_indexes,
    parse_index_tables,
    parse_sources,
)
from envstacks.stages.stackspec.keys import (
    KNOWN_UV_SETTINGS,
    SETTINGS_KEYS,
    UV_KEYS,
    setting_defaults,
)
from envstacks.stages.stackspec.layers import RawLayer
from envstacks.stages.stackspec.model import (
    ApplicationSpec,
    FrameworkSpec,
    LayerSpec,
    RuntimeSpec,
    Settings,
    SourceFormat,
    UvConfig,
)
from envstacks.stages.stackspec.variants import merged_indexes, variant_layer_name


def parse_settings(
    table: TomlTable, where: TomlPath, root: Path, source_format: SourceFormat
) -> Settings:
    """Read the settings keys of ``table`` (other keys are ignored), applying the defaults.

    Paths are relative to ``root`` (the spec's folder); ``~`` is expanded.
    """
    data = {**setting_defaults(source_format), **table}
    settings = TableView(data=data, where=where, keys=SETTINGS_KEYS)

    def path(key: str) -> Path:
        return resolve_path(root, settings.string(key))

    return Settings(
        build_dir=path("build-dir"),
        output_dir=path("output-dir"),
        export_dir=path("export-dir"),
        requirements_dir=path("requirements-dir"),
        archive_format=settings.string("archive-format"),
        compression=_compression(settings),
        runtime_provider=settings.string("runtime-provider"),
        python_search_path=tuple(
            resolve_path(root, item) for item in settings.strings("python-search-path")
        ),
        precompile=settings.flag("precompile"),
    )


def _compression(settings: TableView) -> str:
    """The ``compression`` setting: a name, or a level number (kept as its digits)."""
    value = settings.data["compression"]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if value in ("fast", "default", "max"):
        return str(value)
    raise spec_error(
        settings.at("compression"),
        f"{show(value)} is not a compression",
        'write it like compression = "max" (fast, default, max, or the archive format\'s '
        "level number)",
    )


def parse_uv_config(
    data: object, where: TomlPath, *, origin: str
) -> tuple[UvConfig, tuple[str, ...]]:
    """Check a uv settings table and split it into indexes, sources and pass-through settings.

    uv evolves faster than envstacks, so a key this module does not know only produces a
    warning; the structure envstacks relies on (named indexes and index-only sources) is
    checked strictly. Returns the config and the warnings. ``where`` is the table's TOML
    path (``tool.venvstacks.uv``), ``origin`` what the user should look at (a path or a file).
    """
    table = expect_table(
        data, where, fix="write uv settings as a table, in the form of uv's [tool.uv]"
    )
    unknown = tuple(
        f"{where.key(key)}: unknown uv setting {key!r}"
        f"{did_you_mean(key, KNOWN_UV_SETTINGS)}; it is passed to uv unchanged "
        "(remove it if it is a typo)"
        for key in unknown_keys(table, KNOWN_UV_SETTINGS)
    )
    indexes, index_warnings = parse_index_tables(table.get("index", []), where.key("index"))
    # A uv.toml-style file: its paths start at its top level, so name the file.
    prefix = "" if where.text else f"{origin}: "
    warnings = tuple(prefix + warning for warning in (*unknown, *index_warnings))
    names = tuple(str(index["name"]) for index in indexes if "name" in index)
    sources = parse_sources(table.get("sources", {}), where.key("sources"), names)
    settings = {key: value for key, value in table.items() if key not in UV_KEYS}
    config = UvConfig(
        settings=MappingProxyType(settings),
        indexes=indexes,
        sources=MappingProxyType(sources),
        origin=origin,
    )
    return config, warnings


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedLayers:
    """Every layer of a stack, resolved, in definition order per kind."""

    runtimes: tuple[RuntimeSpec, ...]
    frameworks: tuple[FrameworkSpec, ...]
    applications: tuple[ApplicationSpec, ...]


def resolve_layers(
    runtimes: Sequence[RawLayer], frameworks: Sequence[RawLayer], applications: Sequence[RawLayer]
) -> ResolvedLayers:
    """Check names and references across layers, then build the final specs in file order.

    A framework with variants becomes one framework per variant (:mod:`.variants`); layers
    above it are resolved against its fallback variant.
    """
    _check_names((*runtimes, *frameworks, *applications))
    check_references(runtimes, frameworks, applications)
    expanded = [layer for raw in frameworks for layer in _expand_variants(raw)]
    _check_names((*runtimes, *expanded, *applications))
    resolved_runtimes = tuple(_runtime(raw) for raw in runtimes)
    resolved_frameworks: tuple[FrameworkSpec, ...] = ()
    for raw in expanded:
        below = _by_build_name(resolved_runtimes, resolved_frameworks)
        variant_of, variant = raw.variant_of or (None, None)
        resolved_frameworks = (
            *resolved_frameworks,
            FrameworkSpec(
                **_layered_fields(raw, below),
                variant_of=variant_of,
                variant=variant,
                select=raw.select,
            ),
        )
    below = _by_build_name(resolved_runtimes, resolved_frameworks)
    resolved_apps = tuple(
        ApplicationSpec(
            **_layered_fields(raw, below),
            launch_module=raw.modules.launch_module,
            run_module=raw.modules.run_module,
            support_modules=raw.modules.support_modules,
        )
        for raw in applications
    )
    return ResolvedLayers(
        runtimes=resolved_runtimes, frameworks=resolved_frameworks, applications=resolved_apps
    )


def _expand_variants(raw: RawLayer) -> tuple[RawLayer, ...]:
    """The framework itself, or one framework layer per declared variant (spec order)."""
    return tuple(
        replace(
            raw,
            where=variant.where,
            name=variant_layer_name(raw.name, variant.name),
            requirements=(*raw.requirements, *variant.requirements),
            indexes=merged_indexes(raw.indexes, variant.indexes),
            variants=(),
            variant_of=(raw.name, variant.name),
            select=variant.select,
        )
        for variant in raw.variants
    ) or (raw,)


def _check_names(layers: Sequence[RawLayer]) -> None:
    """Names are distinct within a kind; build names stay distinct on case-insensitive disks."""
    for i, raw in enumerate(layers):
        earlier = layers[:i]
        same = next((o for o in earlier if o.kind is raw.kind and o.name == raw.name), None)
        if same is not None:
            raise spec_error(
                raw.where.key("name"),
                f"{raw.kind.value} name {raw.name!r} is already used by {same.where}",
                f"give each {raw.kind.value} a distinct name",
            )
        folded = raw.build_name.casefold()
        other = next((o for o in earlier if o.build_name.casefold() == folded), None)
        if other is not None:
            raise spec_error(
                raw.where.key("name"),
                f"build name {raw.build_name!r} of {raw.label} differs only in case from "
                f"{other.build_name!r} ({other.where}), so their folders would clash on "
                "macOS and Windows",
                "rename one of them",
            )


def _by_build_name(*groups: Sequence[LayerSpec]) -> Mapping[str, LayerSpec]:
    return MappingProxyType({layer.build_name: layer for group in groups for layer in group})


def _runtime(raw: RawLayer) -> RuntimeSpec:
    implementation = raw.implementation
    assert implementation is not None
    return RuntimeSpec(
        name=raw.name,
        toml_path=raw.where.text,
        requirements=raw.requirements,
        platforms=_platforms(raw, TARGET_PLATFORMS, []),
        versioned=raw.versioned,
        linux_target=raw.linux_target,
        macosx_target=raw.macosx_target,
        dynlib_exclude=raw.dynlib_exclude,
        precompile=raw.precompile,
        scripts=raw.scripts,
        package_indexes=MappingProxyType({d: i for _, d, i in raw.indexes.package_indexes}),
        priority_indexes=raw.indexes.priority_indexes,
        python_implementation=implementation.text,
        implementation=implementation.name,
        python_version=implementation.version,
    )


def _layered_fields(raw: RawLayer, below: Mapping[str, LayerSpec]) -> dict[str, Any]:
    """The fields frameworks and applications share: the raw layer's, then what lies below."""
    names = linearize(raw, _framework_orders(below)) if raw.frameworks else ()
    linearized = tuple(_framework_layer(below, name).build_name for name in names)
    declared = [_framework_layer(below, name) for name in raw.frameworks or ()]
    runtime = raw.runtime if raw.runtime is not None else _shared_runtime(raw, declared)
    lower = [below[name] for name in linearized]
    runtime_spec = below[runtime]
    inferred = [
        platform
        for platform in runtime_spec.platforms
        if all(platform in layer.platforms for layer in lower)
    ]
    merged = merge_package_indexes(
        label=raw.label,
        where=raw.where,
        own=raw.indexes.package_indexes,
        overrides=raw.indexes.index_overrides,
        lower=[(_label(layer), layer.package_indexes) for layer in lower or [runtime_spec]],
    )
    return {
        "name": raw.name,
        "toml_path": raw.where.text,
        "requirements": raw.requirements,
        "platforms": _platforms(raw, inferred, [*lower, runtime_spec]),
        "versioned": raw.versioned,
        "linux_target": raw.linux_target,
        "macosx_target": raw.macosx_target,
        "dynlib_exclude": raw.dynlib_exclude,
        "precompile": raw.precompile,
        "scripts": raw.scripts,
        "package_indexes": MappingProxyType(merged),
        "priority_indexes": raw.indexes.priority_indexes,
        "runtime": runtime,
        "frameworks": raw.frameworks or (),
        "linearized": linearized,
        "postinstall_script": raw.postinstall_script,
    }


def _framework_orders(below: Mapping[str, LayerSpec]) -> Mapping[str, tuple[str, ...]]:
    """``{framework name: its frameworks' names in C3 order}`` for the frameworks below.

    Names are as written in the spec: a framework with variants is known by its own name
    (its variants share their frameworks).
    """
    return {
        _spec_name(layer): tuple(_spec_name(below[name]) for name in layer.linearized)
        for layer in below.values()
        if isinstance(layer, FrameworkSpec)
    }


def _spec_name(layer: LayerSpec) -> str:
    """A framework's name as the spec writes it (a variant's framework name)."""
    return (layer.variant_of if isinstance(layer, FrameworkSpec) else None) or layer.name


def _framework_layer(below: Mapping[str, LayerSpec], name: str) -> LayerSpec:
    """The framework layer called ``name``: itself, or its fallback variant if it has variants."""
    layer = below.get(LayerKind.FRAMEWORK.prefix + name)
    if layer is not None:
        return layer
    return next(
        other
        for other in below.values()
        if isinstance(other, FrameworkSpec) and other.variant_of == name and other.is_fallback
    )


def _shared_runtime(raw: RawLayer, declared: Sequence[LayerSpec]) -> str:
    first = declared[0]
    assert isinstance(first, FrameworkSpec)
    for other in declared[1:]:
        assert isinstance(other, FrameworkSpec)
        if other.runtime != first.runtime:
            raise spec_error(
                raw.where.key("frameworks"),
                f"{raw.label} references inconsistent frameworks: {first.name!r} requires "
                f"runtime {first.runtime!r} while {other.name!r} requires runtime "
                f"{other.runtime!r}",
                "a layer's frameworks must all run on the same runtime; depend on frameworks of "
                "one runtime only",
            )
    return first.runtime


def _platforms(
    raw: RawLayer, inferred: Sequence[str], lower: Sequence[LayerSpec]
) -> tuple[str, ...]:
    """The effective platforms: the explicit list (checked against ``inferred``) or ``inferred``."""
    if raw.platforms is None:
        return tuple(inferred)
    if not raw.platforms:
        return ()
    disabled = [layer for layer in lower if not layer.platforms]
    if disabled:
        raise spec_error(
            raw.where.key("platforms"),
            f"{raw.label} specifies target platforms {list(raw.platforms)} but depends on "
            f"{_label(disabled[0])}, which is disabled (platforms = [])",
            "remove platforms (the layer is then disabled too) or enable the lower layer",
        )
    unsupported = [platform for platform in raw.platforms if platform not in inferred]
    if unsupported:
        raise spec_error(
            raw.where.key("platforms"),
            f"{raw.label} specifies target platforms not supported by lower layers "
            f"({unsupported}; its lower layers support {list(inferred)})",
            "remove those platforms, or add them to the lower layers' platforms",
        )
    return raw.platforms


def _label(layer: LayerSpec) -> str:
    return f"{layer.kind.value} {layer.name!r}"
