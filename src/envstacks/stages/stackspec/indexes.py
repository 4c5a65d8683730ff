"""Package indexes: uv's index tables and sources, a layer's index keys, and their merge.

The stack's uv settings define named indexes (``[[index]]``) and may pin distributions to
them (``sources``). A layer picks indexes for distributions (``package_indexes``), searches
some first (``priority_indexes``) and may accept another choice than a lower layer's
(``index_overrides``). A layer inherits the ``{distribution: index}`` choices of every layer
below it: frameworks are merged in linearised (``sys.path``) order, the earlier winning; a
later framework, or the layer itself, that picks another index for the same distribution
must declare it in ``index_overrides`` (``{index below = index used here}``), otherwise the
stack would install the distribution from two places.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from packaging.utils import canonicalize_name

from envstacks.floor.suggest import did_you_mean
from envstacks.stages.stackspec.fields import (
    TableView,
    TomlPath,
    expect_array,
    expect_bool,
    expect_str,
    expect_table,
    normalize_dist,
    quoted_list,
    show,
    spec_error,
    unknown_keys,
)
from envstacks.stages.stackspec.keys import INDEX_KEYS, OTHER_INDEX_KEYS

#: A layer's ``package_indexes`` entry: ``(dist as written, normalised dist, index name)``.
IndexChoice = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexChoices:
    """A layer's own ``package_indexes``, ``priority_indexes`` and ``index_overrides``."""

    #: In spec order.
    package_indexes: tuple[IndexChoice, ...] = ()
    priority_indexes: tuple[str, ...] = ()
    index_overrides: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class _Defined:
    """The indexes the uv settings define, and the uv table that defines them (for the fix)."""

    names: Sequence[str]
    uv_table: str

    def require(self, name: str, where: TomlPath, problem: str) -> None:
        """Fail unless ``name`` is a defined index; ``problem`` says who names it."""
        if name not in self.names:
            raise spec_error(
                where,
                f"{problem}{did_you_mean(name, self.names)} "
                f"(defined indexes: {quoted_list(self.names)})",
                f"define it in a [[{self.uv_table}.index]] table or fix the name",
            )


def _check_distinct(
    checked: Sequence[str], normalized: str, where: TomlPath, pair: Callable[[str], str]
) -> None:
    """Fail if one of the ``checked`` distribution names also normalises to ``normalized``.

    ``pair(earlier)`` names the two entries in the message.
    """
    earlier = next((dist for dist in checked if canonicalize_name(dist) == normalized), None)
    if earlier is not None:
        raise spec_error(
            where,
            f"{pair(earlier)} the same distribution ({normalized!r} after name normalization)",
            "keep only one of them",
        )


def parse_index_keys(layer: TableView, index_names: Sequence[str]) -> IndexChoices:
    """Check that a layer's index keys are well formed and name defined indexes only."""
    in_pyproject = layer.where.text.startswith("tool.venvstacks.")
    defined = _Defined(index_names, "tool.venvstacks.uv" if in_pyproject else "tool.uv")
    label = layer.owner
    mapping = layer.string_map("package_indexes")
    dists = tuple(mapping)
    entries = tuple(
        _package_index(layer, dists, i, mapping[dist], defined) for i, dist in enumerate(dists)
    )
    priorities = layer.strings("priority_indexes")
    for i, name in enumerate(priorities):
        problem = f"{label} priority index list references an unknown package index {name!r}"
        defined.require(name, layer.at("priority_indexes").item(i), problem)
    overrides = layer.string_map("index_overrides")
    for source, target in overrides.items():
        at = layer.at("index_overrides").key(source)
        defined.require(source, at, f"{label} overrides an unknown package index {source!r}")
        problem = f"{label} overrides {source!r} with an unknown package index {target!r}"
        defined.require(target, at, problem)
    return IndexChoices(
        package_indexes=entries,
        priority_indexes=tuple(dict.fromkeys(priorities)),
        index_overrides=MappingProxyType(overrides),
    )


def _package_index(
    layer: TableView, dists: Sequence[str], i: int, index: str, defined: _Defined
) -> IndexChoice:
    """Entry ``i`` of a layer's ``package_indexes``: a distribution named once, a known index."""
    dist = dists[i]
    at = layer.at("package_indexes").key(dist)
    normalized = normalize_dist(dist, at)
    _check_distinct(
        dists[:i],
        normalized,
        at,
        lambda earlier: (
            f"{layer.owner} maps {earlier!r} and {dist!r} to package indexes, which are"
        ),
    )
    problem = f"{layer.owner} references an unknown package index {index!r} for {dist!r}"
    defined.require(index, at, problem)
    return (dist, normalized, index)


def parse_index_tables(
    data: object, where: TomlPath
) -> tuple[tuple[Mapping[str, Any], ...], tuple[str, ...]]:
    """The ``[[index]]`` tables of uv settings, and warnings for keys envstacks does not know."""
    fix = f'write each index as a [[{where}]] table with name = "..." and url = "..."'
    items = expect_array(data, where, of="tables", fix=fix)
    indexes = tuple(_index_table(items, i, where, fix) for i in range(len(items)))
    known = (*INDEX_KEYS, *OTHER_INDEX_KEYS)
    warnings = tuple(
        f"{where.item(i).key(key)}: unknown uv index key {key!r}"
        f"{did_you_mean(key, known)}; it is passed to uv unchanged"
        for i, index in enumerate(indexes)
        for key in unknown_keys(index, known)
    )
    return indexes, warnings


def _index_table(items: Sequence[object], i: int, where: TomlPath, fix: str) -> Mapping[str, Any]:
    """Index table ``i``: a url, boolean flags, a name no earlier table has."""
    at = where.item(i)
    index = expect_table(items[i], at, fix=fix)
    if "url" not in index:
        raise spec_error(at, "index without a 'url'", fix)
    expect_str(index["url"], at.key("url"), fix=fix)
    for flag in ("explicit", "default"):
        if flag in index:
            expect_bool(index[flag], at.key(flag), fix=INDEX_KEYS[flag].fix())
    if "name" in index:
        name = expect_str(index["name"], at.key("name"), fix=fix)
        names = [item.get("name") if isinstance(item, Mapping) else None for item in items[:i]]
        if name in names:
            raise spec_error(
                at.key("name"),
                f"index name {name!r} is already used by {where.item(names.index(name))}",
                "give every index a distinct name",
            )
    return MappingProxyType(dict(index))


_SOURCE_FIX = 'write each source as dist = { index = "<index name>" }'


def parse_sources(data: object, where: TomlPath, index_names: Sequence[str]) -> dict[str, str]:
    """The ``sources`` of uv settings as ``{normalised dist: index name}``: index sources only."""
    table = expect_table(data, where, fix=_SOURCE_FIX)
    defined = _Defined(index_names, where.text.rpartition(".")[0] or "tool.uv")
    dists = tuple(table)
    return dict(_source(dists, i, table[dist], where, defined) for i, dist in enumerate(dists))


def _source(
    dists: Sequence[str], i: int, entry: object, where: TomlPath, defined: _Defined
) -> tuple[str, str]:
    """Source ``i`` as ``(normalised dist, index)``: an index source, a distribution once."""
    dist = dists[i]
    at = where.key(dist)
    normalized = normalize_dist(dist, at)
    if not isinstance(entry, Mapping) or set(entry) != {"index"}:
        raise spec_error(
            at,
            f"the uv source for {dist!r} must be an index source, not {show(entry)}",
            f"{_SOURCE_FIX}; layers are installed from locked wheels, so git, path and url "
            "sources (and markers) are not supported here",
        )
    index = expect_str(entry["index"], at.key("index"), fix=_SOURCE_FIX)
    problem = f"the uv source for {dist!r} references an unknown package index {index!r}"
    defined.require(index, at.key("index"), problem)
    _check_distinct(
        dists[:i], normalized, at, lambda earlier: f"sources {earlier!r} and {dist!r} name"
    )
    return normalized, index


def merge_package_indexes(
    *,
    label: str,
    where: TomlPath,
    own: Sequence[IndexChoice],
    overrides: Mapping[str, str],
    lower: Sequence[tuple[str, Mapping[str, str]]],
) -> dict[str, str]:
    """The merged ``{normalised dist: index}`` map of one layer.

    ``own`` holds the layer's ``package_indexes`` entries; ``lower`` the merged maps of the
    layers it depends on, as ``(label, map)`` pairs: its runtime alone, or its frameworks in
    linearised order.
    """
    inherited = _inherit(label, where, overrides, lower)
    for raw, dist, index in own:
        if dist not in inherited:
            continue
        lower_index, origin = inherited[dist]
        if overrides.get(lower_index, lower_index) != index:
            raise spec_error(
                where.key("package_indexes").key(raw),
                f"{label} declares an inconsistent package index override for {raw} "
                f"({index!r}, while {origin} uses {lower_index!r})",
                f"specify 'index_overrides = {{{lower_index} = \"{index}\"}}' to accept it",
            )
    return {
        **{dist: index for dist, (index, _) in inherited.items()},
        **{dist: index for _, dist, index in own},
    }


def _inherit(
    label: str,
    where: TomlPath,
    overrides: Mapping[str, str],
    lower: Sequence[tuple[str, Mapping[str, str]]],
) -> dict[str, tuple[str, str]]:
    """``{dist: (index, label of the lower layer that chose it)}``, the earlier layer winning.

    A later lower layer that chose another index must be reconciled by ``overrides``.
    """
    inherited: dict[str, tuple[str, str]] = {}
    for lower_label, mapping in lower:
        for dist, index in mapping.items():
            if dist not in inherited:
                inherited[dist] = (index, lower_label)
                continue
            expected, origin = inherited[dist]
            if overrides.get(index, index) != expected:
                raise spec_error(
                    where.key("frameworks"),
                    f"{label} depends on layers with inconsistent package index overrides for "
                    f"{dist} ({origin} uses {expected!r}, {lower_label} uses {index!r})",
                    f"specify 'index_overrides = {{{index} = \"{expected}\"}}' to accept that "
                    f"{dist} comes from {expected!r}",
                )
    return inherited
