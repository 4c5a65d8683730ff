"""Delta archives: a new version of a layer as the content an earlier version lacks, plus a recipe.

A delta against a base version (known by its file index) is an ordinary archive in the
layer's format, under the new version's top folder, holding

* every file of the new version whose content (sha256) is nowhere in the base, at its new
  path: content the base holds under any path is reused, so moved and renamed files cost
  nothing;
* the recipe, ``<root>/.envstacks-delta.json``: the new version's whole file index, the base
  and new tree hashes, the files to take from another path of the base (``moved``) and the
  base's entries the new version no longer has (``remove``).

Every other file of the new version is the file at the same path of the base. Deploy
(:mod:`envstacks.deploy.delta`) unpacks a delta with the same rules as any archive, then
assembles the new version from it and the installed base, and checks every file against the
recipe's index and the index against the published tree hash.

A delta is reproducible: the same new tree and base give the same bytes (the recipe is
canonical JSON, the payload is packed like any layer, with the layer's lock time).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.errors import EnvStacksError
from envstacks.fs import file_sha256, fsync_file, link_or_copy, temporary_name, write_bytes
from envstacks.pack.archive_protocol import ArchiveFormat
from envstacks.pack.file_index import FileIndex
from envstacks.pack.layer_tree import scan_tree
from envstacks.report import Task

__all__ = [
    "RECIPE_MEMBER",
    "DeltaBase",
    "DeltaRecipe",
    "PackedDelta",
    "delta_name",
    "make_recipe",
    "pack_delta",
]

#: The recipe's name inside a delta archive, below the top folder.
RECIPE_MEMBER = ".envstacks-delta.json"
_FORMAT = "envstacks-delta"
_VERSION = 1
#: Hex digits of each tree hash in a delta's file name.
_NAME_DIGITS = 12


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
class DeltaRecipe:
    """How to assemble the new version of a layer from its delta and its base."""

    base_tree_sha256: str
    #: The new version's index (its tree hash is the new version's).
    index: FileIndex
    #: New path -> base path, for files whose content the base holds under another path.
    moved: Mapping[str, str]
    #: Base entries the new version does not have.
    remove: tuple[str, ...]
    #: New paths whose content is in the delta itself.
    payload: frozenset[str]

    def to_bytes(self) -> bytes:
        """The recipe member's canonical JSON."""
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "base_tree_sha256": self.base_tree_sha256,
            "tree_sha256": self.index.tree_sha256,
            "index": self.index.to_document(),
            "moved": sorted([new, old] for new, old in self.moved.items()),
            "remove": list(self.remove),
            "payload": sorted(self.payload),
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str, error: type[EnvStacksError]) -> DeltaRecipe:
        """Read a recipe (its index is checked entry by entry).

        Raises:
            EnvStacksError: (``error``) it is not a recipe, or names unsafe paths.
        """
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise error(f"delta recipe {where}: not JSON ({exc})") from exc
        if not isinstance(document, Mapping) or document.get("format") != _FORMAT:
            raise error(f"delta recipe {where}: not an envstacks delta recipe")
        if document.get("version") != _VERSION:
            raise error(
                f"delta recipe {where}: version {document.get('version')!r} is not supported",
                hint="upgrade envstacks",
            )
        index = FileIndex.from_document(document.get("index"), where=where, error=error)
        moved, remove, payload = (document.get(key) for key in ("moved", "remove", "payload"))
        base = document.get("base_tree_sha256")
        files = {entry.path for entry in index.files()}
        if not (
            isinstance(base, str)
            and isinstance(moved, list)
            and all(_pair(item) and item[0] in files and _relative(item[1]) for item in moved)
            and isinstance(remove, list)
            and all(_relative(item) for item in remove)
            and isinstance(payload, list)
            and all(isinstance(item, str) and item in files for item in payload)
        ):
            raise error(
                f"delta recipe {where}: malformed 'base_tree_sha256', 'moved', 'remove' or "
                "'payload' (each path must be a plain relative path; new paths files of the index)",
                hint="the delta is damaged or was tampered with; the full archive is used instead",
            )
        return cls(
            base_tree_sha256=base,
            index=index,
            moved=dict(moved),
            remove=tuple(remove),
            payload=frozenset(payload),
        )


def _relative(path: Any) -> bool:
    """Whether ``path`` is a plain relative path: no empty, ``.`` or ``..`` component."""
    return isinstance(path, str) and all(
        part not in ("", ".", "..") and "\0" not in part for part in path.split("/")
    )


def _pair(item: Any) -> bool:
    return isinstance(item, list) and len(item) == 2 and all(isinstance(p, str) for p in item)


def make_recipe(new: FileIndex, base: FileIndex, *, base_tree_sha256: str) -> DeltaRecipe:
    """What a delta from ``base`` to ``new`` holds: the content ``base`` lacks, and the rest."""
    base_files = {entry.path: entry for entry in base.files()}
    by_content = base.by_content()
    moved: dict[str, str] = {}
    payload: set[str] = set()
    for entry in new.files():
        same = base_files.get(entry.path)
        if same is not None and same.sha256 == entry.sha256:
            continue
        source = by_content.get(entry.sha256)
        if source is None:
            payload.add(entry.path)
        else:
            moved[entry.path] = source.path
    kept = {entry.path for entry in new.entries}
    remove = tuple(entry.path for entry in base.entries if entry.path not in kept)
    return DeltaRecipe(
        base_tree_sha256=base_tree_sha256,
        index=new,
        moved=moved,
        remove=remove,
        payload=frozenset(payload),
    )


def delta_name(archive_name: str, *, suffix: str, base_tree: str, new_tree: str) -> str:
    """``<archive stem>.delta-<base tree 12>-<new tree 12><suffix>``."""
    stem = archive_name.removesuffix(suffix)
    return f"{stem}.delta-{base_tree[:_NAME_DIGITS]}-{new_tree[:_NAME_DIGITS]}{suffix}"


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
    root = recipe.index.root
    new_tree = recipe.index.tree_sha256
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
