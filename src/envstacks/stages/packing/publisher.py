"""Publish built layers: reproducible archives and their metadata, packed in parallel, crash-safe.

:func:`publish_layers` reads top to bottom:

1. plan each layer: its build request (the metadata minus what only the archive tells) is
   compared with the snippet of the last publish in the same folder; unchanged layers whose
   archive is still there with the recorded size and hash are skipped without staging anything;
2. pack the others in parallel: stage the built env next to the build folder (hard links),
   hash its normalised tree, write the archive under a temporary name and fsync it; then
   write each one's SBOM (:mod:`envstacks.stages.packing.sbom_writer`);
3. commit: if the current manifest names an archive about to be replaced, first rewrite it
   without that layer; then rename each archive into place and write its snippet; write the
   manifest last. At every moment the manifest on disk only names complete archives with the
   recorded size and hash: archives published earlier (other layers, other builds) are checked
   too, cheaply (:mod:`envstacks.stages.packing.hashcache`), and left out with a warning if they
   changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from envstacks.floor.fs import remove_stale_temporaries, write_json
from envstacks.floor.platforms import require_host_platform
from envstacks.floor.report import Reporter
from envstacks.published.archive_formats import compression_of, get_format, with_compression
from envstacks.published.publish_folder import PublishFolder
from envstacks.published.publish_folder import manifest as folder_manifest
from envstacks.stages.building.layer_description import LockInfo
from envstacks.stages.packing.hashcache import CACHE_FILE, ArchiveHashes
from envstacks.stages.packing.publish_plan import PublishPlan, plan_layer
from envstacks.stages.stackspec.model import LayerSpec, StackSpec

# Packing and SBOMs load once a publish writes (a dry run, as every build ends with, or a
# publish with nothing new to pack never packs).
if TYPE_CHECKING:
    from envstacks.published.sources import Source
    from envstacks.stages.packing.archiving import PackedLayer, StageFunction
    from envstacks.stages.packing.delta_writer import DeltaBase

Status = Literal["published", "unchanged", "would publish"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedLayer:
    """One layer's outcome."""

    #: Build name of the layer.
    layer: str
    install_target: str
    #: ``published`` (archive written), ``unchanged`` (skipped) or ``would publish`` (dry run).
    status: Status
    archive_path: Path
    snippet_path: Path
    #: The layer's published metadata (the build request only, in a dry run).
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishResult:
    """What a publish run did (or, in a dry run, would do)."""

    output_dir: Path
    format_name: str
    #: What the archives written now are compressed with (``"zstd level 10"``).
    compression: str = ""
    dry_run: bool = False
    layers: tuple[PublishedLayer, ...] = ()
    #: ``None`` in a dry run.
    manifest_path: Path | None = None
    #: The manifest now in the folder: every layer published there for the platform.
    manifest: Mapping[str, Any] = field(default_factory=dict)

    def describe(self, *, metadata: bool = False) -> list[str]:
        """One line per layer (plus the manifest), paths relative to the output folder.

        A dry run's lines name the archives it would write; with ``metadata``, each is
        followed by the layer's metadata.
        """
        lines = []
        for item in self.layers:
            if self.dry_run:
                lines.append(f"{item.status}: {item.archive_path.name}")
                if metadata:
                    lines.append(json.dumps(item.metadata, indent=2, sort_keys=True))
            else:
                lines.append(f"{item.status}: {item.archive_path.relative_to(self.output_dir)}")
                if item.status == "published":
                    lines += [
                        f"  delta from {delta['base_install_target']}: {delta['archive_name']} "
                        f"({delta['archive_size']} bytes)"
                        for delta in item.metadata.get("deltas", ())
                    ]
        if any(item.status != "unchanged" for item in self.layers):
            lines.append(f"compression: {self.compression}")
        if self.manifest_path is not None:
            lines.append(f"manifest: {self.manifest_path.relative_to(self.output_dir)}")
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishOptions:
    """Where and how layers are published (``None`` fields take the stack's settings)."""

    #: The publish folder (archives at its top, metadata in ``__venvstacks__``).
    output_dir: Path | None = None
    #: The archive format (``"tar.zst"``, ``"tar.xz"``, ``"zip"`` or a plugin's).
    format_name: str | None = None
    #: Add ``-<platform>-<archive_build>`` to archive names and the platform to metadata
    #: names, so several platforms and builds share the folder.
    tag_outputs: bool = False
    #: Republish unchanged layers too (``archive_build`` goes up).
    force: bool = False
    #: Compute what would be published; write nothing.
    dry_run: bool = False
    #: How hard to compress: ``"fast"``, ``"default"``, ``"max"`` or the format's level
    #: number (default: the stack's ``compression`` setting).
    compression: str | None = None
    #: What set ``compression``, for messages (``"--compression"``, a Hatch option's field).
    compression_from: str = "compression"
    #: Read every archive in the output folder again to check its sha256, even those whose
    #: file is unchanged since it was last hashed (:mod:`envstacks.stages.packing.hashcache`).
    verify: bool = False
    #: Earlier publishes (folders, manifest files, URLs, opened sources): each layer packed
    #: now also gets a delta from every other version of it they list
    #: (:mod:`envstacks.stages.packing.earlier_versions`).
    delta_from: tuple[str | Path | Source, ...] = ()
    #: Layers packed at once (default: one per core, at most one per layer; one at a time for a
    #: format that compresses on every core itself, as tar.zst does). tar.xz and tar.zst
    #: compress on every core whatever this is.
    jobs: int | None = None
    #: The target platform (default: this machine's).
    platform: str | None = None


def publish_layers(
    spec: StackSpec,
    layers: Sequence[LayerSpec],
    options: PublishOptions = PublishOptions(),
    *,
    lock_states: Mapping[str, LockInfo],
    pm: pluggy.PluginManager,
    reporter: Reporter,
    stage: StageFunction | None = None,
) -> PublishResult:
    """Archive built layers with their metadata into the output folder.

    Args:
        spec: the stack.
        layers: the layers to publish (built, with valid locks, targeting the platform).
        options: where and how (see :class:`PublishOptions`).
        lock_states: lock states by build name (for every layer and the layers below them).
        pm: the plugin manager (archive formats).
        reporter: receives per-layer progress and messages.
        stage: the staging function (default: ``building.stage_layer``).

    Raises:
        SpecError: unknown archive format.
        PublishError: a layer is not built, has no valid lock, or packing failed.
    """
    output_dir = options.output_dir or spec.settings.output_dir
    format_name = options.format_name or spec.settings.archive_format
    tag_outputs, force, dry_run = options.tag_outputs, options.force, options.dry_run
    verify, jobs, platform, delta_from = (
        options.verify,
        options.jobs,
        options.platform,
        options.delta_from,
    )
    setting = options.compression or spec.settings.compression
    where = options.compression_from if options.compression else "tool.venvstacks.compression"
    plain = get_format(pm, format_name)
    fmt = with_compression(plain, setting, where=where)
    compression = compression_of(fmt)
    host = platform or require_host_platform("publish")
    folder = PublishFolder(output_dir=output_dir, platform=host, tag_outputs=tag_outputs)
    hashes = ArchiveHashes(output_dir, spec.settings.build_dir / CACHE_FILE, verify=verify)
    plans = [
        plan_layer(
            spec,
            layer,
            lock_states,
            fmt,
            folder,
            force=force,
            hashes=hashes,
            # Recorded only when it is not the format's default, so metadata stays as it was.
            compression=None if compression == compression_of(plain) else compression,
        )
        for layer in layers
    ]
    _report_plans(plans, reporter)
    if dry_run:
        outcomes = tuple(_outcome(plan, None) for plan in plans)
        return PublishResult(
            output_dir=output_dir,
            format_name=fmt.name,
            compression=compression,
            dry_run=True,
            layers=outcomes,
        )
    to_pack = [plan for plan in plans if plan.unchanged is None]
    packed: list[PackedLayer] = []
    if to_pack:
        from envstacks.stages.packing.archiving import commit_layers, pack_layers  # noqa: PLC0415
        from envstacks.stages.packing.sbom_writer import add_sboms  # noqa: PLC0415

        bases = _delta_bases(delta_from, host, pm, reporter) if delta_from else {}
        packed = pack_layers(
            spec,
            to_pack,
            fmt,
            lock_states,
            folder,
            reporter=reporter,
            jobs=jobs,
            stage=stage,
            bases=bases,
        )
        packed = add_sboms(spec, packed, folder, lock_states)
        manifest_file, manifest = commit_layers(spec, packed, folder, hashes)
    else:
        manifest_file, manifest = _list_unchanged(spec, folder, hashes)
    hashes.save()
    for archive, actual in sorted(hashes.mismatched.items()):
        reporter.warning(
            f"{output_dir / archive}: its sha256 is {actual}, not the one its metadata records; "
            "it was changed after it was published and is left out of the manifest "
            "(publish its layer again, from its own build folder, to put it back)"
        )
    written = {item.plan.layer.build_name: item for item in packed}
    return PublishResult(
        output_dir=output_dir,
        format_name=fmt.name,
        compression=compression,
        layers=tuple(_outcome(plan, written.get(plan.layer.build_name)) for plan in plans),
        manifest_path=manifest_file,
        manifest=manifest,
    )


def _list_unchanged(
    spec: StackSpec, folder: PublishFolder, hashes: ArchiveHashes
) -> tuple[Path, dict[str, Any]]:
    """A publish with nothing to pack: the manifest of what the folder holds, and its file.

    What :func:`envstacks.stages.packing.archiving.commit_layers` does with nothing to
    commit, without loading the packing code: what dead runs left is removed, an archive
    changed since it was published is left out, and the manifest is written only if what it
    lists changed.
    """
    folder.output_dir.mkdir(parents=True, exist_ok=True)
    folder.remove_stale_temporaries()
    remove_stale_temporaries(spec.settings.build_dir)
    document = folder_manifest(
        order=spec.build_names, layers=folder.published_layers(hashes=hashes)
    )
    write_json(folder.manifest_path, document)
    return folder.manifest_path, document


def _delta_bases(
    sources: Sequence[str | Path | Source],
    platform: str,
    pm: pluggy.PluginManager,
    reporter: Reporter,
) -> dict[str, list[DeltaBase]]:
    """Open the ``--delta-from`` sources and read the earlier versions they list."""
    from envstacks.stages.packing.earlier_versions import load_delta_bases  # noqa: PLC0415 - only when asked

    return load_delta_bases(sources, platform=platform, pm=pm, reporter=reporter)


def _report_plans(plans: Sequence[PublishPlan], reporter: Reporter) -> None:
    """Say, for each layer, whether it is skipped or which archive it becomes."""
    for plan in plans:
        name, build = plan.layer.build_name, f"archive_build {plan.request['archive_build']}"
        reporter.debug(
            f"{name}: unchanged since the last publish ({plan.archive.name}, {build})"
            if plan.unchanged is not None
            else f"{name}: to publish as {plan.archive.name} ({build})"
        )


def _outcome(plan: PublishPlan, written: PackedLayer | None) -> PublishedLayer:
    """What happened to a planned layer: written now, skipped, or (dry run) to be written."""
    status: Status
    if written is not None:
        status, metadata = "published", written.metadata
    elif plan.unchanged is not None:
        status, metadata = "unchanged", plan.unchanged
    else:
        status, metadata = "would publish", plan.request
    return PublishedLayer(
        layer=plan.layer.build_name,
        install_target=str(plan.request["install_target"]),
        status=status,
        archive_path=plan.archive,
        snippet_path=plan.snippet,
        metadata=metadata,
    )
