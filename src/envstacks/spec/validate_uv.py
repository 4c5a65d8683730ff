"""Validate the stack's baseline uv settings (indexes, sources, pass-through keys) into UvConfig.

uv evolves faster than envstacks, so a key this module does not know only produces a
warning; the structure envstacks relies on (named indexes and index-only sources) is
checked strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from packaging.utils import InvalidName, canonicalize_name

from envstacks.spec.model import UvConfig
from envstacks.spec.validate_fields import (
    TomlPath,
    did_you_mean,
    expect_bool,
    expect_str,
    expect_table,
    kind_of,
    quoted_list,
    show,
    spec_error,
)
from envstacks.spec.validate_keys import KeyInfo

#: The uv keys envstacks reads itself (the rest is passed to uv unchanged).
UV_KEYS: Mapping[str, KeyInfo] = MappingProxyType(
    {
        "index": KeyInfo(
            name="index",
            type="array of tables",
            default="[]",
            example='[{ name = "pytorch-cpu", url = "https://download.pytorch.org/whl/cpu", '
            "explicit = true }]",
            doc="uv's package indexes. Layers refer to them by `name` in `package_indexes`, "
            "`priority_indexes` and `index_overrides`; an index that is `explicit` is only used "
            "by the layers that name it.",
        ),
        "sources": KeyInfo(
            name="sources",
            type="table",
            default="{}",
            example='{ torch = { index = "pytorch-cpu" } }',
            doc="`{distribution = { index = name }}` for every layer. Only index sources are "
            "allowed (layers are installed from wheels); names are compared after PEP 503 "
            "normalisation.",
        ),
    }
)

#: Keys of one ``[[index]]`` table that envstacks checks.
INDEX_KEYS: Mapping[str, KeyInfo] = MappingProxyType(
    {
        "name": KeyInfo(
            name="name",
            type="string",
            default="none",
            example='"pytorch-cpu"',
            doc="The name layers use to refer to the index; unique.",
        ),
        "url": KeyInfo(
            name="url",
            type="string",
            default="required",
            example='"https://pypi.org/simple"',
            required=True,
            doc="The index URL (or a local path).",
        ),
        "explicit": KeyInfo(
            name="explicit",
            type="boolean",
            default="false",
            example="true",
            doc="Only use the index for distributions pinned to it.",
        ),
        "default": KeyInfo(
            name="default",
            type="boolean",
            default="false",
            example="true",
            doc="Use the index instead of PyPI as the fallback.",
        ),
    }
)

#: Other ``[[index]]`` keys uv knows; passed through without checks.
_OTHER_INDEX_KEYS = ("format", "publish-url", "authenticate", "ignore-error-codes", "cache-control")

#: uv settings (``[tool.uv]`` and ``uv.toml``) known when this was written; others only warn.
KNOWN_UV_SETTINGS: frozenset[str] = frozenset(
    {
        "add-bounds",
        "allow-insecure-host",
        "build-backend",
        "build-constraint-dependencies",
        "cache-dir",
        "cache-keys",
        "check-url",
        "compile-bytecode",
        "concurrent-builds",
        "concurrent-downloads",
        "concurrent-installs",
        "config-settings",
        "config-settings-package",
        "conflicts",
        "constraint-dependencies",
        "default-groups",
        "dependency-groups",
        "dependency-metadata",
        "dev-dependencies",
        "environments",
        "exclude-newer",
        "exclude-newer-package",
        "extra-build-dependencies",
        "extra-build-variables",
        "extra-index-url",
        "find-links",
        "fork-strategy",
        "http-proxy",
        "https-proxy",
        "index-strategy",
        "index-url",
        "keyring-provider",
        "link-mode",
        "managed",
        "native-tls",
        "no-binary",
        "no-binary-package",
        "no-build",
        "no-build-isolation",
        "no-build-isolation-package",
        "no-build-package",
        "no-cache",
        "no-index",
        "no-proxy",
        "no-sources",
        "offline",
        "override-dependencies",
        "package",
        "pip",
        "prerelease",
        "preview",
        "publish-url",
        "pypy-install-mirror",
        "python-downloads",
        "python-downloads-json-url",
        "python-install-mirror",
        "python-preference",
        "reinstall",
        "reinstall-package",
        "required-environments",
        "required-version",
        "resolution",
        "torch-backend",
        "trusted-publishing",
        "upgrade",
        "upgrade-package",
        "workspace",
        *UV_KEYS,
    }
)


def parse_uv_config(
    data: object, where: TomlPath, *, origin: str
) -> tuple[UvConfig, tuple[str, ...]]:
    """Check a uv settings table and split it into indexes, sources and pass-through settings.

    Returns the config and the warnings (unknown keys). ``where`` is the table's TOML path
    (``tool.venvstacks.uv``), ``origin`` what the user should look at (a path or a file).
    """
    table = expect_table(
        data, where, fix="write uv settings as a table, in the form of uv's [tool.uv]"
    )
    warnings: list[str] = []
    for key in table:
        if key not in KNOWN_UV_SETTINGS:
            warnings.append(
                f"{where.key(key)}: unknown uv setting {key!r}"
                f"{did_you_mean(key, KNOWN_UV_SETTINGS)}; it is passed to uv unchanged "
                "(remove it if it is a typo)"
            )
    indexes, index_warnings = _parse_indexes(table.get("index", []), where.key("index"))
    warnings.extend(index_warnings)
    if not where.text:
        # A uv.toml-style file: its paths start at its top level, so name the file.
        warnings = [f"{origin}: {warning}" for warning in warnings]
    names = tuple(str(index["name"]) for index in indexes if "name" in index)
    sources = _parse_sources(table.get("sources", {}), where.key("sources"), names)
    settings = {key: value for key, value in table.items() if key not in UV_KEYS}
    config = UvConfig(
        settings=MappingProxyType(settings),
        indexes=indexes,
        sources=MappingProxyType(sources),
        origin=origin,
    )
    return config, tuple(warnings)


def _parse_indexes(
    data: object, where: TomlPath
) -> tuple[tuple[Mapping[str, Any], ...], tuple[str, ...]]:
    fix = f'write each index as a [[{where}]] table with name = "..." and url = "..."'
    if not isinstance(data, list):
        raise spec_error(
            where, f"expected an array of tables, got {kind_of(data)} {show(data)}", fix
        )
    indexes: list[Mapping[str, Any]] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        item_where = where.item(i)
        index = expect_table(item, item_where, fix=fix)
        for key in index:
            if key not in INDEX_KEYS and key not in _OTHER_INDEX_KEYS:
                warnings.append(
                    f"{item_where.key(key)}: unknown uv index key {key!r}"
                    f"{did_you_mean(key, (*INDEX_KEYS, *_OTHER_INDEX_KEYS))}; it is passed to "
                    "uv unchanged"
                )
        if "url" not in index:
            raise spec_error(item_where, "index without a 'url'", fix)
        expect_str(index["url"], item_where.key("url"), fix=fix)
        for flag in ("explicit", "default"):
            if flag in index:
                expect_bool(index[flag], item_where.key(flag), fix=INDEX_KEYS[flag].fix())
        if "name" in index:
            name = expect_str(index["name"], item_where.key("name"), fix=fix)
            if name in seen:
                raise spec_error(
                    item_where.key("name"),
                    f"index name {name!r} is already used by {where.item(seen[name])}",
                    "give every index a distinct name",
                )
            seen[name] = i
        indexes.append(MappingProxyType(dict(index)))
    return tuple(indexes), tuple(warnings)


def _parse_sources(data: object, where: TomlPath, index_names: tuple[str, ...]) -> dict[str, str]:
    fix = 'write each source as dist = { index = "<index name>" }'
    table = expect_table(data, where, fix=fix)
    sources: dict[str, str] = {}
    raw_names: dict[str, str] = {}
    for dist, entry in table.items():
        entry_where = where.key(dist)
        normalized = normalize_dist(dist, entry_where)
        if not isinstance(entry, Mapping) or set(entry) != {"index"}:
            raise spec_error(
                entry_where,
                f"the uv source for {dist!r} must be an index source, not {show(entry)}",
                f"{fix}; layers are installed from locked wheels, so git, path and url "
                "sources (and markers) are not supported here",
            )
        index = expect_str(entry["index"], entry_where.key("index"), fix=fix)
        if index not in index_names:
            raise spec_error(
                entry_where.key("index"),
                f"the uv source for {dist!r} references an unknown package index {index!r}"
                f"{did_you_mean(index, index_names)} (defined indexes: "
                f"{quoted_list(index_names)})",
                f"define it in a [[{where.text.rpartition('.')[0] or 'tool.uv'}.index]] table or "
                "fix the name",
            )
        if normalized in sources:
            raise spec_error(
                entry_where,
                f"sources {raw_names[normalized]!r} and {dist!r} name the same distribution "
                f"({normalized!r} after name normalization)",
                "keep only one of them",
            )
        sources[normalized] = index
        raw_names[normalized] = dist
    return sources


def normalize_dist(name: str, where: TomlPath) -> str:
    """The PEP 503 normalised form of a distribution name, or a SpecError if it is not one."""
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise spec_error(
            where,
            f"{name!r} is not a valid distribution name",
            "use the name the package is published under (letters, digits, '-', '_', '.')",
        ) from None
