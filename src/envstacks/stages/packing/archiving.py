"""Pack planned layers (staged next to the build folder, in parallel) and commit them crash-safely.

Packing writes each archive under a temporary name and fsyncs it; nothing visible changes.
Layers are packed on worker threads (:func:`envstacks.floor.workers.run_parallel`): when one fails
or the run is interrupted (Ctrl-C), the others stop at their next chunk and every temporary goes.
Committing renames archives into place, writes their snippets, and writes the manifest last, first
dropping from the current manifest any archive about to be replaced, so the manifest on disk only
ever names complete archives with the recorded size and hash.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envstacks.floor.fs import (
    commit,
    file_sha256,
    fsync_dir,
    fsync_file,
    read_json,
    remove_stale_temporaries,
    temporary_name,
    write_json,
)
from envstacks.floor.report import BYTES, Reporter
from envstacks.floor.workers import Cancellation, run_parallel
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.file_index import index_tree
from envstacks.published.layer_tree import content_size, lock_mtime, scan_tree
from envstacks.published.publish_folder import PublishFolder, manifest
from envstacks.stages.building import stage_layer
from envstacks.stages.building.layer_description import LockInfo
from envstacks.stages.packing.archive_cache import archive_cache, archive_key
from envstacks.stages.packing.delta_writer import DeltaBase
from envstacks.stages.packing.hashcache import ArchiveHashes
from envstacks.stages.packing.index_and_deltas import LayerExtras, pack_extras, remove_stale_deltas
from envstacks.stages.packing.publish_plan import PublishPlan
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import StackSpec

#: ``stage_layer(spec, layer, env_path, destination, *, install_targets) -> staged folder``.
StageFunction = Callable[..., Path]


@dataclass(frozen=True, slots=True, kw_only=True)
class PackedLayer:
    """An archive written under a temporary name, with its final metadata."""

    plan: PublishPlan
    temporary: Path
    metadata: dict[str, Any]
    #: The layer's file index and deltas, under temporary names.
    extras: LayerExtras = field(default_factory=LayerExtras)

    def discard(self) -> None:
        """Remove every temporary of this layer."""
        self.temporary.unlink(missing_ok=True)
        self.extras.discard()


def pack_layers(
    spec: StackSpec,
    plans: Sequence[PublishPlan],
    fmt: ArchiveFormat,
    lock_states: Mapping[str, LockInfo],
    folder: PublishFolder,
    *,
    reporter: Reporter,
    jobs: int | None,
    stage: StageFunction | None = None,
    bases: Mapping[str, Sequence[DeltaBase]] | None = None,
) -> list[PackedLayer]:
    """Pack every planned layer (in parallel) under temporary names in the publish folder.

    What dead runs left in the publish and build folders is removed first. On any failure,
    every temporary is removed and the error raised. ``stage`` defaults to
    :func:`envstacks.stages.building.stage_layer`. ``bases`` (earlier versions by layer name) get a
    delta each (:mod:`envstacks.stages.packing.index_and_deltas`).
    """
    folder.output_dir.mkdir(parents=True, exist_ok=True)
    folder.remove_stale_temporaries()
    remove_stale_temporaries(spec.settings.build_dir)
    if not plans:
        return []
    install_targets = {name: state.install_target for name, state in lock_states.items()}
    return run_parallel(
        functools.partial(
            pack_layer,
            spec,
            fmt=fmt,
            install_targets=install_targets,
            reporter=reporter,
            stage=stage or stage_layer,
            bases=bases or {},
        ),
        plans,
        workers=packs_at_once(fmt, jobs, len(plans)),
        name="pack",
        undo=PackedLayer.discard,
    )


def packs_at_once(fmt: ArchiveFormat, jobs: int | None, count: int) -> int:
    """How many of ``count`` layers to pack at once: ``jobs``, else one per core.

    Without ``jobs``, a format that compresses on every core itself (``tar.zst``: its
    ``threads`` is ``None``) packs one layer at a time: a second pack beside it adds no CPU,
    only a second multithreaded compressor's memory (some 200 MB each at level 10; two of
    them took publish of the torch example to 677 MB, benchmarks/scale.py). A format whose
    layers share one pool of workers (``tar.xz``: ``shares_workers``) packs one layer per
    core: the pool's budget bounds the memory, and a layer's last pieces leave no core idle.
    """
    if jobs:
        return max(1, min(jobs, count))
    if getattr(fmt, "threads", 1) is None and not getattr(fmt, "shares_workers", False):
        return 1
    return max(1, min(os.cpu_count() or 1, count))


def pack_layer(
    spec: StackSpec,
    plan: PublishPlan,
    cancellation: Cancellation | None = None,
    *,
    fmt: ArchiveFormat,
    install_targets: Mapping[str, str],
    reporter: Reporter,
    stage: StageFunction,
    bases: Mapping[str, Sequence[DeltaBase]] | None = None,
) -> PackedLayer:
    """Stage a layer next to the build folder, hash its tree, pack it under a temporary name.

    ``cancellation`` is checked between the steps, between files while hashing and between
    chunks while packing; a cancelled layer removes its temporaries and raises ``Cancelled``.
    """
    cancel = cancellation or Cancellation()
    layer = plan.layer
    root_name = str(plan.request["install_target"])
    staging = spec.settings.build_dir / temporary_name(f"publish-{layer.build_name}")
    staging.mkdir(parents=True)
    temporary = plan.archive.parent / temporary_name(plan.archive.name)
    mtime = lock_mtime(str(plan.request["locked_at"]))
    extras = LayerExtras()
    try:
        staged = stage(
            spec,
            layer,
            stack_paths.env_path(spec, layer),
            staging / root_name,
            install_targets=install_targets,
        )
        cancel.check()
        entries = scan_tree(staged, root_name=root_name)
        with reporter.task(
            layer.build_name, f"pack {fmt.name}", total=content_size(entries), unit=BYTES
        ) as task:
            index = index_tree(cancel.each(entries))
            if _from_cache(fmt, index.tree_sha256, mtime, temporary):
                reporter.debug(f"{layer.build_name}: the same tree was packed before (cached)")
                task.advance(content_size(entries))
            else:
                fmt.pack(
                    staged, temporary, root_name=root_name, mtime=mtime, task=cancel.watch(task)
                )
                _to_cache(fmt, index.tree_sha256, mtime, temporary)
            fsync_file(temporary)
        extras = pack_extras(
            staged,
            index,
            archive=plan.archive,
            archive_size=temporary.stat().st_size,
            snippet_dir=plan.snippet.parent,
            fmt=fmt,
            bases=(bases or {}).get(layer.build_name, ()),
            mtime=mtime,
            workspace=staging,
            reporter=reporter,
            cancel=cancel,
        )
        metadata = {
            **plan.request,
            "archive_size": temporary.stat().st_size,
            "archive_hashes": {"sha256": file_sha256(temporary)},
            "tree_hashes": {"sha256": index.tree_sha256},
            "unpacked_size": content_size(entries),
            "unpacked_entries": len(entries),
            **extras.metadata,
        }
    except BaseException:
        temporary.unlink(missing_ok=True)
        extras.discard()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PackedLayer(plan=plan, temporary=temporary, metadata=metadata, extras=extras)


def _from_cache(fmt: ArchiveFormat, tree_sha256: str, mtime: int, temporary: Path) -> bool:
    """Link (or copy) the cached archive of this tree to ``temporary``; whether there was one."""
    cache = archive_cache()
    key = archive_key(fmt, tree_sha256=tree_sha256, mtime=mtime) if cache else None
    entry = cache.find(key) if cache and key else None
    return cache is not None and entry is not None and cache.link_to(entry, temporary)


def _to_cache(fmt: ArchiveFormat, tree_sha256: str, mtime: int, temporary: Path) -> None:
    """Keep the archive just packed for the next publish of the same tree."""
    cache = archive_cache()
    key = archive_key(fmt, tree_sha256=tree_sha256, mtime=mtime) if cache else None
    if cache and key:
        cache.store(key, temporary)
        cache.prune()


def commit_layers(
    spec: StackSpec,
    packed: Sequence[PackedLayer],
    folder: PublishFolder,
    hashes: ArchiveHashes | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Rename archives into place, write snippets, then the manifest (see the module docstring).

    The manifest lists the archives whose sha256 (checked through ``hashes``, where the new
    archives' hashes are recorded) is the one their snippets record. Archives not committed
    when this fails are removed.
    """
    hashes = hashes if hashes is not None else ArchiveHashes(folder.output_dir, None)
    try:
        _drop_replaced_from_manifest(spec, packed, folder, hashes)
        for item in packed:
            for temporary, final in item.extras.files:
                commit(temporary, final)
            commit(item.temporary, item.plan.archive)
            hashes.record(item.plan.archive, item.metadata["archive_hashes"]["sha256"])
            write_json(item.plan.snippet, item.metadata)
        fsync_dir(folder.output_dir)
    finally:
        for item in packed:
            item.discard()
    document = manifest(order=spec.build_names, layers=folder.published_layers(hashes=hashes))
    write_json(folder.manifest_path, document)
    for item in packed:  # deltas of an archive name now replaced: no manifest names them
        if item.extras.suffix:
            remove_stale_deltas(item.plan.archive, item.metadata, suffix=item.extras.suffix)
    return folder.manifest_path, document


def _drop_replaced_from_manifest(
    spec: StackSpec, packed: Sequence[PackedLayer], folder: PublishFolder, hashes: ArchiveHashes
) -> None:
    """Rewrite the manifest without the archives about to be replaced, if it names any."""
    replacing = {str(item.plan.request["archive_name"]) for item in packed}
    current = read_json(folder.manifest_path) or {}
    listed = {
        entry.get("archive_name")
        for entries in (current.get("layers") or {}).values()
        for entry in entries
        if isinstance(entry, Mapping)
    }
    if listed & replacing:
        interim = folder.published_layers(exclude=replacing, hashes=hashes)
        write_json(folder.manifest_path, manifest(order=spec.build_names, layers=interim))
