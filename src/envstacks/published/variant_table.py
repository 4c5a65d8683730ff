"""Accelerator variants in the published format: each variant layer's fields and the manifest table.

A variant layer's metadata carries ``variant`` (envstacks' own key, absent elsewhere, so a
stack without variants publishes exactly what it did)::

    "variant": {"framework": "accel", "name": "gpu", "select": ["nvidia>=550"],
                "slot": "framework-accel"}

``select`` is empty for the fallback. Layers above such a framework are built against the
fallback (their ``required_layers`` name its install target) and reach it through the *slot*
folder, which deploy links to the variant it chooses. A manifest that lists variant layers
also has a top-level ``variants`` table (written from those fields, so merge and push carry
it)::

    "variants": {"accel": {"slot": "framework-accel", "fallback": "framework-accel-cpu",
                           "variants": [{"name": "gpu", "layer_name": "framework-accel-gpu",
                                         "select": ["nvidia>=550"]}, ...]}}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envstacks.floor.errors import DeployError
from envstacks.published.manifest import is_plain_name

#: The key of a variant layer's metadata.
VARIANT_KEY = "variant"
#: The manifest's top-level table.
VARIANTS_TABLE = "variants"


def variant_fields(framework: str, name: str, select: Sequence[str], slot: str) -> dict[str, Any]:
    """The ``variant`` metadata of a variant layer."""
    return {
        VARIANT_KEY: {"framework": framework, "name": name, "select": list(select), "slot": slot}
    }


def variants_table(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The manifest's ``variants`` table for ``layers`` (entries in manifest order; empty: none)."""
    table: dict[str, Any] = {}
    for data in layers:
        info = data.get(VARIANT_KEY)
        if not isinstance(info, Mapping):
            continue
        group = table.setdefault(
            str(info["framework"]), {"slot": info["slot"], "fallback": None, "variants": []}
        )
        if not info["select"]:
            group["fallback"] = data["layer_name"]
        if all(entry["name"] != info["name"] for entry in group["variants"]):
            group["variants"].append(
                {"name": info["name"], "layer_name": data["layer_name"], "select": info["select"]}
            )
    return table


@dataclass(frozen=True, slots=True, kw_only=True)
class Variant:
    """One variant of a published framework."""

    name: str
    layer_name: str
    #: Selector expressions, all of which must match (empty: the fallback).
    select: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class VariantGroup:
    """A published framework with variants."""

    framework: str
    #: The folder name layers above link through.
    slot: str
    #: Layer name of the fallback variant.
    fallback: str
    #: In spec order.
    variants: tuple[Variant, ...]

    def find(self, name: str) -> Variant | None:
        """The variant called ``name``."""
        return next((variant for variant in self.variants if variant.name == name), None)


def read_variants(data: Any, *, where: str) -> tuple[VariantGroup, ...]:
    """The ``variants`` table of a manifest (empty when it has none).

    Raises:
        DeployError: the table is malformed (a name is missing or not a plain name).
    """
    table = data.get(VARIANTS_TABLE) if isinstance(data, Mapping) else None
    if table is None:
        return ()
    try:
        groups = tuple(_group(str(framework), entry) for framework, entry in table.items())
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        problem = f"{exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
        raise DeployError(
            f"{where}: the variants table is damaged ({problem})",
            hint="republish the layers with envstacks",
        ) from exc
    return groups


def _group(framework: str, entry: Mapping[str, Any]) -> VariantGroup:
    slot, fallback = str(entry["slot"]), str(entry["fallback"])
    variants = tuple(
        Variant(
            name=str(item["name"]),
            layer_name=str(item["layer_name"]),
            select=tuple(str(text) for text in item.get("select", [])),
        )
        for item in entry["variants"]
    )
    names = [slot, fallback, *(variant.layer_name for variant in variants)]
    bad = [name for name in names if not is_plain_name(name)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a plain folder name")
    if all(variant.layer_name != fallback for variant in variants):
        raise ValueError(f"the fallback {fallback!r} of {framework!r} is not one of its variants")
    return VariantGroup(framework=framework, slot=slot, fallback=fallback, variants=variants)
