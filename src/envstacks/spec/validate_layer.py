"""Validate one raw layer table on its own (keys, required keys, legacy keys) into a RawLayer.

Cross-layer rules (references, platforms inherited from lower layers, index consistency)
are checked later, once every layer has passed this stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from envstacks.spec import validate_values as values
from envstacks.spec.indexes import IndexChoices, parse_index_keys
from envstacks.spec.model import LayerKind
from envstacks.spec.validate_fields import (
    TomlPath,
    TomlTable,
    check_keys,
    expect_bool,
    expect_str,
    expect_str_list,
    expect_table,
    quoted_list,
    spec_error,
)
from envstacks.spec.validate_keys import layer_keys, legacy_keys
from envstacks.spec.validate_modules import AppModules, parse_app_modules
from envstacks.spec.validate_names import check_layer_name


@dataclass(frozen=True, slots=True, kw_only=True)
class RawLayer:
    """One layer after its own keys are validated, before references are resolved."""

    kind: LayerKind
    where: TomlPath
    name: str
    requirements: tuple[str, ...] = ()
    #: ``None`` when the spec gives none (inferred later).
    platforms: tuple[str, ...] | None = None
    versioned: bool = False
    linux_target: str = "glibc@2.28"
    macosx_target: str = values.DEFAULT_MACOSX
    dynlib_exclude: tuple[str, ...] = ()
    indexes: IndexChoices = field(default_factory=IndexChoices)
    #: Runtimes only.
    implementation: values.Implementation | None = None
    runtime: str | None = None
    #: ``None`` when the key is absent.
    frameworks: tuple[str, ...] | None = None
    modules: AppModules = field(default_factory=AppModules)
    #: Legacy-field warnings.
    warnings: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The layer in messages: ``framework 'sklearn'``."""
        return f"{self.kind.value} {self.name!r}"

    @property
    def build_name(self) -> str:
        """``name``, ``framework-name`` or ``app-name``."""
        return self.kind.prefix + self.name


def parse_layer(
    data: object, *, kind: LayerKind, where: TomlPath, root: Path, index_names: tuple[str, ...]
) -> RawLayer:
    """Validate one layer table of ``kind`` found at ``where`` (relative paths against ``root``)."""
    table = expect_table(data, where, fix=f"write the layer as a [[{_array(where)}]] table")
    keys = layer_keys(kind)
    article = "an" if kind is LayerKind.APPLICATION else "a"
    check_keys(
        table,
        (*keys, *legacy_keys(kind)),
        where,
        what=f"{kind.value} layer key",
        fix=f"{article} {kind.value} layer accepts {quoted_list(keys)}",
    )
    if "name" not in table:
        raise spec_error(
            where, f"{kind.value} layer without a 'name'", f'add name = "<{kind.value} name>"'
        )
    name = check_layer_name(table["name"], where.key("name"), kind)
    label = f"{kind.value} {name!r}"
    table, warnings = _apply_legacy(table, where, label, name)
    for key in (k for k, info in keys.items() if info.required):
        if key not in table:
            empty = " (or [] when the layer needs no packages)" if key == "requirements" else ""
            raise spec_error(
                where,
                f"{label} is missing the required key {key!r}",
                f"add {keys[key].assignment()}{empty}",
            )

    def at(key: str) -> TomlPath:
        return where.key(key)

    platforms = None
    if "platforms" in table:
        platforms = values.platforms(table["platforms"], at("platforms"), label)
    runtime, frameworks = None, None
    if kind is not LayerKind.RUNTIME:
        runtime, frameworks = _dependencies(table, where, label, kind)
    return RawLayer(
        kind=kind,
        where=where,
        name=name,
        requirements=values.requirements(
            table["requirements"], at("requirements"), label, fix=keys["requirements"].fix()
        ),
        platforms=platforms,
        versioned=expect_bool(
            table.get("versioned", False), at("versioned"), fix=keys["versioned"].fix(), owner=label
        ),
        linux_target=values.linux_target(
            table.get("linux_target", "glibc@2.28"), at("linux_target"), label
        ),
        macosx_target=values.macosx_target(table.get("macosx_target"), at("macosx_target"), label),
        dynlib_exclude=expect_str_list(
            table.get("dynlib_exclude", []),
            at("dynlib_exclude"),
            fix=keys["dynlib_exclude"].fix(),
            owner=label,
        ),
        indexes=parse_index_keys(table, where, label, index_names),
        implementation=(
            values.implementation(
                table["python_implementation"], at("python_implementation"), label
            )
            if kind is LayerKind.RUNTIME
            else None
        ),
        runtime=runtime,
        frameworks=frameworks,
        modules=(
            parse_app_modules(table, where, root, label)
            if kind is LayerKind.APPLICATION
            else AppModules()
        ),
        warnings=warnings,
    )


def _array(where: TomlPath) -> str:
    """The array-of-tables a layer path belongs to: ``tool.venvstacks.frameworks``."""
    return where.text.rpartition("[")[0]


def _apply_legacy(
    table: TomlTable, where: TomlPath, label: str, name: str
) -> tuple[TomlTable, tuple[str, ...]]:
    """Drop ``build_requirements`` and rename ``fully_versioned_name``, with warnings."""
    warnings: list[str] = []
    result = dict(table)
    if "build_requirements" in result:
        del result["build_requirements"]
        warnings.append(
            f"{where.key('build_requirements')}: Dropping legacy field 'build_requirements' for "
            f"layer {name!r}; it has no effect (layers install wheels only), remove it"
        )
    if "fully_versioned_name" in result:
        if "python_implementation" in result:
            raise spec_error(
                where,
                f"{label} sets both 'fully_versioned_name' ({result['fully_versioned_name']!r}) "
                f"and 'python_implementation' ({result['python_implementation']!r})",
                "remove the legacy 'fully_versioned_name'",
            )
        result["python_implementation"] = result.pop("fully_versioned_name")
        warnings.append(
            f"{where.key('fully_versioned_name')}: Converting legacy field name "
            f"'fully_versioned_name' to 'python_implementation' for layer {name!r}; rename the key"
        )
    return result, tuple(warnings)


def _dependencies(
    table: TomlTable, where: TomlPath, label: str, kind: LayerKind
) -> tuple[str | None, tuple[str, ...] | None]:
    """``(runtime, frameworks)``: exactly one of them is set."""
    keys = layer_keys(kind)
    has_runtime = "runtime" in table
    has_frameworks = "frameworks" in table
    if has_runtime and has_frameworks:
        raise spec_error(
            where,
            f"{label} must specify a runtime or framework dependencies, not both (runtime: "
            f"{table['runtime']!r}; frameworks: {table['frameworks']!r})",
            "drop runtime: a layer with frameworks runs on their runtime",
        )
    if not has_runtime and not has_frameworks:
        raise spec_error(
            where,
            f"{label} must specify a runtime or at least one framework dependency",
            f"add {keys['runtime'].assignment()} or {keys['frameworks'].assignment()}",
        )
    if has_runtime:
        runtime = expect_str(
            table["runtime"], where.key("runtime"), fix=keys["runtime"].fix(), owner=label
        )
        return runtime, None
    frameworks = expect_str_list(
        table["frameworks"], where.key("frameworks"), fix=keys["frameworks"].fix(), owner=label
    )
    if not frameworks:
        raise spec_error(
            where.key("frameworks"),
            f"{label} must specify a runtime or at least one framework dependency "
            "(frameworks is empty)",
            f"list at least one framework, or replace it with {keys['runtime'].assignment()}",
        )
    return None, frameworks
