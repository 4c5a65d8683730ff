"""Delta recipes: how a delta archive turns an installed version of a layer into a new one.

A delta against a base version (known by its file index) is an ordinary archive in the
layer's format, under the new version's top folder, holding

* every file of the new version whose content (sha256) is nowhere in the base, at its new
  path: content the base holds under any path is reused, so moved and renamed files cost
  nothing;
* the recipe, ``<root>/.envstacks-delta.json``: the base and new tree hashes, the index
  entries that are new or changed (``changed``), the base's entries the new version no longer
  has (``remove``), and for changed files whose content the base holds, where (``moved``);
* for large changed files that mostly share their content with their base version
  (``patched``, :mod:`envstacks.published.delta_patch`), only their new bytes, at their path.
  A recipe with patched files is version 2; one without stays version 1, which envstacks
  before chunk patches reads too (they refuse a version 2 recipe, and deploy the full archive).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import EnvStacksError
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.delta_patch import FilePatch, is_relative_path, parse_patch
from envstacks.published.file_index import FileIndex, IndexEntry, parse_row
from envstacks.published.manifest import ManifestLayer, is_plain_name

__all__ = [
    "MAX_RECIPE",
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
#: The version of a recipe with patched files.
_PATCHED_VERSION = 2
#: Largest recipe read (it holds the new version's changed entries).
MAX_RECIPE = 256 << 20
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
    #: Changed files made from base ranges and the literal bytes the delta brings at their path.
    patched: tuple[FilePatch, ...] = ()

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
        document: dict[str, Any] = {
            "format": _FORMAT,
            "version": _PATCHED_VERSION if self.patched else _VERSION,
            "root": self.root,
            "base_tree_sha256": self.base_tree_sha256,
            "tree_sha256": self.tree_sha256,
            "changed": changed,
            "remove": list(self.remove),
            "moved": sorted([new, old] for new, old in self.moved.items()),
            "payload": sorted(self.payload),
        }
        if self.patched:
            patched = sorted(self.patched, key=lambda patch: patch.path)
            document["patched"] = [patch.to_document() for patch in patched]
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("ascii")

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        where: str,
        error: type[EnvStacksError],
        base: FileIndex | None = None,
        max_entries: int | None = None,
    ) -> DeltaRecipe:
        """Read a recipe, checking each path (:meth:`apply` checks the tree it makes).

        The lists are read one entry at a time and bounded as they are read, so a recipe that
        lists millions of entries is refused at the first one too many, having held no more
        than the base's worth: with ``base``, every removal must be one of its paths (hence
        at most its entry count); ``max_entries`` bounds the changed entries (the new tree's
        entry count), and moved and brought files are changed ones.

        Raises:
            EnvStacksError: (``error``) it is not a recipe, names unsafe paths, or lists more
                entries than its base and new tree can have.
        """
        text = bounded_json.check(
            data,
            where=f"delta recipe {where}",
            max_bytes=MAX_RECIPE,
            error=error,
            hint=_DAMAGED,
        )
        bounds = _Bounds(where=where, error=error, base=base, max_entries=max_entries)
        rows: list[IndexEntry] = []
        moved_pairs: list[tuple[str, str]] = []
        remove_paths: list[str] = []
        payload_paths: list[str] = []
        patches: list[FilePatch] = []
        lists: dict[str, Callable[[Any], None]] = {
            "changed": lambda row: rows.append(bounds.changed(row)),
            "moved": lambda item: moved_pairs.append(bounds.moved(item)),
            "remove": lambda item: remove_paths.append(bounds.removed(item)),
            "payload": lambda item: payload_paths.append(bounds.brought(item)),
            "patched": lambda item: patches.append(bounds.patched(item)),
        }
        document = _stream_object(
            text, lists, bounds.fields, where=f"delta recipe {where}", error=error
        )
        if not isinstance(document, Mapping) or document.get("format") != _FORMAT:
            raise error(f"delta recipe {where}: not an envstacks delta recipe")
        version = document.get("version")
        if version not in (_VERSION, _PATCHED_VERSION) or (patches and version != _PATCHED_VERSION):
            raise error(
                f"delta recipe {where}: version {document.get('version')!r} is not supported",
                hint="upgrade envstacks",
            )
        changed = tuple(rows)
        files = {entry.path: entry for entry in changed if entry.kind is MemberKind.FILE}
        patched_paths = {patch.path for patch in patches}
        root, base_tree, tree = (
            document.get(key) for key in ("root", "base_tree_sha256", "tree_sha256")
        )
        if not (
            isinstance(root, str)
            and is_relative_path(root)
            and "/" not in root
            and isinstance(base_tree, str)
            and isinstance(tree, str)
            and set(lists) - {"patched"} <= set(document)
            and all(new in files for new, _old in moved_pairs)
            and all(item in files for item in payload_paths)
            and len(patched_paths) == len(patches)
            and not patched_paths & (set(payload_paths) | {new for new, _old in moved_pairs})
            and all(_patches_entry(patch, files.get(patch.path)) for patch in patches)
        ):
            raise error(
                f"delta recipe {where}: malformed fields (each path must be a plain relative "
                "path; moved, brought and patched paths must be changed files, each listed "
                "once, a patched one with its size and sha256)",
                hint=_DAMAGED,
            )
        return cls(
            base_tree_sha256=base_tree,
            tree_sha256=tree,
            root=root,
            changed=changed,
            remove=tuple(remove_paths),
            moved=dict(moved_pairs),
            payload=frozenset(payload_paths),
            patched=tuple(patches),
        )


def _patches_entry(patch: FilePatch, entry: IndexEntry | None) -> bool:
    return entry is not None and (entry.size, entry.sha256) == (patch.size, patch.sha256)


_DAMAGED = "the delta is damaged or was tampered with; the full archive is used instead"
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_LISTED = object()


def _stream_object(
    text: str,
    lists: Mapping[str, Callable[[Any], None]],
    fields: dict[str, Any],
    *,
    where: str,
    error: type[EnvStacksError],
) -> dict[str, Any]:
    """A JSON object's fields; the arrays of the keys in ``lists`` are handed over item by item.

    Each item of such an array goes to its callback as soon as it is parsed (the callback
    checks and bounds it) and the field is recorded as present, never kept as a list. The other
    fields go into ``fields`` as they are read (callbacks may look at those before them). The
    text was checked by :func:`envstacks.floor.bounded_json.check` (size, depth).
    """
    decoder = json.JSONDecoder()

    def skip(position: int) -> int:
        match = _WHITESPACE.match(text, position)
        return match.end() if match else position

    def expect(position: int, character: str) -> int:
        if text[position : position + 1] != character:
            raise error(f"{where}: not valid JSON (expected {character!r} at {position})")
        return skip(position + 1)

    def value(position: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, position)
        except ValueError as exc:
            raise error(f"{where}: not valid JSON ({exc})", hint=_DAMAGED) from None

    position = expect(skip(0), "{")
    while text[position : position + 1] != "}":
        if fields:
            position = expect(position, ",")
        key, position = value(position)
        if not isinstance(key, str) or key in fields:
            raise error(f"{where}: a key is not a string, or is given twice", hint=_DAMAGED)
        position = expect(skip(position), ":")
        handle = lists.get(key)
        if handle is None or text[position : position + 1] != "[":
            fields[key], position = value(position)
            position = skip(position)
            if handle is not None:
                raise error(f"{where}: {key!r} is not a list", hint=_DAMAGED)
            continue
        position = skip(position + 1)
        first = True
        while text[position : position + 1] != "]":
            if not first:
                position = expect(position, ",")
            item, position = value(position)
            handle(item)
            position, first = skip(position), False
        position = skip(position + 1)
        fields[key] = _LISTED
    if skip(position + 1) != len(text):
        raise error(f"{where}: not valid JSON (extra data after the object)", hint=_DAMAGED)
    return fields


@dataclass(slots=True, kw_only=True)
class _Bounds:
    """Checks each listed item of a recipe as it is read, and counts them against the bounds."""

    where: str
    error: type[EnvStacksError]
    base: FileIndex | None
    max_entries: int | None
    #: The recipe's fields read so far (its keys are sorted: the base tree comes first).
    fields: dict[str, Any] = field(default_factory=dict)
    _base_paths: frozenset[str] | None = None
    _removed: set[str] = field(default_factory=set)
    _changed: int = 0
    _moved: int = 0
    _brought: int = 0
    _base_files: dict[str, tuple[int, str]] | None = None

    def _paths(self) -> frozenset[str] | None:
        """The base's paths, once the recipe is known to be made against this base."""
        if self.base is None or self._base_paths is not None:
            return self._base_paths
        named = self.fields.get("base_tree_sha256")
        if named != self.base.tree_sha256:
            raise self.error(
                f"delta recipe: made against tree {str(named)[:12]}, "
                f"not {self.base.tree_sha256[:12]}"
            )
        self._base_paths = frozenset(entry.path for entry in self.base.entries)
        return self._base_paths

    def _over(self, what: str, bound: int) -> EnvStacksError:
        return self.error(
            f"delta recipe {self.where}: lists more {what} than the {bound} its base and new "
            "tree allow",
            hint=_DAMAGED,
        )

    def changed(self, row: Any) -> IndexEntry:
        self._changed += 1
        if self.max_entries is not None and self._changed > self.max_entries:
            raise self._over("changed entries", self.max_entries)
        return parse_row(row, where=self.where, error=self.error)

    def moved(self, item: Any) -> tuple[str, str]:
        self._moved += 1
        if self.max_entries is not None and self._moved > self.max_entries:
            raise self._over("moved files", self.max_entries)
        if not (_pair(item) and is_relative_path(item[0]) and is_relative_path(item[1])):
            raise self._malformed("moved", item)
        paths = self._paths()
        if paths is not None and item[1] not in paths:
            raise self._malformed("moved (from a path its base does not have)", item)
        return item[0], item[1]

    def removed(self, item: Any) -> str:
        if not is_relative_path(item):
            raise self._malformed("remove", item)
        paths = self._paths()
        if paths is not None:
            if item not in paths or item in self._removed:
                raise self._malformed("remove (a path its base does not have, or twice)", item)
            self._removed.add(item)
        return str(item)

    def brought(self, item: Any) -> str:
        self._brought += 1
        if self.max_entries is not None and self._brought > self.max_entries:
            raise self._over("brought files", self.max_entries)
        if not isinstance(item, str):
            raise self._malformed("payload", item)
        return item

    def patched(self, item: Any) -> FilePatch:
        self._brought += 1
        if self.max_entries is not None and self._brought > self.max_entries:
            raise self._over("brought files", self.max_entries)
        if self._paths() is not None and self._base_files is None and self.base is not None:
            self._base_files = {e.path: (e.size, e.sha256) for e in self.base.files()}
        return parse_patch(
            item, base_files=self._base_files, where=self.where, error=self.error, hint=_DAMAGED
        )

    def _malformed(self, key: str, item: Any) -> EnvStacksError:
        return self.error(
            f"delta recipe {self.where}: {key}: {str(item)[:120]!r} is not a plain relative "
            "path of the right kind",
            hint=_DAMAGED,
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
