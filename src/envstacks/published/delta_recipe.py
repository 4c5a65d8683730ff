"""Delta recipes: how a delta archive turns an installed version of a layer into a new one.

A delta against a base version (known by its file index) is an ordinary archive in the
layer's format, under the new version's top folder, holding

* every file of the new version whose content (sha256) is nowhere in the base, at its new
  path: content the base holds under any path is reused, so moved and renamed files cost
  nothing;
* the recipe, ``<root>/.envstacks-delta.json``: the base and new tree hashes, the index
  entries that are new or changed (``changed``), the base's entries the new version no longer
  has (``remove``), and for changed files whose content the base holds, where (``moved``).

Every other entry of the new version is the base's at the same path, so the recipe of a
one-module change is a few hundred bytes. A manifest entry lists its layer's deltas under
``deltas`` (:class:`DeltaOffer`: the delta archive, the base tree it applies to, the base's
published index). Packing writes deltas (:mod:`envstacks.stages.packing.delta_writer`);
deploying applies them (:mod:`envstacks.stages.deploying.delta_apply`), rebuilding the new
index from the installed base's index and the recipe and checking it against the published
tree hash.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envstacks.floor.errors import EnvStacksError
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.file_index import FileIndex, IndexEntry, parse_row
from envstacks.published.manifest import ManifestLayer, is_plain_name

__all__ = [
    "RECIPE_MEMBER",
    "DeltaOffer",
    "DeltaRecipe",
    "delta_name",
    "make_recipe",
    "offers",
]

#: The recipe's name inside a delta archive, below the top folder.
RECIPE_MEMBER = ".envstacks-delta.json"
_FORMAT = "envstacks-delta"
_VERSION = 1
#: Hex digits of each tree hash in a delta's file name.
_NAME_DIGITS = 12


_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeltaRecipe:
    """How to make the new version of a layer from its base version and its delta.

    The new version's index is the base's with ``remove`` taken out and ``changed`` put in
    (entries new or different at their path), in archive order: :meth:`apply` rebuilds it and
    checks it against ``tree_sha256``, so a recipe cannot make another tree than the one it
    names.
    """

    base_tree_sha256: str
    tree_sha256: str
    #: The new version's top folder.
    root: str
    #: Entries of the new version that the base does not have, or not the same, at their path.
    changed: tuple[IndexEntry, ...]
    #: Base paths the new version does not have.
    remove: tuple[str, ...]
    #: New path -> base path, for changed files whose content the base holds (under any path).
    moved: Mapping[str, str]
    #: New paths whose content is in the delta itself.
    payload: frozenset[str]

    def apply(self, base: FileIndex, *, error: type[EnvStacksError]) -> FileIndex:
        """The new version's index, made from ``base`` (whose tree hash must be the base's).

        Raises:
            EnvStacksError: (``error``) ``base`` is not this recipe's base, or the result is
                not the tree the recipe names (a damaged or forged recipe).
        """
        if base.tree_sha256 != self.base_tree_sha256:
            raise error(
                f"delta recipe: made against tree {self.base_tree_sha256[:12]}, "
                f"not {base.tree_sha256[:12]}"
            )
        entries = {entry.path: entry for entry in base.entries}
        for path in self.remove:
            entries.pop(path, None)
        entries.update((entry.path, entry) for entry in self.changed)
        ordered = sorted(entries.values(), key=lambda entry: entry.path.split("/"))
        rows = FileIndex(root=self.root, entries=tuple(ordered)).to_document()["entries"]
        index = FileIndex.from_rows(self.root, rows, where="delta recipe", error=error)
        if index.tree_sha256 != self.tree_sha256:
            raise error(
                f"delta recipe: applied to its base, it gives tree {index.tree_sha256[:12]}, "
                f"not the {self.tree_sha256[:12]} it names"
            )
        return index

    def to_bytes(self) -> bytes:
        """The recipe member's canonical JSON."""
        changed = FileIndex(root=self.root, entries=self.changed).to_document()["entries"]
        document = {
            "format": _FORMAT,
            "version": _VERSION,
            "root": self.root,
            "base_tree_sha256": self.base_tree_sha256,
            "tree_sha256": self.tree_sha256,
            "changed": changed,
            "remove": list(self.remove),
            "moved": sorted([new, old] for new, old in self.moved.items()),
            "payload": sorted(self.payload),
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str, error: type[EnvStacksError]) -> DeltaRecipe:
        """Read a recipe, checking each path (:meth:`apply` checks the tree it makes).

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
        rows = document.get("changed")
        changed = tuple(
            parse_row(row, where=where, error=error)
            for row in (rows if isinstance(rows, list) else ())
        )
        files = {entry.path for entry in changed if entry.kind is MemberKind.FILE}
        root, base, tree = (
            document.get(key) for key in ("root", "base_tree_sha256", "tree_sha256")
        )
        moved, remove, payload = (document.get(key) for key in ("moved", "remove", "payload"))
        if not (
            isinstance(root, str)
            and _relative(root)
            and "/" not in root
            and isinstance(base, str)
            and isinstance(tree, str)
            and isinstance(rows, list)
            and isinstance(moved, list)
            and all(_pair(item) and item[0] in files and _relative(item[1]) for item in moved)
            and isinstance(remove, list)
            and all(_relative(item) for item in remove)
            and isinstance(payload, list)
            and all(isinstance(item, str) and item in files for item in payload)
        ):
            raise error(
                f"delta recipe {where}: malformed fields (each path must be a plain relative "
                "path; moved and brought paths must be changed files)",
                hint="the delta is damaged or was tampered with; the full archive is used instead",
            )
        return cls(
            base_tree_sha256=base,
            tree_sha256=tree,
            root=root,
            changed=changed,
            remove=tuple(remove),
            moved=dict(moved),
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
    """What a delta from ``base`` to ``new`` holds: what changed, and the content ``base`` lacks."""
    old = {entry.path: entry for entry in base.entries}
    by_content = base.by_content()
    changed = tuple(entry for entry in new.entries if old.get(entry.path) != entry)
    moved: dict[str, str] = {}
    payload: set[str] = set()
    for entry in changed:
        if entry.kind is not MemberKind.FILE:
            continue
        source = by_content.get(entry.sha256)
        if source is None:
            payload.add(entry.path)
        else:
            moved[entry.path] = source.path
    kept = {entry.path for entry in new.entries}
    return DeltaRecipe(
        base_tree_sha256=base_tree_sha256,
        tree_sha256=new.tree_sha256,
        root=new.root,
        changed=changed,
        remove=tuple(entry.path for entry in base.entries if entry.path not in kept),
        moved=moved,
        payload=frozenset(payload),
    )


def delta_name(archive_name: str, *, suffix: str, base_tree: str, new_tree: str) -> str:
    """``<archive stem>.delta-<base tree 12>-<new tree 12><suffix>``."""
    stem = archive_name.removesuffix(suffix)
    return f"{stem}.delta-{base_tree[:_NAME_DIGITS]}-{new_tree[:_NAME_DIGITS]}{suffix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeltaOffer:
    """One delta a manifest entry lists."""

    archive_name: str
    archive_size: int
    archive_sha256: str
    archive_format: str | None
    base_tree_sha256: str
    unpacked_size: int | None
    unpacked_entries: int | None
    #: ``{"name", "size", "sha256"}`` of the base's published index, if the entry names one.
    base_index: Mapping[str, object] | None = None


def offers(layer: ManifestLayer) -> tuple[DeltaOffer, ...]:
    """The well-formed deltas of a manifest entry (others are ignored: the full archive stays)."""
    found = []
    for item in layer.metadata.get("deltas") or ():
        offer = _offer(item) if isinstance(item, Mapping) else None
        if offer is not None:
            found.append(offer)
    return tuple(found)


def _offer(item: Mapping[str, object]) -> DeltaOffer | None:
    name, size = item.get("archive_name"), item.get("archive_size")
    sha, base = _sha(item.get("archive_hashes")), _sha(item.get("base_tree_hashes"))
    fmt = item.get("archive_format")
    if not (isinstance(name, str) and is_plain_name(name) and _count(size) is not None):
        return None
    if sha is None or base is None:
        return None
    return DeltaOffer(
        archive_name=name,
        archive_size=int(str(size)),
        archive_sha256=sha,
        archive_format=fmt if isinstance(fmt, str) else None,
        base_tree_sha256=base,
        unpacked_size=_count(item.get("unpacked_size")),
        unpacked_entries=_count(item.get("unpacked_entries")),
        base_index=_base_index(item.get("base_file_index")),
    )


def _base_index(value: object) -> Mapping[str, object] | None:
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        return None
    return value if _count(value.get("size")) is not None and _sha(value) else None


def _sha(hashes: object) -> str | None:
    value = hashes.get("sha256") if isinstance(hashes, Mapping) else None
    if not isinstance(value, str) or not _SHA256.fullmatch(value.lower()):
        return None
    return value.lower()


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
