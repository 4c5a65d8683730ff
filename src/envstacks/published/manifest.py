"""Read a published manifest (``__venvstacks__/venvstacks*.json``) and select the layers to deploy.

Manifests written by venvstacks load too: envstacks' extra fields (``archive_format``,
``tree_hashes``, ``unpacked_size``, ``unpacked_entries``) are optional. Names from a manifest
become paths and URLs, so they are checked to be plain names before anything else uses them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from envstacks.floor.errors import DeployError, SelectionError
from envstacks.floor.layer_kinds import LayerKind

#: The manifest's ``layers`` keys, lowest kind first.
KIND_KEYS: tuple[tuple[str, LayerKind], ...] = (
    ("runtimes", LayerKind.RUNTIME),
    ("frameworks", LayerKind.FRAMEWORK),
    ("applications", LayerKind.APPLICATION),
)
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestLayer:
    """One published layer as the manifest describes it."""

    kind: LayerKind
    layer_name: str
    install_target: str
    archive_name: str
    archive_size: int
    archive_sha256: str
    runtime_layer: str
    required_layers: tuple[str, ...] = ()
    target_platform: str | None = None
    #: envstacks' extra fields (absent in venvstacks manifests).
    archive_format: str | None = None
    tree_sha256: str | None = None
    #: Bytes of file content and entries the archive unpacks to (``None``: not recorded).
    unpacked_size: int | None = None
    unpacked_entries: int | None = None
    #: The manifest entry as published.
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def depends_on(self) -> tuple[str, ...]:
        """Install targets of the layers this one needs: the runtime, then its frameworks."""
        if self.runtime_layer == self.install_target:
            return ()
        return (self.runtime_layer, *self.required_layers)


def _field(entry: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = entry.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
        raise DeployError(
            f"{where}.{key}: expected {kind.__name__}, found {value!r}",
            hint="the manifest is damaged or was not written by envstacks/venvstacks publish",
        )
    return value


def is_plain_name(value: str) -> bool:
    """Whether ``value`` can only name a direct child of a folder: no separator, no ``..``."""
    return _PLAIN_NAME.fullmatch(value) is not None and ".." not in value


def _name(entry: Mapping[str, Any], key: str, where: str) -> str:
    value: str = _field(entry, key, str, where)
    if not is_plain_name(value):
        raise DeployError(
            f"{where}.{key}: {value!r} is not a plain file name",
            hint="the manifest may have been tampered with; republish the layers",
        )
    return value


def is_export_manifest(data: Any) -> bool:
    """Whether a manifest lists layers without archives: the one ``local-export`` writes."""
    layers_table = data.get("layers") if isinstance(data, Mapping) else None
    if not isinstance(layers_table, Mapping):
        return False
    entries = [
        entry
        for key, _ in KIND_KEYS
        for entry in (layers_table.get(key) or [])
        if isinstance(entry, Mapping)
    ]
    return bool(entries) and all(
        "install_target" in entry and "archive_name" not in entry for entry in entries
    )


def parse_manifest(data: Any, *, where: str) -> tuple[ManifestLayer, ...]:
    """The layers a manifest lists, runtimes first.

    Raises:
        DeployError: a field is missing, of the wrong type, or not a plain name.
    """
    layers_table = data.get("layers") if isinstance(data, Mapping) else None
    if not isinstance(layers_table, Mapping):
        raise DeployError(f"{where}: no 'layers' table; this is not a venvstacks manifest")
    layers: list[ManifestLayer] = []
    for key, kind in KIND_KEYS:
        entries = layers_table.get(key, [])
        if not isinstance(entries, list):
            raise DeployError(f"{where}: layers.{key} must be a list, found {entries!r}")
        for index, entry in enumerate(entries):
            spot = f"{where}: layers.{key}[{index}]"
            if not isinstance(entry, Mapping):
                raise DeployError(f"{spot}: expected a table, found {entry!r}")
            layers.append(_layer(entry, kind, spot))
    return tuple(layers)


def _layer(entry: Mapping[str, Any], kind: LayerKind, spot: str) -> ManifestLayer:
    """One manifest entry, checked field by field (``spot`` names it in messages)."""
    hashes = _field(entry, "archive_hashes", dict, spot)
    sha256 = hashes.get("sha256")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise DeployError(f"{spot}.archive_hashes.sha256: expected 64 hex digits, found {sha256!r}")
    required = entry.get("required_layers", [])
    if not isinstance(required, list):
        raise DeployError(f"{spot}.required_layers: expected a list, found {required!r}")
    tree = entry.get("tree_hashes", {})
    tree_sha = tree.get("sha256") if isinstance(tree, Mapping) else None
    fmt = entry.get("archive_format")
    platform = entry.get("target_platform")
    return ManifestLayer(
        unpacked_size=_optional_count(entry, "unpacked_size", spot),
        unpacked_entries=_optional_count(entry, "unpacked_entries", spot),
        kind=kind,
        layer_name=_field(entry, "layer_name", str, spot),
        install_target=_name(entry, "install_target", spot),
        archive_name=_name(entry, "archive_name", spot),
        archive_size=_field(entry, "archive_size", int, spot),
        archive_sha256=sha256.lower(),
        runtime_layer=_name(entry, "runtime_layer", spot),
        required_layers=tuple(
            _name({"required_layers": name}, "required_layers", spot) for name in required
        ),
        target_platform=platform if isinstance(platform, str) else None,
        archive_format=fmt if isinstance(fmt, str) else None,
        tree_sha256=tree_sha if isinstance(tree_sha, str) else None,
        metadata=dict(entry),
    )


def _optional_count(entry: Mapping[str, Any], key: str, spot: str) -> int | None:
    """An optional non-negative integer field (envstacks' unpacked bounds)."""
    if key not in entry:
        return None
    value = entry[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DeployError(
            f"{spot}.{key}: expected a non-negative integer, found {value!r}",
            hint="the manifest is damaged or was tampered with; republish the layers",
        )
    return value


def select_layers(
    layers: Sequence[ManifestLayer], include: Sequence[str], *, where: str
) -> tuple[ManifestLayer, ...]:
    """The layers matching ``include`` (all when empty) plus those they need, dependencies first.

    Patterns match install targets (``app-x@2``) and layer names (``app-x``) with fnmatch.

    Raises:
        SelectionError: a pattern matches no layer.
        DeployError: a selected layer needs a layer the manifest does not list.
    """
    by_target = {layer.install_target: layer for layer in layers}
    ordered: list[ManifestLayer] = []

    def visit(layer: ManifestLayer, trail: tuple[str, ...]) -> None:
        if layer in ordered:
            return
        if layer.install_target in trail:
            raise DeployError(
                f"{where}: layers depend on each other in a cycle: {' -> '.join(trail)}"
            )
        for name in layer.depends_on:
            needed = by_target.get(name)
            if needed is None:
                raise DeployError(
                    f"{where}: layer {layer.install_target!r} needs {name!r}, "
                    "which the manifest does not list",
                    hint="publish the missing layer into the same output folder",
                )
            visit(needed, (*trail, layer.install_target))
        ordered.append(layer)

    for layer in _matching(layers, include, where=where) if include else layers:
        visit(layer, ())
    return tuple(ordered)


def _matching(
    layers: Sequence[ManifestLayer], include: Sequence[str], *, where: str
) -> list[ManifestLayer]:
    """The layers any pattern matches, in pattern order; every pattern must match one."""
    chosen: list[ManifestLayer] = []
    missing: list[str] = []
    for pattern in include:
        hits = [
            layer
            for layer in layers
            if fnmatch.fnmatchcase(layer.install_target, pattern)
            or fnmatch.fnmatchcase(layer.layer_name, pattern)
        ]
        if not hits:
            missing.append(pattern)
        chosen.extend(hit for hit in hits if hit not in chosen)
    if missing:
        published = ", ".join(sorted(layer.install_target for layer in layers))
        raise SelectionError(
            f"{where}: no published layer matches {', '.join(repr(p) for p in missing)} "
            f"(published: {published})",
            hint="patterns match layer names ('app-*') and deployed names ('app-x@2')",
        )
    return chosen
