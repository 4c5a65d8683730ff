"""A layer's file index: every entry's path, kind, mode, size and sha256, and the tree hash from it.

Publish writes one index per layer next to its snippet
(``__venvstacks__/env_metadata/<layer_name>[-<platform>].files.json.gz``) and computes the
layer's published tree hash (``tree_hashes.sha256``) from it, so the index is the one source
of a layer's identity: deltas (:mod:`envstacks.stages.packing.delta_writer`) are made against it and
deploy checks every file of a layer it assembles from a delta against it.

The bytes are reproducible: compact JSON with the entries in archive order (depth first,
children sorted by name), gzip-compressed at level 9 with a fixed header (no name, mtime 0).
Paths are relative to the layer's top folder (``root``), so two versions of a versioned layer
(``framework@2``, ``framework@3``) compare path by path.

The tree hash feeds each entry, root first, as ``kind NUL <root>/<path> NUL octal mode NUL
payload LF`` to sha256, where the payload is the file's hex sha256, the symlink's target, or
nothing for a folder: the formula envstacks has always used, so deployment records made
before the index existed still match.

An index read from elsewhere (a previous publish, a delta) is checked before use: plain
relative paths without ``..``, each entry's folder listed before it, no name twice, known
kinds, 64 hex digits per file; anything else is refused as damaged.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import EnvStacksError, PublishError
from envstacks.floor.fs import file_sha256
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.layer_tree import DIR_MODE, TreeEntry

__all__ = [
    "INDEX_SUFFIX",
    "MAX_INDEX",
    "FileIndex",
    "IndexEntry",
    "index_tree",
    "parse_row",
    "tree_hash",
]

#: Suffix of a layer's index file, after its snippet's stem.
INDEX_SUFFIX = ".files.json.gz"
#: Largest index accepted, compressed or not (it is read into memory).
MAX_INDEX = 256 << 20
_FORMAT = "envstacks-file-index"
_VERSION = 1
_KIND_CODES = {MemberKind.DIR: "d", MemberKind.FILE: "f", MemberKind.SYMLINK: "l"}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MODES = frozenset({0o644, 0o755})


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexEntry:
    """One entry below a layer's top folder."""

    #: ``/``-separated path relative to the layer's top folder.
    path: str
    kind: MemberKind
    #: Normalised permission bits (``0o644`` or ``0o755``).
    mode: int
    #: File size in bytes (files only).
    size: int = 0
    #: Hex sha256 of the content (files only).
    sha256: str = ""
    #: The symlink's target as stored (symlinks only).
    link_target: str = ""

    def hash_line(self, root: str) -> bytes:
        """What this entry contributes to the tree hash."""
        payload = self.sha256 if self.kind is MemberKind.FILE else self.link_target
        return f"{self.kind.value}\0{root}/{self.path}\0{self.mode:o}\0{payload}\n".encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class FileIndex:
    """The entries of one layer below its top folder ``root``, in archive order."""

    root: str
    entries: tuple[IndexEntry, ...]

    @property
    def tree_sha256(self) -> str:
        """The layer's tree hash (see the module docstring)."""
        digest = hashlib.sha256(f"{MemberKind.DIR.value}\0{self.root}\0{DIR_MODE:o}\0\n".encode())
        for entry in self.entries:
            digest.update(entry.hash_line(self.root))
        return digest.hexdigest()

    @property
    def content_size(self) -> int:
        """Bytes of file content."""
        return sum(entry.size for entry in self.entries if entry.kind is MemberKind.FILE)

    @property
    def entry_count(self) -> int:
        """Entries an archive of this tree holds, its top folder included."""
        return len(self.entries) + 1

    def files(self) -> Iterator[IndexEntry]:
        """The file entries, in order."""
        return (entry for entry in self.entries if entry.kind is MemberKind.FILE)

    def by_content(self) -> dict[str, IndexEntry]:
        """The first file entry of each content (by sha256)."""
        found: dict[str, IndexEntry] = {}
        for entry in self.files():
            found.setdefault(entry.sha256, entry)
        return found

    def to_document(self) -> dict[str, Any]:
        """The index as JSON-able data (what :meth:`to_bytes` compresses)."""
        rows: list[list[Any]] = []
        for entry in self.entries:
            row: list[Any] = [entry.path, _KIND_CODES[entry.kind], entry.mode]
            if entry.kind is MemberKind.FILE:
                row += [entry.size, entry.sha256]
            elif entry.kind is MemberKind.SYMLINK:
                row.append(entry.link_target)
            rows.append(row)
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "root": self.root,
            "tree_sha256": self.tree_sha256,
            "entries": rows,
        }

    def to_bytes(self) -> bytes:
        """The reproducible, compressed serialisation."""
        text = json.dumps(self.to_document(), separators=(",", ":"), ensure_ascii=True)
        return gzip.compress(text.encode("ascii"), compresslevel=9, mtime=0)

    @classmethod
    def from_bytes(
        cls, data: bytes, *, where: str, error: type[EnvStacksError] = PublishError
    ) -> FileIndex:
        """Read an index written by :meth:`to_bytes`, checking every entry.

        Raises:
            EnvStacksError: (``error``) the data is not such an index, or an entry is unsafe.
        """
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                text = stream.read(MAX_INDEX + 1)
            if len(text) > MAX_INDEX:
                raise ValueError(f"larger than {MAX_INDEX} bytes unpacked")
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise error(
                f"file index {where}: cannot be read ({exc})",
                hint="it is damaged or not an envstacks file index; publish the layer again",
            ) from exc
        document = bounded_json.loads(
            text,
            where=f"file index {where}",
            max_bytes=MAX_INDEX,
            error=error,
            hint="it is damaged or not an envstacks file index; publish the layer again",
        )
        return cls.from_document(document, where=where, error=error)

    @classmethod
    def from_document(
        cls, document: Any, *, where: str, error: type[EnvStacksError] = PublishError
    ) -> FileIndex:
        """An index from its parsed JSON (see :meth:`from_bytes`)."""
        if not isinstance(document, Mapping) or document.get("format") != _FORMAT:
            raise error(f"file index {where}: not an envstacks file index")
        if document.get("version") != _VERSION:
            raise error(
                f"file index {where}: version {document.get('version')!r} is not supported "
                f"(this envstacks reads version {_VERSION})",
                hint="upgrade envstacks",
            )
        root, rows = document.get("root"), document.get("entries")
        if not isinstance(root, str) or not _plain(root) or not isinstance(rows, list):
            raise error(f"file index {where}: no valid 'root' and 'entries'")
        index = cls.from_rows(root, rows, where=where, error=error)
        recorded = document.get("tree_sha256")
        if recorded != index.tree_sha256:
            raise error(
                f"file index {where}: its entries hash to {index.tree_sha256}, "
                f"but it records {recorded!r}",
                hint="it is damaged; publish the layer again",
            )
        return index

    @classmethod
    def from_rows(
        cls, root: str, rows: list[Any], *, where: str, error: type[EnvStacksError] = PublishError
    ) -> FileIndex:
        """An index from its serialised rows, each checked (see the module docstring).

        Raises:
            EnvStacksError: (``error``) a row is malformed or names an unsafe path.
        """
        checker = _Checker(where, error)
        return cls(root=root, entries=tuple(checker.entry(row) for row in rows))


def index_tree(entries: Iterable[TreeEntry]) -> FileIndex:
    """The index of a scanned tree (:func:`~envstacks.published.layer_tree.scan_tree`).

    The first entry is the top folder; the others are given relative to it.
    """
    items = iter(entries)
    top = next(items)
    prefix = f"{top.name}/"
    indexed = []
    for entry in items:
        path = entry.name.removeprefix(prefix)
        kind, mode = entry.kind, entry.mode
        if kind is MemberKind.FILE:
            sha = file_sha256(entry.source)
            item = IndexEntry(path=path, kind=kind, mode=mode, size=entry.size, sha256=sha)
        elif kind is MemberKind.SYMLINK:
            item = IndexEntry(path=path, kind=kind, mode=mode, link_target=entry.link_target)
        else:
            item = IndexEntry(path=path, kind=kind, mode=mode)
        indexed.append(item)
    return FileIndex(root=top.name, entries=tuple(indexed))


def tree_hash(entries: Iterable[TreeEntry]) -> str:
    """The hex sha256 of a scanned tree, independent of archive format and compression."""
    return index_tree(entries).tree_sha256


def _plain(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


class _Checker:
    """Checks the rows of an index read from elsewhere, in order."""

    def __init__(self, where: str, error: type[EnvStacksError]) -> None:
        self._where = where
        self._error = error
        self._dirs: set[str] = {""}
        self._seen: set[str] = set()

    def entry(self, row: Any) -> IndexEntry:
        """One checked entry, in order (raises ``error`` naming the row)."""
        entry = parse_row(row, where=self._where, error=self._error)
        parent = entry.path.rpartition("/")[0]
        if parent not in self._dirs or entry.path in self._seen:
            raise _bad_row(
                row,
                "its folder is not listed before it, or it is listed twice",
                self._where,
                self._error,
            )
        self._seen.add(entry.path)
        if entry.kind is MemberKind.DIR:
            self._dirs.add(entry.path)
        return entry


def parse_row(row: Any, *, where: str, error: type[EnvStacksError] = PublishError) -> IndexEntry:
    """One serialised entry, checked on its own (a plain relative path, a known kind...).

    Raises:
        EnvStacksError: (``error``) the row is malformed.
    """
    if not isinstance(row, list) or len(row) < 3:
        raise _bad_row(row, "expected [path, kind, mode, ...]", where, error)
    path, code, mode = row[0], row[1], row[2]
    kind = _CODE_KINDS.get(code) if isinstance(code, str) else None
    if not isinstance(path, str) or kind is None or mode not in _MODES:
        raise _bad_row(row, "bad path, kind or mode", where, error)
    if not all(_plain(part) for part in path.split("/")):
        raise _bad_row(row, "the path is not a plain relative path", where, error)
    if kind is MemberKind.DIR:
        return IndexEntry(path=path, kind=kind, mode=mode)
    if kind is MemberKind.SYMLINK:
        if len(row) != 4 or not isinstance(row[3], str) or not row[3]:
            raise _bad_row(row, "a symlink needs its target", where, error)
        return IndexEntry(path=path, kind=kind, mode=mode, link_target=row[3])
    size, sha = row[3:5] if len(row) == 5 else (None, None)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad_row(row, "a file needs its size", where, error)
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise _bad_row(row, "a file needs its sha256 (64 lowercase hex digits)", where, error)
    return IndexEntry(path=path, kind=kind, mode=mode, size=size, sha256=sha)


def _bad_row(row: Any, why: str, where: str, error: type[EnvStacksError]) -> EnvStacksError:
    return error(
        f"file index {where}: entry {str(row)[:200]}: {why}",
        hint="the index is damaged or was tampered with; publish the layer again",
    )
