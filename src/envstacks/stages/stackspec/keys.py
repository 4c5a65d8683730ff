"""The keys the spec loader accepts, with type, default, meaning and example: one table for all.

The loader's unknown-key checks and its "write it like ..." fixes read these tables, and
``docs/configuration.md`` is tested against them, so a key cannot be accepted without being
documented (or the reverse).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from envstacks.floor.layer_kinds import LayerKind
from envstacks.stages.stackspec.model import SourceFormat

#: The default shown for keys that must be given.
REQUIRED = "required"

_ALL_KINDS = frozenset(LayerKind)
_LAYERED = frozenset({LayerKind.FRAMEWORK, LayerKind.APPLICATION})
_RUNTIME = frozenset({LayerKind.RUNTIME})
_APPLICATION = frozenset({LayerKind.APPLICATION})


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


def _key(
    name: str,
    type: str,
    default: str,
    doc: str,
    *,
    example: str = "",
    kinds: frozenset[LayerKind] = frozenset(),
) -> KeyInfo:
    """A KeyInfo; the example defaults to the default, ``required`` follows from it."""
    return KeyInfo(
        name=name,
        type=type,
        default=default,
        doc=doc,
        example=example or default,
        required=default == REQUIRED,
        kinds=kinds,
    )


def _index(keys: Iterable[KeyInfo]) -> Mapping[str, KeyInfo]:
    return MappingProxyType({key.name: key for key in keys})


#: ``[tool.venvstacks]`` settings (hyphenated, like other ``[tool.*]`` tables).
SETTINGS_KEYS: Mapping[str, KeyInfo] = _index(
    [
        _key(
            "build-dir",
            "path",
            '"_build"',
            "Folder for the layer build environments, the generated lock projects "
            "(`<layer>_resolve/`) and the records of the last builds.",
        ),
        _key(
            "output-dir",
            "path",
            '"dist/venvstacks"',
            "Where `publish` writes the layer archives and their `__venvstacks__/` metadata. "
            'A standalone `venvstacks.toml` uses `"_artifacts"`, as venvstacks does.',
        ),
        _key(
            "export-dir",
            "path",
            '"_export"',
            "Where `local-export` puts the exported, ready-to-run layers.",
        ),
        _key(
            "requirements-dir",
            "path",
            '"requirements"',
            "The committed lock files: "
            "`<requirements-dir>/<build name>/pylock.<build name>.toml` and its `.meta.json`.",
        ),
        _key(
            "archive-format",
            "string",
            '"tar.zst"',
            "The archive format `publish` uses unless told otherwise. The name is checked when "
            "publishing, against the formats the installed plugins offer (`tar.xz`, `zip`, "
            "`tar.zst` are built in). A standalone `venvstacks.toml` uses what venvstacks "
            'publishes: `"tar.xz"`, or `"zip"` on Windows.',
            example='"tar.xz"',
        ),
        _key(
            "compression",
            "string or integer",
            '"default"',
            'How hard `publish` compresses archives unless told otherwise: `"fast"`, '
            '`"default"`, `"max"` (for releases: `tar.zst` at zstd level 22 with a 128 MiB '
            "long window, archives about the size of `xz -9`'s that still unpack several times "
            "faster) or the format's own level number (zstd 1-22, xz 0-9, zip 0-9). The same "
            "tree and level always give the same archive; any level deploys. See "
            "[Compression](#compression).",
            example='"max"',
        ),
        _key(
            "runtime-provider",
            "string",
            '"auto"',
            'How runtime layers get their Python: `"uv-managed"` (python-build-standalone '
            'through uv), `"local"` (a CPython already on this machine, made relocatable), '
            '`"auto"` (managed when a download is possible, else local) or the name of a '
            "third-party provider plugin.",
            example='"local"',
        ),
        _key(
            "precompile",
            "boolean",
            "true",
            "Byte-compile every layer once, when it is built, with its runtime's interpreter, "
            "and ship the `__pycache__` files in archives and exports, so deploying does not "
            "compile and applications start warm. Each layer's `precompile` key overrides it. "
            "Archives grow (see [Deploying](deploy.md#precompiled-layers)).",
            example="false",
        ),
        _key(
            "python-search-path",
            "array of paths",
            "[]",
            "Extra folders searched for local interpreters, before the built-in places "
            "(pyenv, uv-managed installs, `/usr/local`).",
            example='["~/.pyenv/versions"]',
        ),
    ]
)


def venvstacks_defaults(os_name: str = os.name) -> Mapping[str, object]:
    """Where a standalone ``venvstacks.toml`` keeps venvstacks' own defaults.

    Its output folder, and the archives venvstacks' consumers read: ``tar.xz``, or ``zip`` on
    Windows (the documented deploy procedure opens them with Python's ``tarfile`` and
    ``zipfile``; ``tarfile`` reads zstd only from Python 3.14).
    """
    return MappingProxyType(
        {"output-dir": "_artifacts", "archive-format": "zip" if os_name == "nt" else "tar.xz"}
    )


def setting_defaults(source_format: SourceFormat) -> Mapping[str, object]:
    """The settings' defaults as Python values: the TOML values the docs show, parsed."""
    shown = {key: tomllib.loads(f"v = {info.default}")["v"] for key, info in SETTINGS_KEYS.items()}
    own = venvstacks_defaults() if source_format == "venvstacks" else {}
    return MappingProxyType({**shown, **own})


#: Every layer key, with the kinds that accept it.
LAYER_KEYS: tuple[KeyInfo, ...] = (
    _key(
        "name",
        "string",
        REQUIRED,
        "The layer's name, unique within its kind and usable as one folder name (no `/`, "
        "`\\`, `..`, leading `.`, control or Windows-reserved characters). The build name "
        "adds the kind's prefix: `<name>`, `framework-<name>`, `app-<name>`; a runtime name "
        "may not start with `framework-` or `app-`.",
        example='"cpython-3.12"',
        kinds=_ALL_KINDS,
    ),
    _key(
        "requirements",
        "array of strings",
        REQUIRED,
        "PEP 508 requirements installed into the layer (may be `[]`). Packages that lower "
        "layers already provide are shared, not installed again.",
        example='["numpy>=2"]',
        kinds=_ALL_KINDS,
    ),
    _key(
        "platforms",
        "array of strings",
        "inferred",
        "Target platforms, among `linux_aarch64`, `linux_x86_64`, `macosx_arm64`, "
        "`macosx_x86_64`, `win_amd64`, `win_arm64`. A runtime defaults to all six; other "
        "layers to the platforms every lower layer supports, and an explicit list must be a "
        "subset of those. `[]` disables the layer and every layer above it.",
        example='["linux_x86_64"]',
        kinds=_ALL_KINDS,
    ),
    _key(
        "versioned",
        "boolean",
        "false",
        "Deploy as `<build name>@<lock version>`, the version going up each time the lock "
        "changes, so several versions can be installed side by side.",
        example="true",
        kinds=_ALL_KINDS,
    ),
    _key(
        "linux_target",
        "string",
        '"glibc@2.28"',
        'The oldest glibc the layer supports: `"glibc"` (2.28) or `"glibc@X.Y"`; selects the '
        "`manylinux_X_Y` wheels.",
        example='"glibc@2.34"',
        kinds=_ALL_KINDS,
    ),
    _key(
        "macosx_target",
        "string",
        '`$MACOSX_DEPLOYMENT_TARGET`, else `"13.0"`',
        'The oldest macOS the layer supports, `"X"` or `"X.Y"`; set as '
        "`MACOSX_DEPLOYMENT_TARGET` when installing and checking wheels.",
        example='"14.0"',
        kinds=_ALL_KINDS,
    ),
    _key(
        "dynlib_exclude",
        "array of strings",
        "[]",
        "Glob patterns (matched against the end of the path) of shared libraries this "
        'layer does not publish to the layers above; `["*"]` publishes none. POSIX only.',
        example='["PIL/**/libpng16.*"]',
        kinds=_ALL_KINDS,
    ),
    _key(
        "package_indexes",
        "table of strings",
        "{}",
        "`{distribution = index name}`: install these distributions from these named "
        "indexes. Inherited by every layer above, which must agree (or say so in "
        "`index_overrides`).",
        example='{ torch = "pytorch-cpu" }',
        kinds=_ALL_KINDS,
    ),
    _key(
        "priority_indexes",
        "array of strings",
        "[]",
        "Named indexes searched first (made non-explicit) for this layer only.",
        example='["pytorch-cpu"]',
        kinds=_ALL_KINDS,
    ),
    _key(
        "index_overrides",
        "table of strings",
        "{}",
        "`{lower index = index used here}`: accept that this layer installs a distribution "
        "from another index than a lower layer does.",
        example='{ pytorch-cpu = "pytorch-cu128" }',
        kinds=_ALL_KINDS,
    ),
    _key(
        "precompile",
        "boolean",
        "the `precompile` setting (`true`)",
        "Ship this layer byte-compiled: its `__pycache__` files are made when it is built and "
        "carried into its archive and exports (`postinstall.py` compiles only what is missing). "
        "`false` keeps the archive smaller and leaves compiling to `postinstall.py`.",
        example="false",
        kinds=_ALL_KINDS,
    ),
    _key(
        "scripts",
        "array of strings",
        "an application's: every script of its distributions; other layers: `[]`",
        "The `console_scripts` and `gui_scripts` entry points that become `bin/<name>` "
        "launchers when the layer is deployed or exported, running with this layer's "
        "interpreter. The names may come from the layer's own distributions or from lower "
        "layers'; `[]` makes none.",
        example='["normalizer"]',
        kinds=_ALL_KINDS,
    ),
    _key(
        "python_implementation",
        "string",
        REQUIRED,
        '`"<implementation>@<version>"`: `cpython` or `pypy`, version `X.Y` (newest found) '
        "or `X.Y.Z`.",
        example='"cpython@3.12.1"',
        kinds=_RUNTIME,
    ),
    _key(
        "runtime",
        "string",
        "one of `runtime`/`frameworks`",
        "The runtime the layer runs on directly (give this or `frameworks`, not both).",
        example='"cpython-3.12"',
        kinds=_LAYERED,
    ),
    _key(
        "frameworks",
        "array of strings",
        "one of `runtime`/`frameworks`",
        "Frameworks the layer builds on (non-empty; a framework may only name frameworks "
        "defined above it). They must share one runtime, which the layer then uses; their "
        "order on `sys.path` is their C3 linearisation.",
        example='["scipy"]',
        kinds=_LAYERED,
    ),
    _key(
        "launch_module",
        "path",
        "one of `launch_module`/`run_module`",
        "A `.py` file or a package folder with `__main__.py`, relative to the spec's folder, "
        "copied into the layer and run as `python -m <stem>`.",
        example='"launch/my_app.py"',
        kinds=_APPLICATION,
    ),
    _key(
        "run_module",
        "string",
        "one of `launch_module`/`run_module`",
        "A dotted module name from an installed distribution (the project's own package, "
        "for instance), run as `python -m <run_module>`. New in envstacks.",
        example='"my_app.cli"',
        kinds=_APPLICATION,
    ),
    _key(
        "support_modules",
        "array of paths",
        "[]",
        "Files or package folders, relative to the spec's folder, copied into the layer "
        "beside the launch module. Their names must differ from each other and from the "
        "launch module (and from the top package of `run_module`).",
        example='["launch/helpers.py"]',
        kinds=_APPLICATION,
    ),
    _key(
        "variants",
        "table of tables",
        "{}",
        "Accelerator variants of a framework, one `[...variants.<name>]` table each, with "
        "extra `requirements`, index keys and `select` (exactly one variant without `select`: "
        "the fallback). Each becomes the layer `framework-<name>-<variant>`; see "
        "[Variants](variants.md). New in envstacks.",
        example='{ cpu = {}, gpu = { requirements = ["accel-gpu"], select = "nvidia" } }',
        kinds=frozenset({LayerKind.FRAMEWORK}),
    ),
    _key(
        "postinstall_script",
        "path",
        "none",
        "A `.py` file, relative to the spec's folder, copied into the layer "
        "(`share/venv/postinstall/`) and run by `deploy` and `local-export` with the layer's "
        "own interpreter after the layer is configured, given the layer's folder as its first "
        "argument and in `ENVSTACKS_LAYER_PATH`; a failure stops the deploy and leaves the "
        "layer for the next one to install again. `--no-postinstall` skips it. New in envstacks.",
        example='"deploy/fetch_models.py"',
        kinds=_LAYERED,
    ),
)

#: Keys venvstacks once accepted: ``{key: (kinds, replacement or None)}``.
LEGACY_LAYER_KEYS: Mapping[str, tuple[frozenset[LayerKind], str | None]] = MappingProxyType(
    {
        "build_requirements": (_ALL_KINDS, None),
        "fully_versioned_name": (_RUNTIME, "python_implementation"),
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
    return _index(key for key in LAYER_KEYS if kind in key.kinds)


def legacy_keys(kind: LayerKind) -> tuple[str, ...]:
    """The legacy keys a layer of ``kind`` still accepts, with a warning."""
    return tuple(key for key, (kinds, _) in LEGACY_LAYER_KEYS.items() if kind in kinds)


#: The uv keys envstacks reads itself (the rest is passed to uv unchanged).
UV_KEYS: Mapping[str, KeyInfo] = _index(
    [
        _key(
            "index",
            "array of tables",
            "[]",
            "uv's package indexes. Layers refer to them by `name` in `package_indexes`, "
            "`priority_indexes` and `index_overrides`; an index that is `explicit` is only "
            "used by the layers that name it.",
            example='[{ name = "pytorch-cpu", url = "https://download.pytorch.org/whl/cpu", '
            "explicit = true }]",
        ),
        _key(
            "sources",
            "table",
            "{}",
            "`{distribution = { index = name }}` for every layer. Only index sources are "
            "allowed (layers are installed from wheels); names are compared after PEP 503 "
            "normalisation.",
            example='{ torch = { index = "pytorch-cpu" } }',
        ),
    ]
)

#: Keys of one ``[[index]]`` table that envstacks checks.
INDEX_KEYS: Mapping[str, KeyInfo] = _index(
    [
        _key(
            "name",
            "string",
            "none",
            "The name layers use to refer to the index; unique.",
            example='"pytorch-cpu"',
        ),
        _key(
            "url",
            "string",
            REQUIRED,
            "The index URL (or a local path).",
            example='"https://pypi.org/simple"',
        ),
        _key(
            "explicit",
            "boolean",
            "false",
            "Only use the index for distributions pinned to it.",
            example="true",
        ),
        _key(
            "default",
            "boolean",
            "false",
            "Use the index instead of PyPI as the fallback.",
            example="true",
        ),
    ]
)

#: Other ``[[index]]`` keys uv knows; passed through without checks.
OTHER_INDEX_KEYS = ("format", "publish-url", "authenticate", "ignore-error-codes", "cache-control")

#: uv settings (``[tool.uv]`` and ``uv.toml``) known when this was written; others only warn.
KNOWN_UV_SETTINGS: frozenset[str] = frozenset(
    # A block of words reads better than 67 one-word lines.
    """
    add-bounds allow-insecure-host build-backend build-constraint-dependencies cache-dir
    cache-keys check-url compile-bytecode concurrent-builds concurrent-downloads
    concurrent-installs config-settings config-settings-package conflicts
    constraint-dependencies default-groups dependency-groups dependency-metadata
    dev-dependencies environments exclude-newer exclude-newer-package extra-build-dependencies
    extra-build-variables extra-index-url find-links fork-strategy http-proxy https-proxy
    index-strategy index-url keyring-provider link-mode managed native-tls no-binary
    no-binary-package no-build no-build-isolation no-build-isolation-package no-build-package
    no-cache no-index no-proxy no-sources offline override-dependencies package pip prerelease
    preview publish-url pypy-install-mirror python-downloads python-downloads-json-url
    python-install-mirror python-preference reinstall reinstall-package required-environments
    required-version resolution torch-backend trusted-publishing upgrade upgrade-package
    workspace
    """.split()  # noqa: SIM905
).union(UV_KEYS)
