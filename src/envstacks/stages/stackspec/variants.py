"""Accelerator variants of a framework: read ``[...frameworks.variants.<name>]`` and expand them.

A framework may declare variants once; each variant becomes a framework layer of its own
(``framework-<name>-<variant>``): the framework's keys, plus the variant's extra
``requirements``, ``package_indexes``, ``priority_indexes`` and ``index_overrides``. Exactly one
variant has no ``select``: the fallback. Layers above name the framework (``frameworks =
["accel"]``); they are locked and built against the fallback and deployed against the variant
a machine chooses, through the *slot*: a folder named like the framework without variants
(``framework-accel``) that deploy makes a link to the chosen variant.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from envstacks.floor.layer_kinds import LayerKind
from envstacks.stages.stackspec.fields import (
    TableView,
    TomlPath,
    check_keys,
    expect_str,
    expect_str_list,
    expect_table,
    quoted_list,
    spec_error,
)
from envstacks.stages.stackspec.indexes import IndexChoices, parse_index_keys
from envstacks.stages.stackspec.keys import KeyInfo

#: The key of a framework table that holds its variants.
VARIANTS_KEY = "variants"
_VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+]*")
#: ``name`` or ``name<op>value``: ``nvidia``, ``nvidia>=550``, ``cpu=x86-64-v3``.
SELECTOR = re.compile(
    r"(?P<name>[a-z][a-z0-9_-]*)\s*(?:(?P<op>>=|<=|==|!=|=|>|<)\s*(?P<value>[A-Za-z0-9][A-Za-z0-9_.+-]*))?"
)


def _variant_key(name: str, type_: str, default: str, doc: str, example: str) -> KeyInfo:
    return KeyInfo(name=name, type=type_, default=default, doc=doc, example=example)


#: The keys a variant table accepts.
VARIANT_KEYS: Mapping[str, KeyInfo] = MappingProxyType(
    {
        key.name: key
        for key in (
            _variant_key(
                "requirements",
                "array of strings",
                "[]",
                "Requirements of this variant, added to the framework's own.",
                '["torch==2.5.1"]',
            ),
            _variant_key(
                "package_indexes",
                "table of strings",
                "{}",
                "`{distribution = index name}` for this variant (added to the framework's).",
                '{ torch = "pytorch-cu124" }',
            ),
            _variant_key(
                "priority_indexes",
                "array of strings",
                "[]",
                "Named indexes searched first for this variant.",
                '["pytorch-cu124"]',
            ),
            _variant_key(
                "index_overrides",
                "table of strings",
                "{}",
                "`{lower index = index used here}` for this variant.",
                '{ pytorch-cpu = "pytorch-cu124" }',
            ),
            _variant_key(
                "select",
                "string or array of strings",
                "none (the fallback)",
                "When deploy chooses this variant: selectors such as `nvidia`, `nvidia>=550`, "
                "`rocm`, `cpu=x86-64-v3`, `env`; every one listed must match.",
                '"nvidia>=550"',
            ),
        )
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawVariant:
    """One variant table, checked on its own."""

    name: str
    where: TomlPath
    requirements: tuple[str, ...] = ()
    indexes: IndexChoices = dataclasses.field(default_factory=IndexChoices)
    #: Selector expressions, all of which must match (empty: the fallback).
    select: tuple[str, ...] = ()


#: Checks one requirement string: ``(text, where, owner) -> normalised text``.
RequirementCheck = Callable[[str, TomlPath, str], str]


def parse_variants(
    layer: TableView, index_names: Sequence[str], *, requirement: RequirementCheck
) -> tuple[RawVariant, ...]:
    """The variants of a framework table (empty when it declares none).

    ``requirement`` is the layers' requirement checker (``(text, where, label) -> str``).

    Raises:
        SpecError: a variant table or key is malformed, or there is not exactly one fallback.
    """
    if VARIANTS_KEY not in layer.data:
        return ()
    at = layer.at(VARIANTS_KEY)
    fix = f"write each variant as a [{at.text}.<variant name>] table"
    table = expect_table(layer.data[VARIANTS_KEY], at, fix=fix)
    if not table:
        raise spec_error(
            at, f"{layer.owner} declares no variant in its variants table", fix + ", or remove it"
        )
    variants = tuple(
        _variant(
            name,
            value,
            at.key(name),
            layer=layer,
            index_names=index_names,
            requirement=requirement,
        )
        for name, value in table.items()
    )
    fallbacks = [variant for variant in variants if not variant.select]
    if len(fallbacks) != 1:
        found = quoted_list([variant.name for variant in fallbacks]) if fallbacks else "none"
        raise spec_error(
            at,
            f"{layer.owner} needs exactly one fallback variant (one without 'select'); "
            f"found {found}",
            "leave 'select' out of exactly one variant: deploy uses it where no selector matches",
        )
    return variants


def _variant(
    name: str,
    value: object,
    where: TomlPath,
    *,
    layer: TableView,
    index_names: Sequence[str],
    requirement: RequirementCheck,
) -> RawVariant:
    if not _VARIANT_NAME.fullmatch(name) or len(name) > 40:
        raise spec_error(
            where,
            f"{layer.owner} has a variant named {name!r}, which cannot be part of a layer name",
            "name variants with letters, digits, '_', '.' and '+' (such as 'cpu' or 'cu124'), "
            "at most 40 characters",
        )
    table = expect_table(value, where, fix=f"write the variant as a [{where.text}] table")
    owner = f"variant {name!r} of {layer.owner}"
    check_keys(
        table,
        tuple(VARIANT_KEYS),
        where,
        what="variant key",
        fix=f"a variant accepts {quoted_list(list(VARIANT_KEYS))}",
    )
    view = TableView(data=dict(table), where=where, keys=VARIANT_KEYS, owner=owner)
    items = view.strings("requirements")
    requirements = tuple(
        requirement(item, view.at("requirements").item(i), owner) for i, item in enumerate(items)
    )
    return RawVariant(
        name=name,
        where=where,
        requirements=requirements,
        indexes=parse_index_keys(view, index_names),
        select=_select(view) if "select" in table else (),
    )


def _select(view: TableView) -> tuple[str, ...]:
    at = view.at("select")
    fix = 'write select = "nvidia", "nvidia>=550", "rocm", "cpu=x86-64-v3" or "env" (or a list)'
    value = view.data["select"]
    if isinstance(value, str):
        items = [expect_str(value, at, fix=fix, owner=view.owner)]
    else:
        items = list(expect_str_list(value, at, fix=fix, owner=view.owner))
    if not items:
        raise spec_error(
            at,
            f"{view.owner} has an empty select list",
            "remove 'select' to make this the fallback, or name a selector",
        )
    for i, item in enumerate(items):
        if SELECTOR.fullmatch(item.strip()) is None:
            spot = at if isinstance(value, str) else at.item(i)
            raise spec_error(spot, f"{view.owner} has a malformed selector {item!r}", fix)
    return tuple(item.strip() for item in items)


def variant_layer_name(framework: str, variant: str) -> str:
    """The layer name of a variant: ``accel`` and ``gpu`` give ``accel-gpu``."""
    return f"{framework}-{variant}"


def merged_indexes(base: IndexChoices, own: IndexChoices) -> IndexChoices:
    """The framework's index choices with a variant's added (the variant's win per dist)."""
    own_dists = {normalized for _, normalized, _ in own.package_indexes}
    kept = tuple(entry for entry in base.package_indexes if entry[1] not in own_dists)
    return IndexChoices(
        package_indexes=(*kept, *own.package_indexes),
        priority_indexes=tuple(dict.fromkeys((*own.priority_indexes, *base.priority_indexes))),
        index_overrides=MappingProxyType({**base.index_overrides, **own.index_overrides}),
    )


def slot_name(framework: str) -> str:
    """The folder layers above a framework with variants link to: ``framework-<name>``."""
    return LayerKind.FRAMEWORK.prefix + framework
