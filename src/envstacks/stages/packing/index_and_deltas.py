"""What publish writes beside a layer's archive: its file index, its deltas to earlier versions.

Both are written under temporary names while the layer is staged (the deltas link their
payload from the staged tree), and committed with the archive, before its snippet: the
snippet's ``file_index`` (name, size, sha256 of ``env_metadata/<archive>.files.json.gz``) and
``deltas`` (one entry per earlier version, :mod:`envstacks.stages.packing.delta_writer`) only ever
name files that are in place. A delta that would not be smaller than the archive itself is not kept.
Each delta also names its base's index (``base_file_index``, ``env_metadata/<base tree
hash>.files.json.gz``), which deploy fetches when the target does not keep the index of its
installed version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envstacks.floor.fs import fsync_file, temporary_name
from envstacks.floor.report import Reporter
from envstacks.floor.workers import Cancellation
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.delta_recipe import make_recipe
from envstacks.published.file_index import INDEX_SUFFIX, FileIndex
from envstacks.stages.packing.delta_writer import DeltaBase, pack_delta

__all__ = ["LayerExtras", "base_index_name", "index_name", "pack_extras", "remove_stale_deltas"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerExtras:
    """Files written under temporary names for one layer, and the metadata that names them."""

    #: ``(temporary, final)`` pairs, committed before the snippet.
    files: tuple[tuple[Path, Path], ...] = ()
    #: ``file_index`` and (when any) ``deltas``.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The archive format's suffix (deltas are named ``<archive stem>.delta-...<suffix>``).
    suffix: str = ""

    def discard(self) -> None:
        """Remove the temporaries (a failed or cancelled publish)."""
        for temporary, _final in self.files:
            temporary.unlink(missing_ok=True)


def index_name(archive_name: str) -> str:
    """The file name of a layer's index: ``<archive name>.files.json.gz``."""
    return f"{archive_name}{INDEX_SUFFIX}"


def pack_extras(
    staged: Path,
    index: FileIndex,
    *,
    archive: Path,
    archive_size: int,
    snippet_dir: Path,
    fmt: ArchiveFormat,
    bases: Sequence[DeltaBase],
    mtime: int,
    workspace: Path,
    reporter: Reporter,
    cancel: Cancellation,
) -> LayerExtras:
    """Write the index of the layer staged at ``staged`` and its deltas against ``bases``.

    ``archive`` is where the layer's archive goes (deltas go beside it); ``archive_size`` is
    its size, which a delta must stay under to be kept.
    """
    snippet_dir.mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, Path]] = []
    try:
        metadata: dict[str, Any] = {
            "file_index": _write_index(index, snippet_dir / index_name(archive.name), files)
        }
        deltas = []
        tree = index.tree_sha256
        for base in _distinct(bases, tree):
            cancel.check()
            recipe = make_recipe(index, base.index, base_tree_sha256=base.tree_sha256)
            what = f"delta from {base.install_target} ({base.tree_sha256[:12]})"
            with reporter.task(index.root, what, total=None) as task:
                packed = pack_delta(
                    staged,
                    recipe,
                    base,
                    fmt=fmt,
                    archive=archive,
                    mtime=mtime,
                    workspace=workspace,
                    task=cancel.watch(task),
                )
            name = packed.entry["archive_name"]
            files.append((packed.temporary, archive.parent / name))
            if packed.entry["archive_size"] >= archive_size:
                reporter.debug(f"{index.root}: {name} is not smaller than the archive; left out")
                packed.temporary.unlink()
                files.pop()
                continue
            reporter.debug(
                f"{index.root}: {name}: {len(packed.recipe.payload)} new files, "
                f"{len(packed.recipe.patched)} patched, "
                f"{packed.entry['archive_size']} bytes"
            )
            # The base's index too, for a target that does not keep it (deployed before).
            base_index = snippet_dir / base_index_name(base.tree_sha256)
            packed.entry["base_file_index"] = _write_index(base.index, base_index, files)
            deltas.append(packed.entry)
        if deltas:
            metadata["deltas"] = deltas
    except BaseException:
        LayerExtras(files=tuple(files)).discard()
        raise
    return LayerExtras(files=tuple(files), metadata=metadata, suffix=fmt.suffix)


def base_index_name(tree_sha256: str) -> str:
    """The file name of a delta base's index in a publish folder: ``<tree hash>.files.json.gz``."""
    return f"{tree_sha256}{INDEX_SUFFIX}"


def _write_index(index: FileIndex, final: Path, files: list[tuple[Path, Path]]) -> dict[str, Any]:
    """Write ``index`` under a temporary name for ``final`` (noted in ``files``); its field."""
    data = index.to_bytes()
    temporary = final.parent / temporary_name(final.name)
    files.append((temporary, final))
    temporary.write_bytes(data)
    fsync_file(temporary)
    return {"name": final.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _distinct(bases: Sequence[DeltaBase], tree: str) -> list[DeltaBase]:
    """One base per earlier tree, leaving out the new tree itself."""
    seen = {tree}
    chosen = []
    for base in bases:
        if base.tree_sha256 not in seen:
            seen.add(base.tree_sha256)
            chosen.append(base)
    return chosen


def remove_stale_deltas(archive: Path, metadata: dict[str, Any], *, suffix: str) -> list[Path]:
    """Remove the deltas an earlier publish wrote for the archive name ``archive`` now replaced.

    They turn earlier versions into a tree no longer published under that name. Only files of
    the exact delta name pattern of this archive are touched; those ``metadata`` lists stay.
    """
    keep = {delta["archive_name"] for delta in metadata.get("deltas", ())}
    stem = archive.name.removesuffix(suffix)
    pattern = re.compile(
        re.escape(f"{stem}.delta-") + r"[0-9a-f]{12}-[0-9a-f]{12}" + re.escape(suffix)
    )
    stale = [
        path
        for path in archive.parent.iterdir()
        if pattern.fullmatch(path.name) and path.name not in keep
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
