"""The layers a publish folder holds per platform and the files they name: what merge and push read.

A publish folder has one manifest per platform after ``publish --tag-outputs`` or a merge
(``__venvstacks__/venvstacks-<platform>.json``), or one ``venvstacks.json`` (an untagged
publish, or a merge's index of every platform). :func:`read_folder` reads, for each platform,
the manifest ``deploy`` on that platform reads; each entry is checked as deploy checks a
manifest (:func:`~envstacks.published.manifest.parse_manifest`: the names that become paths
are plain names), and so are the names that merge and push turn into paths and annotations:
the layer name and the target platform. :func:`agreed` keeps one
entry per platform and deployed name and refuses two that disagree (another archive or tree).

:func:`listed_files` names every file an entry refers to: its archive, its deltas, its file
index and the index of each delta's base, its SBOM, each with its recorded size and sha256 and
a plain file name, so a file is found only directly in the folder (archives, deltas), in its
``__venvstacks__/env_metadata/`` (indexes) or in its ``__venvstacks__/sbom/`` (SBOMs), never
elsewhere.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from envstacks.floor import bounded_json
from envstacks.floor.errors import EnvStacksError, JSONDocumentError, PublishError
from envstacks.published.manifest import ManifestLayer, is_plain_name, parse_manifest
from envstacks.published.publish_folder import METADATA_DIR, SBOM_DIR, SNIPPET_DIR, manifest

__all__ = [
    "FolderEntry",
    "ListedFile",
    "PlatformManifest",
    "agreed",
    "by_platform",
    "listed_files",
    "load_manifest_json",
    "read_folder",
    "unique_files",
]

#: The manifests of one platform each (``--tag-outputs``, a merge), in the metadata folder.
TAGGED_GLOB = "venvstacks-*.json"
#: The manifest of an untagged publish, or a merge's index of every platform.
UNTAGGED = "venvstacks.json"
#: Largest manifest read (it is read into memory).
MAX_MANIFEST = 64 << 20
#: What two entries for one platform and deployed name must agree on.
_IDENTITY = ("archive_name", "archive_hashes", "tree_hashes")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

FileKind = Literal["archive", "delta", "file index", "sbom"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderEntry:
    """One layer entry of a publish folder's manifest, checked, and where it was read."""

    layer: ManifestLayer
    #: The publish folder holding its files.
    folder: Path
    #: The manifest file it was read from, for messages.
    where: str

    @property
    def platform(self) -> str:
        """The platform it was published for (always named: :func:`read_folder` checks it)."""
        return str(self.layer.target_platform)

    @property
    def key(self) -> tuple[str, str]:
        """``(platform, deployed name)``: what identifies the entry among several folders'."""
        return (self.platform, self.layer.install_target)

    @property
    def data(self) -> Mapping[str, Any]:
        """The entry as published."""
        return self.layer.metadata


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedFile:
    """A file a manifest entry names, with what it must be."""

    kind: FileKind
    #: A plain file name: in the folder (archives, deltas), in its ``env_metadata`` (indexes)
    #: or in its ``__venvstacks__/sbom`` (SBOMs).
    name: str
    size: int
    sha256: str
    #: The deployed name of the layer the file belongs to.
    install_target: str
    #: The archive format of an archive or delta (``None``: not recorded, or an index).
    archive_format: str | None = None

    @property
    def relative(self) -> str:
        """The file's path in a publish folder."""
        if self.kind == "file index":
            return f"{METADATA_DIR}/{SNIPPET_DIR}/{self.name}"
        if self.kind == "sbom":
            return f"{METADATA_DIR}/{SBOM_DIR}/{self.name}"
        return self.name

    def path_in(self, folder: Path) -> Path:
        """The file's path in the publish folder ``folder``."""
        return folder / self.relative


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformManifest:
    """What a publish folder publishes for one platform: the manifest deploy there reads."""

    platform: str
    #: The manifest file it was read from, for messages.
    where: str
    #: The manifest as published: the file's JSON when it lists this platform only, else
    #: a manifest of this platform's entries (a merged index without per-platform files).
    data: Mapping[str, Any]
    entries: tuple[FolderEntry, ...]

    @property
    def tagged(self) -> bool:
        """Whether it is the platform's own manifest (``--tag-outputs``, a merge)."""
        return Path(self.where).name != UNTAGGED


def read_folder(
    folder: Path, *, verb: str, manifest_name: str | None = None
) -> dict[str, PlatformManifest]:
    """The manifest of each platform the publish folder ``folder`` holds, checked.

    For each platform, the manifest ``deploy`` on that platform reads:
    ``venvstacks-<platform>.json`` (``--tag-outputs``, a merge), else the entries of
    ``venvstacks.json`` for that platform (an untagged publish). With ``manifest_name``, that
    manifest only (the one a publish just wrote).

    Raises:
        PublishError: (naming ``verb``) no manifest, a manifest that is not one, an entry
            for another platform than its manifest's, one that names no target platform, or
            a name that is not a plain name.
    """
    metadata = folder / METADATA_DIR
    untagged = metadata / UNTAGGED
    tagged = sorted(metadata.glob(TAGGED_GLOB)) if metadata.is_dir() else []
    manifests = [*tagged, untagged] if untagged.is_file() else tagged
    if manifest_name is not None:
        manifests = [path for path in manifests if path.name == manifest_name]
    if not manifests:
        raise PublishError(
            f"{verb}: {folder} holds no manifest ({METADATA_DIR}/{UNTAGGED} or {TAGGED_GLOB})",
            hint="give publish output folders (`envstacks publish --tag-outputs --output-dir`)",
        )
    found: dict[str, PlatformManifest] = {}
    for path in manifests:
        data, entries = _read_manifest(path, folder, verb=verb)
        named = path.name.removeprefix("venvstacks-").removesuffix(".json")
        for platform, listed in by_platform(entries).items():
            if path != untagged and platform != named:
                raise PublishError(
                    f"{verb}: {path} lists layer {listed[0].layer.install_target!r} for "
                    f"{platform}, not for {named}",
                    hint="the manifest may have been tampered with; publish that folder again",
                )
            if platform in found:
                continue  # a platform's own manifest wins over the folder's index
            only = len(entries) == len(listed)
            found[platform] = PlatformManifest(
                platform=platform,
                where=str(path),
                data=data if only else manifest([entry.data for entry in listed]),
                entries=tuple(agreed(listed, verb=verb)),
            )
    return dict(sorted(found.items()))


def _read_manifest(
    path: Path, folder: Path, *, verb: str
) -> tuple[Mapping[str, Any], list[FolderEntry]]:
    """A manifest file's JSON and its entries, checked."""
    try:
        data = load_manifest_json(path)
        layers = parse_manifest(data, where=str(path))
    except (OSError, EnvStacksError) as exc:
        message = exc.message if isinstance(exc, EnvStacksError) else str(exc)
        raise PublishError(
            f"{verb}: manifest {path} cannot be used ({message})",
            hint="publish that folder again",
        ) from exc
    return data, [_checked(layer, folder, str(path), verb=verb) for layer in layers]


def load_manifest_json(path: Path) -> Any:
    """A JSON file of a publish folder: a regular file, read with the floor's bounds.

    Opened without waiting (a fifo planted under the name cannot block the reader), then
    parsed by :func:`envstacks.floor.bounded_json.loads` (at most :data:`MAX_MANIFEST` bytes).

    Raises:
        JSONDocumentError: not a regular file, too large, nested too deeply, or not JSON.
        OSError: it cannot be opened.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise JSONDocumentError(f"{path}: not a regular file")
        data = stream.read(MAX_MANIFEST + 1)
    return bounded_json.loads(data, where=str(path), max_bytes=MAX_MANIFEST)


def _checked(layer: ManifestLayer, folder: Path, where: str, *, verb: str) -> FolderEntry:
    """The entry, if the names merge and push make paths and annotations of are plain."""
    spot = f"{verb}: {where}: layer {layer.install_target!r}"
    if layer.target_platform is None:
        raise PublishError(
            f"{spot} names no target_platform",
            hint="publish it again with envstacks or venvstacks",
        )
    names = (("target_platform", layer.target_platform), ("layer_name", layer.layer_name))
    for key, value in names:
        if not is_plain_name(value):
            raise PublishError(
                f"{spot}: {key} {value!r} is not a plain name",
                hint="the manifest may have been tampered with; publish that folder again",
            )
    return FolderEntry(layer=layer, folder=folder, where=where)


def agreed(entries: Iterable[FolderEntry], *, verb: str) -> list[FolderEntry]:
    """One entry per platform and deployed name; two that disagree about one are refused.

    Raises:
        PublishError: two entries for the same platform and deployed name name another
            archive, archive hash or tree hash.
    """
    chosen: dict[tuple[str, str], FolderEntry] = {}
    for entry in entries:
        other = chosen.setdefault(entry.key, entry)
        if other is entry:
            continue
        if [other.data.get(k) for k in _IDENTITY] != [entry.data.get(k) for k in _IDENTITY]:
            platform, target = entry.key
            raise PublishError(
                f"{verb}: {other.where} and {entry.where} disagree about layer {target!r} for "
                f"{platform}: {_describe(other.layer)} against {_describe(entry.layer)}",
                hint="merge the outputs of one build of each platform (publish each platform "
                "once, with --tag-outputs), or leave the stale folder out",
            )
    return list(chosen.values())


def by_platform(entries: Iterable[FolderEntry]) -> dict[str, list[FolderEntry]]:
    """The entries grouped by platform, platforms sorted."""
    grouped: dict[str, list[FolderEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.platform, []).append(entry)
    return dict(sorted(grouped.items()))


def _describe(layer: ManifestLayer) -> str:
    return f"{layer.archive_name} (sha256 {layer.archive_sha256[:16]}...)"


def listed_files(entry: FolderEntry, *, verb: str) -> list[ListedFile]:
    """The files ``entry`` names: archive, deltas, file index, deltas' bases' indexes, SBOM.

    Raises:
        PublishError: a delta or index field is malformed, or names no plain file name.
    """
    layer = entry.layer
    spot = f"{verb}: {entry.where}: layer {layer.install_target!r}"
    files = [
        ListedFile(
            kind="archive",
            name=layer.archive_name,
            size=layer.archive_size,
            sha256=layer.archive_sha256,
            install_target=layer.install_target,
            archive_format=layer.archive_format,
        )
    ]
    indexes: list[tuple[str, object]] = [("file_index", layer.metadata.get("file_index"))]
    deltas = layer.metadata.get("deltas") or []
    if not isinstance(deltas, list):
        raise PublishError(f"{spot}: deltas must be a list, found {deltas!r}")
    for number, delta in enumerate(deltas):
        where = f"{spot}: deltas[{number}]"
        if not isinstance(delta, Mapping):
            raise PublishError(f"{where}: expected a table, found {delta!r}")
        fmt = delta.get("archive_format")
        name, size, sha = _recorded(
            where, delta.get("archive_name"), delta.get("archive_size"), delta.get("archive_hashes")
        )
        files.append(
            ListedFile(
                kind="delta",
                name=name,
                size=size,
                sha256=sha,
                install_target=layer.install_target,
                archive_format=fmt if isinstance(fmt, str) else None,
            )
        )
        indexes.append((f"deltas[{number}].base_file_index", delta.get("base_file_index")))
    for key, recorded in indexes:
        if recorded is None:
            continue
        if not isinstance(recorded, Mapping):
            raise PublishError(f"{spot}: {key} must be a table, found {recorded!r}")
        name, size, sha = _recorded(
            f"{spot}: {key}", recorded.get("name"), recorded.get("size"), recorded
        )
        files.append(
            ListedFile(
                kind="file index",
                name=name,
                size=size,
                sha256=sha,
                install_target=layer.install_target,
            )
        )
    sbom = layer.metadata.get("sbom")
    if sbom is not None:
        if not isinstance(sbom, Mapping):
            raise PublishError(f"{spot}: sbom must be a table, found {sbom!r}")
        name, size, sha = _recorded(f"{spot}: sbom", sbom.get("name"), sbom.get("size"), sbom)
        files.append(
            ListedFile(
                kind="sbom", name=name, size=size, sha256=sha, install_target=layer.install_target
            )
        )
    return files


def _recorded(where: str, name: object, size: object, hashes: object) -> tuple[str, int, str]:
    """A file's name, size and sha256 as a manifest records them, checked."""
    if not isinstance(name, str) or not is_plain_name(name):
        raise PublishError(
            f"{where}: {name!r} is not a plain file name",
            hint="the manifest may have been tampered with; publish that folder again",
        )
    sha = hashes.get("sha256") if isinstance(hashes, Mapping) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise PublishError(f"{where}: {name!r} has no recorded size (found {size!r})")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise PublishError(f"{where}: {name!r} has no recorded sha256 (found {sha!r})")
    return name, size, sha.lower()


def unique_files(
    entries: Sequence[FolderEntry], *, verb: str
) -> dict[str, tuple[ListedFile, FolderEntry]]:
    """Every file the entries name, by its path in a publish folder; no path with two contents.

    Raises:
        PublishError: two entries name one path with different content (folders published
            without ``--tag-outputs`` for two platforms), or a listed file is malformed.
    """
    files: dict[str, tuple[ListedFile, FolderEntry]] = {}
    for entry in entries:
        for item in listed_files(entry, verb=verb):
            previous = files.setdefault(item.relative, (item, entry))
            if (previous[0].size, previous[0].sha256) != (item.size, item.sha256):
                raise PublishError(
                    f"{verb}: {previous[1].where} and {entry.where} name different files "
                    f"{item.relative!r} (from {previous[1].folder} and {entry.folder})",
                    hint="publish each platform with --tag-outputs, so that file names carry "
                    "the platform and build",
                )
    return files
