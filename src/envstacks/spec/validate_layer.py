"""Validate one raw layer table on its own (keys, types, names, values) into a RawLayer.

Cross-layer rules (references, platforms inherited from lower layers, index consistency)
are checked later, once every layer has passed this stage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from packaging.requirements import InvalidRequirement, Requirement

from envstacks.platforms import IMPLEMENTATIONS, TARGET_PLATFORMS
from envstacks.spec.model import LayerKind
from envstacks.spec.validate_fields import (
    TomlPath,
    TomlTable,
    check_keys,
    did_you_mean,
    expect_bool,
    expect_str,
    expect_str_list,
    expect_str_map,
    expect_table,
    quoted_list,
    spec_error,
)
from envstacks.spec.validate_keys import layer_keys, legacy_keys
from envstacks.spec.validate_modules import AppModules, parse_app_modules
from envstacks.spec.validate_names import check_layer_name
from envstacks.spec.validate_uv import normalize_dist

_PY_VERSION = re.compile(r"3\.\d+(\.\d+)?((a|b|rc)\d+)?")
_LINUX_VERSION = re.compile(r"\d+\.\d+")
_MACOS_VERSION = re.compile(r"\d+(\.\d+)?")
_DEFAULT_MACOSX = "13.0"


@dataclass(frozen=True, slots=True, kw_only=True)
class RawLayer:
    """One layer after its own keys are validated, before references are resolved."""

    kind: LayerKind
    #: Position within its kind's array (0-based).
    index: int
    where: TomlPath
    name: str
    requirements: tuple[str, ...] = ()
    #: ``None`` when the spec gives none (inferred later).
    platforms: tuple[str, ...] | None = None
    versioned: bool = False
    linux_target: str = "glibc@2.28"
    macosx_target: str = _DEFAULT_MACOSX
    dynlib_exclude: tuple[str, ...] = ()
    #: ``(dist as written, normalised dist, index name)`` in spec order.
    package_indexes: tuple[tuple[str, str, str], ...] = ()
    priority_indexes: tuple[str, ...] = ()
    index_overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    python_implementation: str = ""
    implementation: str = ""
    python_version: str = ""
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
    data: object,
    *,
    kind: LayerKind,
    index: int,
    where: TomlPath,
    root: Path,
    index_names: tuple[str, ...],
) -> RawLayer:
    """Validate the table of layer ``index`` of ``kind`` (found at ``where``)."""
    table_fix = f"write each layer as an array-of-tables entry [[{where.text.rpartition('[')[0]}]]"
    table = expect_table(data, where, fix=table_fix)
    keys = layer_keys(kind)
    check_keys(
        table,
        (*keys, *legacy_keys(kind)),
        where,
        what=f"{kind.value} layer key",
        fix=f"{'an' if kind is LayerKind.APPLICATION else 'a'} {kind.value} layer accepts "
        f"{quoted_list(keys)}",
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
            raise spec_error(
                where,
                f"{label} is missing the required key {key!r}",
                f"add {keys[key].assignment()}"
                + (" (or [] when the layer needs no packages)" if key == "requirements" else ""),
            )

    def fix(key: str) -> str:
        return keys[key].fix()

    def key_path(key: str) -> TomlPath:
        return where.key(key)

    requirements = tuple(
        _requirement(item, key_path("requirements").item(i), label)
        for i, item in enumerate(
            expect_str_list(
                table["requirements"], key_path("requirements"), fix=fix("requirements")
            )
        )
    )
    platforms = None
    if "platforms" in table:
        platforms = _platforms(table["platforms"], key_path("platforms"), label)
    values: dict[str, object] = {}
    if "versioned" in table:
        values["versioned"] = expect_bool(
            table["versioned"], key_path("versioned"), fix=fix("versioned")
        )
    if "linux_target" in table:
        values["linux_target"] = _linux_target(
            table["linux_target"], key_path("linux_target"), label
        )
    values["macosx_target"] = _macosx_target(
        table.get("macosx_target"), key_path("macosx_target"), label
    )
    if "dynlib_exclude" in table:
        values["dynlib_exclude"] = expect_str_list(
            table["dynlib_exclude"], key_path("dynlib_exclude"), fix=fix("dynlib_exclude")
        )
    values.update(_index_keys(table, where, label, index_names))
    if kind is LayerKind.RUNTIME:
        values.update(
            _implementation(
                table["python_implementation"], key_path("python_implementation"), label
            )
        )
    else:
        values.update(_dependencies(table, where, label, kind))
    if kind is LayerKind.APPLICATION:
        values["modules"] = parse_app_modules(table, where, root, label)
    return RawLayer(
        kind=kind,
        index=index,
        where=where,
        name=name,
        requirements=requirements,
        platforms=platforms,
        warnings=warnings,
        **values,  # type: ignore[arg-type]
    )


def _apply_legacy(
    table: TomlTable, where: TomlPath, label: str, name: str
) -> tuple[TomlTable, tuple[str, ...]]:
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


def _requirement(text: str, where: TomlPath, label: str) -> str:
    try:
        return str(Requirement(text))
    except InvalidRequirement as error:
        explanation, *rest = str(error).splitlines()
        column = rest[-1].find("^") - 3 if rest and "^" in rest[-1] else 0
        at = f" at column {column}" if column > 0 else ""
        raise spec_error(
            where,
            f"{label} uses invalid requirement syntax ({text!r}): {explanation}{at}",
            'write a PEP 508 requirement such as "numpy>=2,<3" or "torch; sys_platform == '
            "'linux'\"",
        ) from None


def _platforms(value: object, where: TomlPath, label: str) -> tuple[str, ...]:
    expected = sorted(TARGET_PLATFORMS)
    fix = f"use platform names among {quoted_list(expected)}, or [] to disable the layer"
    items = expect_str_list(value, where, fix=fix)
    result: list[str] = []
    for i, item in enumerate(items):
        if item not in TARGET_PLATFORMS:
            raise spec_error(
                where.item(i),
                f"{label} specifies an invalid target platform ({item!r} given, expected "
                f"{expected}){did_you_mean(item, expected)}",
                fix,
            )
        if item not in result:
            result.append(item)
    return tuple(result)


def _linux_target(value: object, where: TomlPath, label: str) -> str:
    fix = 'write "glibc" (glibc 2.28) or "glibc@X.Y", such as "glibc@2.34"'
    text = expect_str(value, where, fix=fix, allow_empty=True)
    variant, _, version = text.partition("@")
    if variant != "glibc":
        raise spec_error(
            where, f"Linux libc variant of {label} must be one of ['glibc'], not {variant!r}", fix
        )
    if "@" in text and not _LINUX_VERSION.fullmatch(version):
        raise spec_error(
            where, f"Linux libc version of {label} must be of the form 'X.Y', not {version!r}", fix
        )
    return text


def _macosx_target(value: object, where: TomlPath, label: str) -> str:
    fix = 'write "X" or "X.Y", such as "13.0"'
    if value is None:
        # venvstacks' default: the caller's deployment target, so the wheels it picks match
        # what the local toolchain would build.
        env = os.environ.get("MACOSX_DEPLOYMENT_TARGET", "").strip()
        if not env:
            return _DEFAULT_MACOSX
        if not _MACOS_VERSION.fullmatch(env):
            raise spec_error(
                where,
                f"{label} has no macosx_target, and the default from the environment variable "
                f"MACOSX_DEPLOYMENT_TARGET is not a macOS version ({env!r})",
                f"set macosx_target explicitly or fix the variable ({fix})",
            )
        return env
    text = expect_str(value, where, fix=fix)
    if not _MACOS_VERSION.fullmatch(text):
        raise spec_error(where, f"macosx_target of {label} is not a macOS version ({text!r})", fix)
    return text


def _index_keys(
    table: TomlTable, where: TomlPath, label: str, index_names: tuple[str, ...]
) -> dict[str, object]:
    keys = layer_keys(LayerKind.RUNTIME)
    defined = f"(defined indexes: {quoted_list(index_names)})"
    uv_table = "tool.venvstacks.uv" if where.text.startswith("tool.venvstacks.") else "tool.uv"
    define = f"define it in a [[{uv_table}.index]] table or fix the name"

    def known(name: str, at: TomlPath, problem: str) -> str:
        if name not in index_names:
            raise spec_error(at, f"{problem}{did_you_mean(name, index_names)} {defined}", define)
        return name

    values: dict[str, object] = {}
    pk_where = where.key("package_indexes")
    mapping = expect_str_map(
        table.get("package_indexes", {}), pk_where, fix=keys["package_indexes"].fix()
    )
    entries: list[tuple[str, str, str]] = []
    seen: dict[str, str] = {}
    for dist, index in mapping.items():
        at = pk_where.key(dist)
        normalized = normalize_dist(dist, at)
        if normalized in seen:
            raise spec_error(
                at,
                f"{label} maps {seen[normalized]!r} and {dist!r} to package indexes, which are the "
                f"same distribution ({normalized!r} after name normalization)",
                "keep only one of them",
            )
        seen[normalized] = dist
        known(index, at, f"{label} references an unknown package index {index!r} for {dist!r}")
        entries.append((dist, normalized, index))
    values["package_indexes"] = tuple(entries)

    pr_where = where.key("priority_indexes")
    priorities = expect_str_list(
        table.get("priority_indexes", []), pr_where, fix=keys["priority_indexes"].fix()
    )
    for i, name in enumerate(priorities):
        known(
            name,
            pr_where.item(i),
            f"{label} priority index list references an unknown package index {name!r}",
        )
    values["priority_indexes"] = tuple(dict.fromkeys(priorities))

    ov_where = where.key("index_overrides")
    overrides = expect_str_map(
        table.get("index_overrides", {}), ov_where, fix=keys["index_overrides"].fix()
    )
    for source, target in overrides.items():
        known(
            source, ov_where.key(source), f"{label} overrides an unknown package index {source!r}"
        )
        known(
            target,
            ov_where.key(source),
            f"{label} overrides {source!r} with an unknown package index {target!r}",
        )
    values["index_overrides"] = MappingProxyType(dict(overrides))
    return values


def _implementation(value: object, where: TomlPath, label: str) -> dict[str, str]:
    fix = 'write "<implementation>@<version>", such as "cpython@3.12" or "cpython@3.12.1"'
    text = expect_str(value, where, fix=fix)
    impl, at, version = text.partition("@")
    if not at:
        raise spec_error(where, f"python_implementation of {label} has no '@' ({text!r})", fix)
    implementation = impl.strip().lower()
    if implementation not in IMPLEMENTATIONS:
        raise spec_error(
            where,
            f"unknown Python implementation {impl!r} for {label} ({text!r})"
            f"{did_you_mean(implementation, IMPLEMENTATIONS)}",
            f'use one of {quoted_list(IMPLEMENTATIONS)}, such as "cpython@3.12"',
        )
    if not _PY_VERSION.fullmatch(version.strip()):
        raise spec_error(
            where,
            f"malformed Python version {version!r} in python_implementation of {label} ({text!r})",
            'give a Python 3 version as "3.Y" (the newest 3.Y found) or "3.Y.Z"',
        )
    return {
        "python_implementation": text,
        "implementation": implementation,
        "python_version": version.strip(),
    }


def _dependencies(
    table: TomlTable, where: TomlPath, label: str, kind: LayerKind
) -> dict[str, object]:
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
        return {
            "runtime": expect_str(table["runtime"], where.key("runtime"), fix=keys["runtime"].fix())
        }
    frameworks = expect_str_list(
        table["frameworks"], where.key("frameworks"), fix=keys["frameworks"].fix()
    )
    if not frameworks:
        raise spec_error(
            where.key("frameworks"),
            f"{label} must specify a runtime or at least one framework dependency "
            "(frameworks is empty)",
            f"list at least one framework, or replace it with {keys['runtime'].assignment()}",
        )
    return {"frameworks": frameworks}
