"""Earlier published versions of layers (``publish --delta-from``): manifests and file indexes.

A delta source is anything deploy reads (a publish folder, a manifest file, an http(s)://
URL, an opened ``oci://`` source). Every layer its manifest lists for the platform becomes a
:class:`~envstacks.stages.packing.delta_writer.DeltaBase`, known by its file index: the one
published next to its snippet (``file_index`` in its metadata, checked against the recorded size and
sha256), or, for a layer published without one (venvstacks, envstacks before 0.5, a registry), an
index made by reading its archive (fetched like deploy does, then removed). Each base can
also write chosen files of its archive (:attr:`DeltaBase.extract`), for chunk patches: the
archive is fetched then, when a delta needs it.

Everything is read before the new layers are packed, so publishing into the folder a source
names (``--delta-from dist/venvstacks`` when publishing there again) uses the versions that
were there before this publish replaced them.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, cast

import pluggy

from envstacks.floor.errors import DeployError, EnvStacksError, PublishError
from envstacks.floor.report import BYTES, Reporter, Task
from envstacks.published.archive_formats import format_for_archive
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.file_index import FileIndex
from envstacks.published.layer_tree import DIR_MODE, EXEC_MODE, FILE_MODE, LINK_MODE
from envstacks.published.manifest import ManifestLayer, parse_manifest
from envstacks.published.sources import Source, open_source
from envstacks.stages.packing.delta_writer import DeltaBase

__all__ = ["load_delta_bases"]


def load_delta_bases(
    sources: Sequence[str | Path | Source],
    *,
    platform: str,
    pm: pluggy.PluginManager,
    reporter: Reporter,
) -> dict[str, list[DeltaBase]]:
    """The earlier versions the manifests of ``sources`` list for ``platform``, by layer name.

    ``sources`` are what deploy reads (folders, manifest files, URLs) or opened sources. A
    layer whose index cannot be had (missing, damaged, not matching its tree hash) is left
    out with a warning: its new version is still published, without a delta from it.

    Raises:
        PublishError: a source cannot be opened, or its manifest is not a venvstacks manifest.
    """
    bases: dict[str, list[DeltaBase]] = {}
    for source in (_opened(item, platform, reporter) for item in sources):
        where = source.manifest_location
        try:
            layers = parse_manifest(source.manifest, where=where)
        except DeployError as exc:
            raise PublishError(f"--delta-from {where}: {exc.message}", hint=exc.hint) from exc
        for layer in layers:
            if layer.target_platform not in (None, platform):
                continue
            try:
                index = _index_of(source, layer, pm=pm, reporter=reporter)
            except EnvStacksError as exc:
                reporter.warning(f"{where}: no delta from {layer.archive_name}: {exc.message}")
                continue
            if layer.tree_sha256 is not None and layer.tree_sha256 != index.tree_sha256:
                reporter.warning(
                    f"{where}: no delta from {layer.archive_name}: its file index hashes to "
                    f"{index.tree_sha256}, the manifest records {layer.tree_sha256}"
                )
                continue
            bases.setdefault(layer.layer_name, []).append(
                DeltaBase(
                    layer_name=layer.layer_name,
                    install_target=layer.install_target,
                    archive_name=layer.archive_name,
                    archive_sha256=layer.archive_sha256,
                    tree_sha256=index.tree_sha256,
                    index=index,
                    where=where,
                    extract=_extractor(source, layer, pm),
                )
            )
    return bases


def _opened(source: str | Path | Source, platform: str, reporter: Reporter) -> Source:
    """``source`` opened as deploy opens it; its refusals as publish errors."""
    if isinstance(source, Source):
        return source
    try:
        return open_source(source, platform=platform, reporter=reporter)
    except DeployError as exc:
        raise PublishError(
            f"--delta-from {source}: {exc.message}",
            hint="give an earlier publish folder, its manifest file or its URL "
            "(or leave --delta-from out for a first release)",
        ) from exc


def _index_of(
    source: Source, layer: ManifestLayer, *, pm: pluggy.PluginManager, reporter: Reporter
) -> FileIndex:
    """The published index of ``layer``, else one read from its archive."""
    recorded = layer.metadata.get("file_index")
    name = recorded.get("name") if isinstance(recorded, Mapping) else None
    data = source.read_metadata_file(name) if isinstance(name, str) else None
    if data is None or not isinstance(recorded, Mapping):
        reporter.info(f"{layer.archive_name}: no file index published; indexing the archive")
        return _index_archive(source, layer, pm=pm, reporter=reporter)
    where = f"{recorded['name']} ({source.manifest_location})"
    sha256 = hashlib.sha256(data).hexdigest()
    if len(data) != recorded.get("size") or sha256 != recorded.get("sha256"):
        raise PublishError(f"file index {where}: not the size and sha256 the manifest records")
    return FileIndex.from_bytes(data, where=where)


def _index_archive(
    source: Source, layer: ManifestLayer, *, pm: pluggy.PluginManager, reporter: Reporter
) -> FileIndex:
    """An index made by reading ``layer``'s archive (fetched into a temporary folder)."""
    fmt = format_for_archive(pm, layer.archive_name, declared=layer.archive_format)
    downloads = Path(tempfile.mkdtemp(prefix="envstacks-delta-base-"))
    try:
        with reporter.task(
            layer.install_target, "fetch base", total=layer.archive_size, unit=BYTES
        ) as task:
            fetched = source.fetch(
                layer.archive_name, size=layer.archive_size, downloads=downloads, task=task
            )
        with fetched.path.open("rb") as raw, fmt.open_reader(raw) as reader:
            return _members_index(reader, layer.install_target, where=layer.archive_name)
    finally:
        shutil.rmtree(downloads, ignore_errors=True)


def _extractor(
    source: Source, layer: ManifestLayer, pm: pluggy.PluginManager
) -> Callable[[Mapping[str, Path], Task], None]:
    """A function writing chosen files of ``layer``'s archive (path -> destination), streamed."""

    def extract(wanted: Mapping[str, Path], task: Task) -> None:
        fmt = format_for_archive(pm, layer.archive_name, declared=layer.archive_format)
        downloads = Path(tempfile.mkdtemp(prefix="envstacks-delta-base-"))
        prefix = f"{layer.install_target}/"
        try:
            fetched = source.fetch(
                layer.archive_name, size=layer.archive_size, downloads=downloads, task=task
            )
            left = dict(wanted)
            with fetched.path.open("rb") as raw, fmt.open_reader(raw) as reader:
                for member in reader.members():
                    inside = member.name.startswith(prefix)
                    destination = (
                        left.pop(member.name.removeprefix(prefix), None) if inside else None
                    )
                    if member.kind is MemberKind.FILE and destination is not None:
                        with destination.open("wb") as out:
                            reader.extract(member, out)
                    if not left:  # the rest of the archive is not read
                        break
        finally:
            shutil.rmtree(downloads, ignore_errors=True)

    return extract


class _HashSink:
    """A write-only file that hashes what is written."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return len(data)


def _members_index(reader: Any, root: str, *, where: str) -> FileIndex:
    """The index of an archive's members below ``root`` (the checks of a read index apply)."""
    rows: list[list[Any]] = []
    prefix = f"{root}/"
    for member in reader.members():
        name = member.name.rstrip("/")
        if name == root:
            continue
        if not name.startswith(prefix):
            raise PublishError(f"archive {where}: {member.name!r} lies outside {root}/")
        path = name.removeprefix(prefix)
        if member.kind is MemberKind.DIR:
            rows.append([path, "d", DIR_MODE])
        elif member.kind is MemberKind.SYMLINK:
            rows.append([path, "l", LINK_MODE, member.link_target])
        elif member.kind is MemberKind.FILE:
            sink = _HashSink()
            reader.extract(member, cast(BinaryIO, sink))
            mode = EXEC_MODE if member.mode & 0o100 else FILE_MODE
            rows.append([path, "f", mode, member.size, sink.digest.hexdigest()])
        else:
            raise PublishError(f"archive {where}: {member.name!r} is not a file, folder or link")
    return FileIndex.from_rows(root, rows, where=where)
