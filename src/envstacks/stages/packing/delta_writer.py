"""Write delta archives: a layer's new version as the content an earlier one lacks, plus a recipe.

What a delta holds and how its recipe reads is the published format's
(:mod:`envstacks.published.delta_recipe`); this module packs one from a staged new version. A
delta is reproducible: the same new tree and base give the same bytes (the recipe is
canonical JSON, the payload is packed like any layer, with the layer's lock time).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor.fs import file_sha256, fsync_file, link_or_copy, temporary_name, write_bytes
from envstacks.floor.report import Task
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.delta_recipe import RECIPE_MEMBER, DeltaRecipe, delta_name
from envstacks.published.file_index import FileIndex
from envstacks.published.layer_tree import scan_tree

__all__ = ["DeltaBase", "PackedDelta", "pack_delta"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeltaBase:
    """An earlier published version of a layer, which deltas are made against."""

    layer_name: str
    install_target: str
    archive_name: str
    archive_sha256: str
    #: Its tree hash (its index's).
    tree_sha256: str
    index: FileIndex
    #: Where it was found (a manifest path or URL), for messages.
    where: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PackedDelta:
    """A delta archive written under a temporary name, and its manifest entry."""

    temporary: Path
    #: ``archive_name``, ``archive_size``, ``archive_hashes``, ``base_*``, ``unpacked_*``.
    entry: dict[str, Any]


def pack_delta(
    staged: Path,
    recipe: DeltaRecipe,
    base: DeltaBase,
    *,
    fmt: ArchiveFormat,
    archive: Path,
    mtime: int,
    workspace: Path,
    task: Task,
) -> PackedDelta:
    """Pack the delta ``recipe`` describes, from the staged new version, beside ``archive``.

    ``staged`` is the new version's staged top folder; ``workspace`` a folder where the
    payload is staged with hard links (removed again). The delta is written under a
    temporary name next to its final one (the new version's archive name with a delta tag).
    """
    root = recipe.root
    new_tree = recipe.tree_sha256
    name = delta_name(
        archive.name, suffix=fmt.suffix, base_tree=base.tree_sha256, new_tree=new_tree
    )
    temporary = archive.parent / temporary_name(name)
    folder = workspace / temporary_name(f"delta-{root}")
    try:
        top = folder / root
        top.mkdir(parents=True)
        for path in sorted(recipe.payload):
            destination = top / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            link_or_copy(staged / path, destination)
        write_bytes(top / RECIPE_MEMBER, recipe.to_bytes())
        entries = scan_tree(top, root_name=root)
        fmt.pack(top, temporary, root_name=root, mtime=mtime, task=task)
        fsync_file(temporary)
        entry = {
            "archive_name": name,
            "archive_format": fmt.name,
            "archive_size": temporary.stat().st_size,
            "archive_hashes": {"sha256": file_sha256(temporary)},
            "base_install_target": base.install_target,
            "base_archive_hashes": {"sha256": base.archive_sha256},
            "base_tree_hashes": {"sha256": base.tree_sha256},
            "unpacked_size": sum(e.size for e in entries),
            "unpacked_entries": len(entries),
        }
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return PackedDelta(temporary=temporary, entry=entry)
