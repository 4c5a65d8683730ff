"""A publish folder as venvstacks defines it: its file names, the snippets, the manifest.

Each published layer has an archive, a snippet
``__venvstacks__/env_metadata/<layer_name>[-<platform>].json`` and an entry in the manifest
``__venvstacks__/venvstacks[-<platform>].json`` (names tagged with the platform under
``--tag-outputs``; reference §3.9.1-§3.9.2). envstacks adds fields, which venvstacks
consumers ignore: ``archive_format``; ``tree_hashes``, the hash of the normalised file tree
(the same for every format and compression level, so recompressing keeps a layer's
identity); ``build_inputs_hash``, what the layer's build was made from;
``archive_compression``, what the archive is compressed with, when not its format's default
(``"zstd level 22, 128 MiB long window"``: readers need not know it); ``unpacked_size`` and
``unpacked_entries``, the bytes of file content and the entries the archive unpacks to, which
deploy enforces (:mod:`envstacks.published.unpack_limits`); ``file_index``, the name, size and
sha256 of the layer's file index (:mod:`envstacks.published.file_index`); ``deltas``, the
delta archives that turn earlier versions into this one
(:mod:`envstacks.published.delta_recipe`); ``sbom``, the name, size and sha256 of the layer's
CycloneDX SBOM in ``__venvstacks__/sbom/`` (:mod:`envstacks.published.layer_sbom`).

The manifest lists every layer currently published in the folder for the platform (read back
from the snippets whose archives are present), not only the layers of the last run, so a
deploy can always use it. Reading a manifest is :mod:`envstacks.published.manifest`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from envstacks.floor.fs import read_json, remove_stale_temporaries
from envstacks.floor.layer_kinds import LayerKind
from envstacks.published.variant_table import VARIANTS_TABLE, variants_table

#: Folder (inside an output, export or deploy folder) that holds envstacks/venvstacks metadata.
METADATA_DIR = "__venvstacks__"
#: Folder inside :data:`METADATA_DIR` with one snippet (and file index) per published layer.
SNIPPET_DIR = "env_metadata"
#: Folder inside :data:`METADATA_DIR` with one SBOM per published layer archive
#: (:mod:`envstacks.published.layer_sbom`).
SBOM_DIR = "sbom"
#: Fields only known once the archive is written: left out of the build request.
OUTPUT_FIELDS = (
    "archive_size",
    "archive_hashes",
    "tree_hashes",
    "unpacked_size",
    "unpacked_entries",
    "file_index",
    "deltas",
    "sbom",
)
#: The manifest's ``layers`` keys by kind, in the order venvstacks writes them.
KIND_KEYS = {
    LayerKind.APPLICATION: "applications",
    LayerKind.FRAMEWORK: "frameworks",
    LayerKind.RUNTIME: "runtimes",
}


def manifest_names(platform: str | None) -> tuple[str, ...]:
    """Manifest file names to look for, most specific first."""
    tagged = (f"venvstacks-{platform}.json",) if platform else ()
    return (*tagged, "venvstacks.json")


class HashMemo(Protocol):
    """Remembered archive hashes (packing's hash cache is one)."""

    def matches(self, archive: Path, expected: object) -> bool:
        """Whether ``archive``'s sha256 is ``expected`` (reading it only when it changed)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishFolder:
    """A folder of published layers for one platform, and the names of its files."""

    output_dir: Path
    platform: str
    #: Add ``-<platform>-<archive_build>`` to archive names and the platform to metadata names.
    tag_outputs: bool = False

    @property
    def metadata_dir(self) -> Path:
        """``<output>/__venvstacks__``."""
        return self.output_dir / METADATA_DIR

    @property
    def manifest_path(self) -> Path:
        """Where the manifest goes: ``__venvstacks__/venvstacks[-<platform>].json``."""
        name = f"venvstacks-{self.platform}.json" if self.tag_outputs else "venvstacks.json"
        return self.metadata_dir / name

    def archive_name(self, install_target: str, *, suffix: str, build: int) -> str:
        """``<install_target><suffix>``; tagged: ``<install_target>-<platform>-<build><suffix>``."""
        if self.tag_outputs:
            return f"{install_target}-{self.platform}-{build}{suffix}"
        return f"{install_target}{suffix}"

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove what dead runs left in the folder and its metadata folders; what was removed."""
        return [
            path
            for place in (self.output_dir, self.metadata_dir, self.snippet_dir, self.sbom_dir)
            for path in remove_stale_temporaries(place)
        ]

    @property
    def snippet_dir(self) -> Path:
        """``<output>/__venvstacks__/env_metadata``."""
        return self.metadata_dir / SNIPPET_DIR

    @property
    def sbom_dir(self) -> Path:
        """``<output>/__venvstacks__/sbom``."""
        return self.metadata_dir / SBOM_DIR

    def snippet_path(self, layer_name: str) -> Path:
        """Where a layer's snippet goes: ``env_metadata/<layer_name>[-<platform>].json``."""
        stem = f"{layer_name}-{self.platform}" if self.tag_outputs else layer_name
        return self.snippet_dir / f"{stem}.json"

    def published_layers(
        self, *, exclude: Iterable[str] = (), hashes: HashMemo | None = None
    ) -> list[dict[str, Any]]:
        """Every layer published here for the platform whose archive is present.

        A snippet counts when its file name is the one this naming mode gives its layer, it is
        for the platform, and its archive exists with the recorded size (and, given
        ``hashes``, sha256). ``exclude`` drops archive names.
        """
        skipped = set(exclude)
        folder = self.snippet_dir
        layers: list[dict[str, Any]] = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            data = read_json(path)
            if data is None or data.get("target_platform") != self.platform:
                continue
            name = data.get("layer_name")
            if not isinstance(name, str) or path != self.snippet_path(name):
                continue
            archive = data.get("archive_name")
            if not isinstance(archive, str) or archive in skipped or "/" in archive:
                continue
            if archive_matches(self.output_dir / archive, data, hashes=hashes):
                layers.append(_present_deltas(self.output_dir, data, hashes))
        return layers


def _present_deltas(
    output_dir: Path, data: dict[str, Any], hashes: HashMemo | None
) -> dict[str, Any]:
    """``data`` listing only the deltas whose archives are present with the recorded size.

    Given ``hashes``, also with the recorded sha256 (``publish --verify`` reads each again).
    """
    deltas = data.get("deltas")
    if not isinstance(deltas, list):
        return data
    present = [
        delta
        for delta in deltas
        if isinstance(delta, Mapping)
        and isinstance(delta.get("archive_name"), str)
        and "/" not in delta["archive_name"]
        and archive_matches(output_dir / delta["archive_name"], delta, hashes=hashes)
    ]
    if len(present) == len(deltas):
        return data
    trimmed = {key: value for key, value in data.items() if key != "deltas"}
    return {**trimmed, "deltas": present} if present else trimmed


def request_metadata(
    base: Mapping[str, Any],
    *,
    archive_format: str,
    archive_file: str,
    archive_build: int,
    platform: str,
) -> dict[str, Any]:
    """A layer's build request: its description plus the archive it should become."""
    return {
        **base,
        "archive_build": archive_build,
        "archive_format": archive_format,
        "archive_name": archive_file,
        "target_platform": platform,
    }


def without_outputs(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata minus the fields that only exist once the archive is written."""
    return {key: value for key, value in metadata.items() if key not in OUTPUT_FIELDS}


def archive_matches(archive: Path, metadata: Mapping[str, Any], *, hashes: HashMemo | None) -> bool:
    """Whether ``archive`` exists with the size (and, given ``hashes``, the sha256) recorded."""
    try:
        size = archive.stat().st_size
    except OSError:
        return False
    if size != metadata.get("archive_size"):
        return False
    if hashes is None:
        return True
    recorded = metadata.get("archive_hashes")
    return isinstance(recorded, Mapping) and hashes.matches(archive, recorded.get("sha256"))


def layer_kind(metadata: Mapping[str, Any]) -> LayerKind:
    """A published layer's kind, told from its fields as venvstacks consumers tell it."""
    if metadata.get("runtime_layer") == metadata.get("install_target"):
        return LayerKind.RUNTIME
    if "app_launch_module" in metadata:
        return LayerKind.APPLICATION
    return LayerKind.FRAMEWORK


def manifest(layers: Iterable[Mapping[str, Any]], order: Sequence[str] = ()) -> dict[str, Any]:
    """The manifest of ``layers``: grouped by kind, in ``order`` (layer names), others by name."""
    rank = {name: index for index, name in enumerate(order)}
    grouped: dict[str, list[Mapping[str, Any]]] = {key: [] for key in KIND_KEYS.values()}
    for data in layers:
        grouped[KIND_KEYS[layer_kind(data)]].append(data)
    for entries in grouped.values():
        entries.sort(key=lambda d: (rank.get(str(d["layer_name"]), len(rank)), d["layer_name"]))
    document: dict[str, Any] = {"layers": grouped}
    variants = variants_table(entry for entries in grouped.values() for entry in entries)
    if variants:  # only stacks with variants have the table (see published.variant_table)
        document[VARIANTS_TABLE] = variants
    return document
