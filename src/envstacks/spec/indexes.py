"""Merge each layer's package_indexes with its lower layers' and enforce their consistency.

A layer inherits the ``{distribution: index}`` choices of every layer below it. Frameworks
are merged in linearised (``sys.path``) order, the earlier winning; a later framework, or
the layer itself, that picks another index for the same distribution must declare it in
``index_overrides`` (``{index below = index used here}``), otherwise the stack would
install the distribution from two places.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from envstacks.spec.validate_fields import TomlPath, spec_error


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
