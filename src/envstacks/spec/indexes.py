"""A layer's package-index keys: check them, then merge them with its lower layers' choices.

A layer inherits the ``{distribution: index}`` choices of every layer below it. Frameworks
are merged in linearised (``sys.path``) order, the earlier winning; a later framework, or
the layer itself, that picks another index for the same distribution must declare it in
``index_overrides`` (``{index below = index used here}``), otherwise the stack would
install the distribution from two places.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from envstacks.spec.model import LayerKind
from envstacks.spec.validate_fields import (
    TomlPath,
    TomlTable,
    did_you_mean,
    expect_str_list,
    expect_str_map,
    quoted_list,
    spec_error,
)
from envstacks.spec.validate_keys import layer_keys
from envstacks.spec.validate_uv import normalize_dist

_KEYS = layer_keys(LayerKind.RUNTIME)


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexChoices:
    """A layer's own ``package_indexes``, ``priority_indexes`` and ``index_overrides``."""

    #: ``(dist as written, normalised dist, index name)`` in spec order.
    package_indexes: tuple[tuple[str, str, str], ...] = ()
    priority_indexes: tuple[str, ...] = ()
    index_overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def parse_index_keys(
    table: TomlTable, where: TomlPath, label: str, index_names: tuple[str, ...]
) -> IndexChoices:
    """Check that a layer's index keys are well formed and name defined indexes only."""
    uv_table = "tool.venvstacks.uv" if where.text.startswith("tool.venvstacks.") else "tool.uv"
    define = f"define it in a [[{uv_table}.index]] table or fix the name"
    defined = f"(defined indexes: {quoted_list(index_names)})"

    def known(name: str, at: TomlPath, problem: str) -> None:
        if name not in index_names:
            raise spec_error(at, f"{problem}{did_you_mean(name, index_names)} {defined}", define)

    pk_where = where.key("package_indexes")
    mapping = expect_str_map(
        table.get("package_indexes", {}),
        pk_where,
        fix=_KEYS["package_indexes"].fix(),
        owner=label,
    )
    entries: list[tuple[str, str, str]] = []
    seen: dict[str, str] = {}
    for dist, index in mapping.items():
        at = pk_where.key(dist)
        normalized = normalize_dist(dist, at)
        if normalized in seen:
            raise spec_error(
                at,
                f"{label} maps {seen[normalized]!r} and {dist!r} to package indexes, which are "
                f"the same distribution ({normalized!r} after name normalization)",
                "keep only one of them",
            )
        seen[normalized] = dist
        known(index, at, f"{label} references an unknown package index {index!r} for {dist!r}")
        entries.append((dist, normalized, index))

    pr_where = where.key("priority_indexes")
    priorities = expect_str_list(
        table.get("priority_indexes", []),
        pr_where,
        fix=_KEYS["priority_indexes"].fix(),
        owner=label,
    )
    for i, name in enumerate(priorities):
        known(
            name,
            pr_where.item(i),
            f"{label} priority index list references an unknown package index {name!r}",
        )

    ov_where = where.key("index_overrides")
    overrides = expect_str_map(
        table.get("index_overrides", {}),
        ov_where,
        fix=_KEYS["index_overrides"].fix(),
        owner=label,
    )
    for source, target in overrides.items():
        at = ov_where.key(source)
        known(source, at, f"{label} overrides an unknown package index {source!r}")
        known(target, at, f"{label} overrides {source!r} with an unknown package index {target!r}")
    return IndexChoices(
        package_indexes=tuple(entries),
        priority_indexes=tuple(dict.fromkeys(priorities)),
        index_overrides=MappingProxyType(dict(overrides)),
    )


def merge_package_indexes(
    *,
    label: str,
    where: TomlPath,
    own: Sequence[tuple[str, str, str]],
    overrides: Mapping[str, str],
    lower: Sequence[tuple[str, Mapping[str, str]]],
) -> dict[str, str]:
    """The merged ``{normalised dist: index}`` map of one layer.

    ``own`` holds the layer's entries as ``(dist as written, normalised dist, index)``;
    ``lower`` the merged maps of the layers it depends on, as ``(label, map)`` pairs: its
    runtime alone, or its frameworks in linearised order.
    """
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for lower_label, mapping in lower:
        for dist, index in mapping.items():
            if dist not in merged:
                merged[dist] = index
                origin[dist] = lower_label
                continue
            expected = merged[dist]
            if overrides.get(index, index) != expected:
                raise spec_error(
                    where.key("frameworks"),
                    f"{label} depends on layers with inconsistent package index overrides for "
                    f"{dist} ({origin[dist]} uses {expected!r}, {lower_label} uses {index!r})",
                    f"specify 'index_overrides = {{{index} = \"{expected}\"}}' to accept that "
                    f"{dist} comes from {expected!r}",
                )
    for raw, dist, index in own:
        if dist in merged:
            lower_index = merged[dist]
            if overrides.get(lower_index, lower_index) != index:
                raise spec_error(
                    where.key("package_indexes").key(raw),
                    f"{label} declares an inconsistent package index override for {raw} "
                    f"({index!r}, while {origin[dist]} uses {lower_index!r})",
                    f"specify 'index_overrides = {{{lower_index} = \"{index}\"}}' to accept it",
                )
        merged[dist] = index
    return merged
