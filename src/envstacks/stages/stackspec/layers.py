"""One raw layer table -> RawLayer: its keys, name, legacy keys, lower layers and own values.

Cross-layer rules (references, platforms inherited from lower layers, index consistency)
are checked later, in ``stack.py``, once every layer has passed this stage.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from packaging.requirements import InvalidRequirement, Requirement

from envstacks._injected.postinstall import INTERPRETER_NAME, SCRIPT_NAME
from envstacks.floor.layer_kinds import LayerKind
from envstacks.floor.platforms import IMPLEMENTATIONS, TARGET_PLATFORMS
from envstacks.floor.suggest import did_you_mean
from envstacks.stages.stackspec.app_modules import AppModules, parse_app_modules
from envstacks.stages.stackspec.fields import (
    TableView,
    TomlPath,
    TomlTable,
    check_keys,
    expect_str,
    expect_str_list,
    expect_table,
    quoted_list,
    spec_error,
)
from envstacks.stages.stackspec.indexes import IndexChoices, parse_index_keys
from envstacks.stages.stackspec.keys import layer_keys, legacy_keys
from envstacks.stages.stackspec.postinstall_key import parse_postinstall_script, refuse_on_runtime
from envstacks.stages.stackspec.variants import RawVariant, parse_variants

#: macOS target when neither the spec nor ``MACOSX_DEPLOYMENT_TARGET`` gives one.
DEFAULT_MACOSX = "13.0"
_PY_VERSION = re.compile(r"3\.\d+(\.\d+)?((a|b|rc)\d+)?")
_LINUX_VERSION = re.compile(r"\d+\.\d+")
_MACOS_VERSION = re.compile(r"\d+(\.\d+)?")
#: The longest layer name, in UTF-8 bytes: file names derived from it (``pylock.framework-
#: <name>.meta.json`` and its temporary, ``<name>@<N>-<platform>-<build>.tar.zst`` and its
#: temporary) must stay under the 255 bytes file systems allow.
MAX_NAME_BYTES = 100
#: Characters Windows refuses in file names (layers are deployed there too).
_WINDOWS_RESERVED = frozenset('<>:"|?*')
_RESERVED_PREFIXES = tuple(kind.prefix for kind in LayerKind if kind.prefix)


class Implementation(NamedTuple):
    """A parsed ``python_implementation``: ``"cpython@3.12.1"``, ``"cpython"``, ``"3.12.1"``."""

    text: str
    name: str
    version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RawLayer:
    """One layer after its own keys are checked, before references are resolved."""

    kind: LayerKind
    where: TomlPath
    name: str
    requirements: tuple[str, ...] = ()
    #: ``None`` when the spec gives none (inferred later).
    platforms: tuple[str, ...] | None = None
    versioned: bool = False
    linux_target: str = "glibc@2.28"
    macosx_target: str = DEFAULT_MACOSX
    dynlib_exclude: tuple[str, ...] = ()
    precompile: bool = True
    #: ``None`` when the spec gives none (the kind's default).
    scripts: tuple[str, ...] | None = None
    indexes: IndexChoices = field(default_factory=IndexChoices)
    #: Runtimes only.
    implementation: Implementation | None = None
    runtime: str | None = None
    #: ``None`` when the key is absent.
    frameworks: tuple[str, ...] | None = None
    modules: AppModules = field(default_factory=AppModules)
    #: Frameworks and applications only (absolute).
    postinstall_script: Path | None = None
    #: Frameworks only: the declared variants (empty: none).
    variants: tuple[RawVariant, ...] = ()
    #: Set on the layers a framework's variants expand to: ``(framework, variant)``.
    variant_of: tuple[str, str] | None = None
    #: Selectors of an expanded variant layer.
    select: tuple[str, ...] = ()
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
    where: TomlPath,
    root: Path,
    index_names: Sequence[str],
    precompile: bool = True,
) -> RawLayer:
    """Check one layer table of ``kind`` found at ``where`` (relative paths against ``root``).

    ``precompile`` is the stack's setting, the default of the layer's own key.
    """
    refuse_on_runtime(data, kind, where)
    layer, warnings = _layer_table(data, kind, where)
    # The first problem found is the one reported: platforms and lower layers are checked
    # first, then the keys in the order of the fields below.
    platforms = _platforms(layer) if "platforms" in layer.data else None
    runtime, frameworks = (None, None) if kind is LayerKind.RUNTIME else _lower_layers(layer)
    return RawLayer(
        kind=kind,
        where=where,
        name=layer.data["name"],
        requirements=_requirements(layer),
        platforms=platforms,
        versioned=layer.flag("versioned"),
        linux_target=_linux_target(layer),
        macosx_target=_macosx_target(layer),
        dynlib_exclude=layer.strings("dynlib_exclude"),
        precompile=layer.flag("precompile") if "precompile" in layer.data else precompile,
        scripts=_scripts(layer) if "scripts" in layer.data else None,
        indexes=parse_index_keys(layer, index_names),
        implementation=_implementation(layer) if kind is LayerKind.RUNTIME else None,
        runtime=runtime,
        frameworks=frameworks,
        modules=parse_app_modules(layer, root) if kind is LayerKind.APPLICATION else AppModules(),
        postinstall_script=parse_postinstall_script(layer, root),
        variants=parse_variants(layer, index_names, requirement=_requirement)
        if kind is LayerKind.FRAMEWORK
        else (),
        warnings=warnings,
    )


def _layer_table(
    data: object, kind: LayerKind, where: TomlPath
) -> tuple[TableView, tuple[str, ...]]:
    """The layer's table with known keys, a good name and legacy keys converted, and warnings."""
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
            where, f"missing 'name' in {kind.value} layer", f'add name = "<{kind.value} name>"'
        )
    name = _name(table["name"], where.key("name"), kind)
    label = f"{kind.value} {name!r}"
    current, warnings = _without_legacy_keys(table, where, label, name)
    for key in (k for k, info in keys.items() if info.required):
        if key not in current:
            empty = " (or [] when the layer needs no packages)" if key == "requirements" else ""
            raise spec_error(
                where,
                f"{label} is missing the required key {key!r}",
                f"add {keys[key].assignment()}{empty}",
            )
    return TableView(data=current, where=where, keys=keys, owner=label), warnings


def _array(where: TomlPath) -> str:
    """The array-of-tables a layer path belongs to: ``tool.venvstacks.frameworks``."""
    return where.text.rpartition("[")[0]


def _without_legacy_keys(
    table: TomlTable, where: TomlPath, label: str, name: str
) -> tuple[TomlTable, tuple[str, ...]]:
    """Drop ``build_requirements`` and rename ``fully_versioned_name``, with warnings."""
    dropped = (
        f"{where.key('build_requirements')}: Dropping legacy field 'build_requirements' for "
        f"layer {name!r}; it has no effect (layers install wheels only), remove it"
    )
    renamed = (
        f"{where.key('fully_versioned_name')}: Converting legacy field name "
        f"'fully_versioned_name' to 'python_implementation' for layer {name!r}; rename the key"
    )
    if "fully_versioned_name" in table and "python_implementation" in table:
        raise spec_error(
            where,
            f"{label} sets both 'fully_versioned_name' ({table['fully_versioned_name']!r}) "
            f"and 'python_implementation' ({table['python_implementation']!r})",
            "remove the legacy 'fully_versioned_name'",
        )
    current = {
        "python_implementation" if key == "fully_versioned_name" else key: value
        for key, value in table.items()
        if key != "build_requirements"
    }
    warnings = (
        *([dropped] if "build_requirements" in table else []),
        *([renamed] if "fully_versioned_name" in table else []),
    )
    return current, warnings


def _name(value: object, where: TomlPath, kind: LayerKind) -> str:
    """The layer name at ``where``, or a SpecError saying why it cannot name a layer folder."""
    fix = 'use letters, digits, "-", "_", "." and "@", such as "cpython-3.12" or "my-app"'
    name = expect_str(value, where, fix=fix, allow_empty=True)
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise spec_error(
            where,
            f"{kind.value} name {name[:24]!r}... is {size} bytes long; layer names may be at "
            f"most {MAX_NAME_BYTES} bytes (UTF-8), as they become parts of file and folder "
            "names (lock files, archives, temporary names), which file systems limit",
            "use a shorter name",
        )
    problem = _name_problem(name)
    if problem:
        raise spec_error(where, f"{kind.value} name {name!r} {problem}", fix)
    prefix = next((p for p in _RESERVED_PREFIXES if name.lower().startswith(p)), None)
    if kind is LayerKind.RUNTIME and prefix is not None:
        raise spec_error(
            where,
            f"runtime name {name!r} starts with the reserved prefix {prefix!r}, so its "
            "build name would look like (or clash with) the build name of "
            f"{'a framework' if prefix == 'framework-' else 'an application'}",
            'rename the runtime, for instance after its Python version ("cpython-3.12")',
        )
    return name


def _name_problem(name: str) -> str:
    if not name:
        return "is empty"
    if name != name.strip():
        return "starts or ends with whitespace"
    if "/" in name or "\\" in name:
        return "contains a path separator ('/' or '\\'); a layer name must be a single folder name"
    if name.startswith("."):
        return "starts with '.' (hidden, or '..' which leaves the folder)"
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        return "contains a control character"
    bad = sorted(_WINDOWS_RESERVED.intersection(name))
    if bad:
        return f"contains {', '.join(repr(c) for c in bad)}, not allowed in Windows folder names"
    if name.endswith("."):
        return "ends with '.', which Windows drops from folder names"
    return ""


def _lower_layers(layer: TableView) -> tuple[str | None, tuple[str, ...] | None]:
    """``(runtime, frameworks)`` of a framework or application: exactly one of them is set."""
    use_runtime = layer.keys["runtime"].assignment()
    key = layer.one_of(
        "runtime",
        "frameworks",
        both=(
            f"{layer.owner} must specify a runtime or framework dependencies, not both (runtime: "
            f"{layer.data.get('runtime')!r}; frameworks: {layer.data.get('frameworks')!r})",
            "drop runtime: a layer with frameworks runs on their runtime",
        ),
        neither=(
            f"{layer.owner} must specify a runtime or at least one framework dependency",
            f"add {use_runtime} or {layer.keys['frameworks'].assignment()}",
        ),
    )
    if key == "runtime":
        return layer.string("runtime"), None
    frameworks = layer.strings("frameworks")
    if not frameworks:
        raise spec_error(
            layer.at("frameworks"),
            f"{layer.owner} must specify a runtime or at least one framework dependency "
            "(frameworks is empty)",
            f"list at least one framework, or replace it with {use_runtime}",
        )
    return None, frameworks


def _requirements(layer: TableView) -> tuple[str, ...]:
    """PEP 508 requirements, normalised (``"numpy >= 2"`` becomes ``"numpy>=2"``)."""
    at = layer.at("requirements")
    items = layer.strings("requirements")
    return tuple(_requirement(item, at.item(i), layer.owner) for i, item in enumerate(items))


def _requirement(text: str, where: TomlPath, label: str) -> str:
    try:
        return str(Requirement(text))
    except InvalidRequirement as error:
        # packaging explains on the first line and draws a caret under the spot on the last.
        explanation, *rest = str(error).splitlines()
        column = rest[-1].find("^") - 3 if rest and "^" in rest[-1] else 0
        at = f" at column {column}" if column > 0 else ""
        raise spec_error(
            where,
            f"{label} uses invalid requirement syntax ({text!r}): {explanation}{at}",
            'write a PEP 508 requirement such as "numpy>=2,<3" or "torch; sys_platform == '
            "'linux'\"",
        ) from None


def _scripts(layer: TableView) -> tuple[str, ...]:
    """Entry-point script names: plain names for ``bin/``, not the interpreter's, no repeats."""
    fix = 'list entry-point script names, such as scripts = ["normalizer"], or [] for none'
    at = layer.at("scripts")
    names = expect_str_list(layer.data["scripts"], at, fix=fix, owner=layer.owner)
    for i, name in enumerate(names):
        if SCRIPT_NAME.fullmatch(name) is None:
            raise spec_error(
                at.item(i),
                f"{layer.owner} lists {name!r} in scripts, which cannot name a file in bin/ "
                "(letters, digits, '.', '_', '-' and '+' only, not starting with '.' or '-')",
                fix,
            )
        if INTERPRETER_NAME.fullmatch(name):
            raise spec_error(
                at.item(i),
                f"{layer.owner} lists {name!r} in scripts, the name of the layer's interpreter",
                "leave the python* names to the interpreter; list only entry-point scripts",
            )
    return tuple(dict.fromkeys(names))


def _platforms(layer: TableView) -> tuple[str, ...]:
    """Target platform names, known and without repeats, in spec order."""
    expected = sorted(TARGET_PLATFORMS)
    fix = f"use platform names among {quoted_list(expected)}, or [] to disable the layer"
    at = layer.at("platforms")
    items = expect_str_list(layer.data["platforms"], at, fix=fix, owner=layer.owner)
    for i, item in enumerate(items):
        if item not in TARGET_PLATFORMS:
            raise spec_error(
                at.item(i),
                f"{layer.owner} specifies an invalid target platform ({item!r} given, expected "
                f"{expected}){did_you_mean(item, expected)}",
                fix,
            )
    return tuple(dict.fromkeys(items))


def _linux_target(layer: TableView) -> str:
    """``"glibc"`` or ``"glibc@X.Y"``, as written."""
    fix = 'write "glibc" (glibc 2.28) or "glibc@X.Y", such as "glibc@2.34"'
    at = layer.at("linux_target")
    value = layer.data.get("linux_target", "glibc@2.28")
    text = expect_str(value, at, fix=fix, allow_empty=True, owner=layer.owner)
    variant, sep, version = text.partition("@")
    if variant != "glibc":
        raise spec_error(
            at,
            f"Linux libc variant of {layer.owner} must be one of ['glibc'], not {variant!r}",
            fix,
        )
    if sep and not _LINUX_VERSION.fullmatch(version):
        raise spec_error(
            at,
            f"Linux libc version of {layer.owner} must be of the form 'X.Y', not {version!r}",
            fix,
        )
    return text


def _macosx_target(layer: TableView) -> str:
    """``"X"`` or ``"X.Y"``; when absent, ``MACOSX_DEPLOYMENT_TARGET`` or ``"13.0"``."""
    fix = 'write "X" or "X.Y", such as "13.0"'
    at = layer.at("macosx_target")
    if "macosx_target" not in layer.data:
        # venvstacks' default: the caller's deployment target, so the wheels chosen match what
        # the local toolchain would build.
        env = os.environ.get("MACOSX_DEPLOYMENT_TARGET", "").strip()
        if env and not _MACOS_VERSION.fullmatch(env):
            raise spec_error(
                at,
                f"{layer.owner} has no macosx_target, and the default from the environment "
                f"variable MACOSX_DEPLOYMENT_TARGET is not a macOS version ({env!r})",
                f"set macosx_target explicitly or fix the variable ({fix})",
            )
        return env or DEFAULT_MACOSX
    text = expect_str(layer.data["macosx_target"], at, fix=fix, owner=layer.owner)
    if not _MACOS_VERSION.fullmatch(text):
        raise spec_error(
            at, f"macosx_target of {layer.owner} is not a macOS version ({text!r})", fix
        )
    return text


def _implementation(layer: TableView) -> Implementation:
    """A ``"<implementation>@<version>"`` request for a known implementation and Python 3."""
    fix = 'write "<implementation>@<version>", such as "cpython@3.12" or "cpython@3.12.1"'
    at = layer.at("python_implementation")
    label = layer.owner
    text = expect_str(layer.data["python_implementation"], at, fix=fix, owner=label)
    impl, sep, version = text.partition("@")
    if not sep:
        raise spec_error(at, f"python_implementation of {label} has no '@' ({text!r})", fix)
    name = impl.strip().lower()
    if name not in IMPLEMENTATIONS:
        raise spec_error(
            at,
            f"unknown Python implementation {impl!r} for {label} ({text!r})"
            f"{did_you_mean(name, IMPLEMENTATIONS)}",
            f'use one of {quoted_list(IMPLEMENTATIONS)}, such as "cpython@3.12"',
        )
    if not _PY_VERSION.fullmatch(version.strip()):
        raise spec_error(
            at,
            f"malformed Python version {version!r} in python_implementation of {label} ({text!r})",
            'give a Python 3 version as "3.Y" (the newest 3.Y found) or "3.Y.Z"',
        )
    return Implementation(text=text, name=name, version=version.strip())
