"""Resolve validated layers against each other: names, graph, runtime, platforms and indexes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from envstacks.platforms import TARGET_PLATFORMS
from envstacks.spec.graph import check_references, linearize
from envstacks.spec.indexes import merge_package_indexes
from envstacks.spec.model import (
    ApplicationSpec,
    FrameworkSpec,
    LayerKind,
    LayerSpec,
    RuntimeSpec,
)
from envstacks.spec.validate_fields import spec_error
from envstacks.spec.validate_layer import RawLayer


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedLayers:
    """Every layer of a stack, resolved, in definition order per kind."""

    runtimes: tuple[RuntimeSpec, ...]
    frameworks: tuple[FrameworkSpec, ...]
    applications: tuple[ApplicationSpec, ...]


def resolve_layers(
    runtimes: Sequence[RawLayer], frameworks: Sequence[RawLayer], applications: Sequence[RawLayer]
) -> ResolvedLayers:
    """Check names and references across layers, then build the final specs in file order."""
    _check_names(runtimes, frameworks, applications)
    check_references(runtimes, frameworks, applications)
    by_name: dict[str, LayerSpec] = {}
    linearized: dict[str, tuple[str, ...]] = {}

    resolved_runtimes: list[RuntimeSpec] = []
    for raw in runtimes:
        implementation = raw.implementation
        assert implementation is not None
        runtime = RuntimeSpec(
            name=raw.name,
            toml_path=raw.where.text,
            requirements=raw.requirements,
            platforms=_platforms(raw, TARGET_PLATFORMS, []),
            versioned=raw.versioned,
            linux_target=raw.linux_target,
            macosx_target=raw.macosx_target,
            dynlib_exclude=raw.dynlib_exclude,
            package_indexes=MappingProxyType({d: i for _, d, i in raw.indexes.package_indexes}),
            priority_indexes=raw.indexes.priority_indexes,
            python_implementation=implementation.text,
            implementation=implementation.name,
            python_version=implementation.version,
        )
        resolved_runtimes.append(runtime)
        by_name[runtime.build_name] = runtime

    resolved_frameworks: list[FrameworkSpec] = []
    for raw in frameworks:
        deps = _dependencies(raw, linearized, by_name)
        framework = FrameworkSpec(**_layered_fields(raw, deps))
        resolved_frameworks.append(framework)
        by_name[framework.build_name] = framework

    resolved_apps: list[ApplicationSpec] = []
    for raw in applications:
        deps = _dependencies(raw, linearized, by_name)
        resolved_apps.append(
            ApplicationSpec(
                **_layered_fields(raw, deps),
                launch_module=raw.modules.launch_module,
                run_module=raw.modules.run_module,
                support_modules=raw.modules.support_modules,
            )
        )
    return ResolvedLayers(
        runtimes=tuple(resolved_runtimes),
        frameworks=tuple(resolved_frameworks),
        applications=tuple(resolved_apps),
    )


def _check_names(*kinds: Sequence[RawLayer]) -> None:
    """Names are distinct within a kind; build names stay distinct on case-insensitive disks."""
    folded: dict[str, RawLayer] = {}
    for layers in kinds:
        seen: dict[str, RawLayer] = {}
        for raw in layers:
            if raw.name in seen:
                raise spec_error(
                    raw.where.key("name"),
                    f"{raw.kind.value} name {raw.name!r} is already used by {seen[raw.name].where}",
                    f"give each {raw.kind.value} a distinct name",
                )
            seen[raw.name] = raw
            key = raw.build_name.casefold()
            other = folded.get(key)
            if other is not None:
                raise spec_error(
                    raw.where.key("name"),
                    f"build name {raw.build_name!r} of {raw.label} differs only in case from "
                    f"{other.build_name!r} ({other.where}), so their folders would clash on "
                    "macOS and Windows",
                    "rename one of them",
                )
            folded[key] = raw


@dataclass(frozen=True, slots=True, kw_only=True)
class _Dependencies:
    """What a framework or application gets from the layers below it."""

    runtime: str
    #: Build names of the frameworks, C3 order.
    linearized: tuple[str, ...]
    platforms: tuple[str, ...]
    package_indexes: Mapping[str, str]


def _layered_fields(raw: RawLayer, deps: _Dependencies) -> dict[str, Any]:
    """The fields frameworks and applications share, from the raw layer and its resolution."""
    return {
        "name": raw.name,
        "toml_path": raw.where.text,
        "requirements": raw.requirements,
        "platforms": deps.platforms,
        "versioned": raw.versioned,
        "linux_target": raw.linux_target,
        "macosx_target": raw.macosx_target,
        "dynlib_exclude": raw.dynlib_exclude,
        "package_indexes": deps.package_indexes,
        "priority_indexes": raw.indexes.priority_indexes,
        "runtime": deps.runtime,
        "frameworks": raw.frameworks or (),
        "linearized": deps.linearized,
    }


def _dependencies(
    raw: RawLayer, linearized: dict[str, tuple[str, ...]], by_name: Mapping[str, LayerSpec]
) -> _Dependencies:
    """Resolve runtime, framework order, platforms and indexes of a layered spec.

    ``linearized`` maps framework names to their own linearisation (names); a framework's
    result is added to it.
    """
    names = linearize(raw, linearized) if raw.frameworks else ()
    if raw.kind is LayerKind.FRAMEWORK:
        linearized[raw.name] = names
    build_names = tuple(LayerKind.FRAMEWORK.prefix + name for name in names)
    declared = [by_name[LayerKind.FRAMEWORK.prefix + name] for name in raw.frameworks or ()]
    runtime = raw.runtime if raw.runtime is not None else _shared_runtime(raw, declared)
    lower = [by_name[name] for name in build_names]
    runtime_spec = by_name[runtime]
    inferred = [
        platform
        for platform in runtime_spec.platforms
        if all(platform in layer.platforms for layer in lower)
    ]
    index_sources = [(_label(layer), layer.package_indexes) for layer in lower or [runtime_spec]]
    merged = merge_package_indexes(
        label=raw.label,
        where=raw.where,
        own=raw.indexes.package_indexes,
        overrides=raw.indexes.index_overrides,
        lower=index_sources,
    )
    return _Dependencies(
        runtime=runtime,
        linearized=build_names,
        platforms=_platforms(raw, inferred, [*lower, runtime_spec]),
        package_indexes=MappingProxyType(merged),
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
