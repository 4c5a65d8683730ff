"""The keys the spec loader accepts, with type, default and meaning: one table for parsing and docs.

The loader's unknown-key checks read these tables, and ``docs/configuration.md`` is tested
against them, so a key cannot be accepted without being documented (or the reverse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from envstacks.spec.model import LayerKind

_ALL_KINDS = frozenset(LayerKind)
_LAYERED = frozenset({LayerKind.FRAMEWORK, LayerKind.APPLICATION})


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyInfo:
    """One accepted key: its TOML type, default, meaning and an example value."""

    name: str
    #: The TOML type as the docs state it (``"string"``, ``"array of strings"``...).
    type: str
    #: The default as the docs show it; ``"required"`` for required keys.
    default: str
    doc: str
    #: A valid TOML value for the key, used in "write it like ..." fixes and in tests.
    example: str
    required: bool = False
    #: The layer kinds that accept the key (settings keys: empty).
    kinds: frozenset[LayerKind] = frozenset()

    def assignment(self) -> str:
        """The key set to its example value: ``requirements = ["numpy>=2"]``."""
        return f"{self.name} = {self.example}"

    def fix(self) -> str:
        """The generic "write it like this" advice for the key."""
        return f"write it like {self.assignment()}"


def _index(*keys: KeyInfo) -> Mapping[str, KeyInfo]:
    return MappingProxyType({key.name: key for key in keys})


#: ``[tool.venvstacks]`` settings (hyphenated, like other ``[tool.*]`` tables).
SETTINGS_KEYS: Mapping[str, KeyInfo] = _index(
    KeyInfo(
        name="build-dir",
        type="path",
        default='"_build"',
        example='"_build"',
        doc="Folder for the layer build environments, the generated lock projects "
        "(`<layer>_resolve/`) and the records of the last builds.",
    ),
    KeyInfo(
        name="output-dir",
        type="path",
        default='"dist/venvstacks"',
        example='"dist/venvstacks"',
        doc="Where `publish` writes the layer archives and their `__venvstacks__/` metadata. "
        'A standalone `venvstacks.toml` uses `"_artifacts"`, as venvstacks does.',
    ),
    KeyInfo(
        name="export-dir",
        type="path",
        default='"_export"',
        example='"_export"',
        doc="Where `local-export` puts the exported, ready-to-run layers.",
    ),
    KeyInfo(
        name="requirements-dir",
        type="path",
        default='"requirements"',
        example='"requirements"',
        doc="The committed lock files: `<requirements-dir>/<build name>/pylock.<build name>.toml` "
        "and its `.meta.json`.",
    ),
    KeyInfo(
        name="archive-format",
        type="string",
        default='"tar.zst"',
        example='"tar.xz"',
        doc="The archive format `publish` uses unless told otherwise. The name is checked when "
        "publishing, against the formats the installed plugins offer (`tar.xz`, `zip`, "
        "`tar.zst` are built in).",
    ),
    KeyInfo(
        name="runtime-provider",
        type="string",
        default='"auto"',
        example='"local"',
        doc='How runtime layers get their Python: `"uv-managed"` (python-build-standalone '
        'through uv), `"local"` (a CPython already on this machine, made relocatable), '
        '`"auto"` (managed when a download is possible, else local) or the name of a '
        "third-party provider plugin.",
    ),
    KeyInfo(
        name="python-search-path",
        type="array of paths",
        default="[]",
        example='["~/.pyenv/versions"]',
        doc="Extra folders searched for local interpreters, before the built-in places "
        "(pyenv, uv-managed installs, `/usr/local`).",
    ),
)

#: Path-valued settings: relative to the spec's folder, ``~`` expanded.
PATH_SETTINGS = frozenset({"build-dir", "output-dir", "export-dir", "requirements-dir"})

#: Defaults of settings as Python values, per spec format.
SETTINGS_DEFAULTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "pyproject": MappingProxyType(
            {
                "build-dir": "_build",
                "output-dir": "dist/venvstacks",
                "export-dir": "_export",
                "requirements-dir": "requirements",
                "archive-format": "tar.zst",
                "runtime-provider": "auto",
            }
        ),
        "venvstacks": MappingProxyType(
            {
                "build-dir": "_build",
                "output-dir": "_artifacts",
                "export-dir": "_export",
                "requirements-dir": "requirements",
                "archive-format": "tar.zst",
                "runtime-provider": "auto",
            }
        ),
    }
)

#: Every layer key, with the kinds that accept it.
LAYER_KEYS: tuple[KeyInfo, ...] = (
    KeyInfo(
        name="name",
        type="string",
        default="required",
        example='"cpython-3.12"',
        required=True,
        kinds=_ALL_KINDS,
        doc="The layer's name, unique within its kind and usable as one folder name (no `/`, "
        "`\\`, `..`, leading `.`, control or Windows-reserved characters). The build name "
        "adds the kind's prefix: `<name>`, `framework-<name>`, `app-<name>`; a runtime name "
        "may not start with `framework-` or `app-`.",
    ),
    KeyInfo(
        name="requirements",
        type="array of strings",
        default="required",
        example='["numpy>=2"]',
        required=True,
        kinds=_ALL_KINDS,
        doc="PEP 508 requirements installed into the layer (may be `[]`). Packages that lower "
        "layers already provide are shared, not installed again.",
    ),
    KeyInfo(
        name="platforms",
        type="array of strings",
        default="inferred",
        example='["linux_x86_64"]',
        kinds=_ALL_KINDS,
        doc="Target platforms, among `linux_aarch64`, `linux_x86_64`, `macosx_arm64`, "
        "`macosx_x86_64`, `win_amd64`, `win_arm64`. A runtime defaults to all six; other "
        "layers to the platforms every lower layer supports, and an explicit list must be a "
        "subset of those. `[]` disables the layer and every layer above it.",
    ),
    KeyInfo(
        name="versioned",
        type="boolean",
        default="false",
        example="true",
        kinds=_ALL_KINDS,
        doc="Deploy as `<build name>@<lock version>`, the version going up each time the lock "
        "changes, so several versions can be installed side by side.",
    ),
    KeyInfo(
        name="linux_target",
        type="string",
        default='"glibc@2.28"',
        example='"glibc@2.34"',
        kinds=_ALL_KINDS,
        doc='The oldest glibc the layer supports: `"glibc"` (2.28) or `"glibc@X.Y"`; selects the '
        "`manylinux_X_Y` wheels.",
    ),
    KeyInfo(
        name="macosx_target",
        type="string",
        default='`$MACOSX_DEPLOYMENT_TARGET`, else `"13.0"`',
        example='"14.0"',
        kinds=_ALL_KINDS,
        doc='The oldest macOS the layer supports, `"X"` or `"X.Y"`; set as '
        "`MACOSX_DEPLOYMENT_TARGET` when installing and checking wheels.",
    ),
    KeyInfo(
        name="dynlib_exclude",
        type="array of strings",
        default="[]",
        example='["PIL/**/libpng16.*"]',
        kinds=_ALL_KINDS,
        doc="Glob patterns (matched against the end of the path) of shared libraries this "
        'layer does not publish to the layers above; `["*"]` publishes none. POSIX only.',
    ),
    KeyInfo(
        name="package_indexes",
        type="table of strings",
        default="{}",
        example='{ torch = "pytorch-cpu" }',
        kinds=_ALL_KINDS,
        doc="`{distribution = index name}`: install these distributions from these named "
        "indexes. Inherited by every layer above, which must agree (or say so in "
        "`index_overrides`).",
    ),
    KeyInfo(
        name="priority_indexes",
        type="array of strings",
        default="[]",
        example='["pytorch-cpu"]',
        kinds=_ALL_KINDS,
        doc="Named indexes searched first (made non-explicit) for this layer only.",
    ),
    KeyInfo(
        name="index_overrides",
        type="table of strings",
        default="{}",
        example='{ pytorch-cpu = "pytorch-cu128" }',
        kinds=_ALL_KINDS,
        doc="`{lower index = index used here}`: accept that this layer installs a distribution "
        "from another index than a lower layer does.",
    ),
    KeyInfo(
        name="python_implementation",
        type="string",
        default="required",
        example='"cpython@3.12.1"',
        required=True,
        kinds=frozenset({LayerKind.RUNTIME}),
        doc='`"<implementation>@<version>"`: `cpython` or `pypy`, version `X.Y` (newest found) '
        "or `X.Y.Z`.",
    ),
    KeyInfo(
        name="runtime",
        type="string",
        default="one of `runtime`/`frameworks`",
        example='"cpython-3.12"',
        kinds=_LAYERED,
        doc="The runtime the layer runs on directly (give this or `frameworks`, not both).",
    ),
    KeyInfo(
        name="frameworks",
        type="array of strings",
        default="one of `runtime`/`frameworks`",
        example='["scipy"]',
        kinds=_LAYERED,
        doc="Frameworks the layer builds on (non-empty; a framework may only name frameworks "
        "defined above it). They must share one runtime, which the layer then uses; their "
        "order on `sys.path` is their C3 linearisation.",
    ),
    KeyInfo(
        name="launch_module",
        type="path",
        default="one of `launch_module`/`run_module`",
        example='"launch/my_app.py"',
        kinds=frozenset({LayerKind.APPLICATION}),
        doc="A `.py` file or a package folder with `__main__.py`, relative to the spec's folder, "
        "copied into the layer and run as `python -m <stem>`.",
    ),
    KeyInfo(
        name="run_module",
        type="string",
        default="one of `launch_module`/`run_module`",
        example='"my_app.cli"',
        kinds=frozenset({LayerKind.APPLICATION}),
        doc="A dotted module name from an installed distribution (the project's own package, "
        "for instance), run as `python -m <run_module>`. New in envstacks.",
    ),
    KeyInfo(
        name="support_modules",
        type="array of paths",
        default="[]",
        example='["launch/helpers.py"]',
        kinds=frozenset({LayerKind.APPLICATION}),
        doc="Files or package folders, relative to the spec's folder, copied into the layer "
        "beside the launch module. Their names must differ from each other and from the "
        "launch module (and from the top package of `run_module`).",
    ),
)

#: Keys venvstacks once accepted: ``{key: (kinds, replacement or None)}``.
LEGACY_LAYER_KEYS: Mapping[str, tuple[frozenset[LayerKind], str | None]] = MappingProxyType(
    {
        "build_requirements": (_ALL_KINDS, None),
        "fully_versioned_name": (frozenset({LayerKind.RUNTIME}), "python_implementation"),
    }
)

#: Top-level keys of a standalone ``venvstacks.toml``.
VENVSTACKS_TOP_LEVEL_KEYS: tuple[str, ...] = ("runtimes", "frameworks", "applications", "tool")

#: The layer arrays, inside ``[tool.venvstacks]`` or at the top of ``venvstacks.toml``.
LAYER_TABLES: tuple[str, ...] = tuple(kind.table for kind in LayerKind)

#: Keys of ``[tool.venvstacks]`` that are tables rather than settings.
PYPROJECT_TABLE_KEYS: tuple[str, ...] = ("uv", *LAYER_TABLES)


def layer_keys(kind: LayerKind) -> Mapping[str, KeyInfo]:
    """The keys a layer of ``kind`` accepts (without legacy keys)."""
    return _index(*(key for key in LAYER_KEYS if kind in key.kinds))


def legacy_keys(kind: LayerKind) -> tuple[str, ...]:
    """The legacy keys a layer of ``kind`` still accepts, with a warning."""
    return tuple(key for key, (kinds, _) in LEGACY_LAYER_KEYS.items() if kind in kinds)
