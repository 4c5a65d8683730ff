"""Chunk patches: a large changed file of a delta as ranges of its base version and new bytes.

A delta recipe of version 2 (:mod:`envstacks.published.delta_recipe`) may list ``patched``
files: files of the new version whose previous version (``base``, a file of the base layer)
shares most of its content with them, as a shared library of the next release does. Each is
a :class:`FilePatch`: the new file is its pieces in order, each either a range copied from
the base file (``["c", offset, length, sha256]``) or the next ``length`` bytes of the file the
delta brings at the new file's path, which holds only those literal bytes
(``["l", length, sha256]``). Every piece carries the sha256 of its bytes, the patch the base
file's sha256 and the whole new file's sha256 and size, so a rebuild checks everything it
reads and makes.

Reading a patch refuses what a hostile recipe could try: a path that is not plain relative
(escapes), a copy range outside the base file, pieces that are empty, run past the file's
size or do not add up to it, and more pieces than a file of that size can have
(:data:`MIN_PIECE`). Publishing cuts files at content-defined boundaries
(:mod:`envstacks.stages.packing.delta_writer`); deploy rebuilds them by copying ranges, streamed
(:mod:`envstacks.stages.deploying.delta_apply`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envstacks.floor.errors import EnvStacksError

__all__ = ["MIN_PIECE", "FilePatch", "Piece", "is_relative_path", "parse_patch"]

#: The smallest piece a writer makes (but a file's last); bounds the pieces a file may have.
MIN_PIECE = 4096
_KEYS = frozenset({"path", "base", "base_sha256", "sha256", "size", "pieces"})
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Piece:
    """``length`` bytes of the new file: from ``base_offset`` of the base file, or literal."""

    #: Where the bytes start in the base file; ``None``: the next literal bytes of the delta.
    base_offset: int | None
    length: int
    sha256: str

    def to_row(self) -> list[Any]:
        """The piece as the recipe lists it."""
        if self.base_offset is None:
            return ["l", self.length, self.sha256]
        return ["c", self.base_offset, self.length, self.sha256]


@dataclass(frozen=True, slots=True, kw_only=True)
class FilePatch:
    """A changed file made from its base version's ranges and the literal bytes a delta brings."""

    #: The new file's path (the delta brings its literal bytes under this path).
    path: str
    #: The base layer's file the copies read.
    base: str
    base_sha256: str
    sha256: str
    size: int
    pieces: tuple[Piece, ...]

    @property
    def literal_size(self) -> int:
        """Bytes of the new file the delta itself brings."""
        return sum(piece.length for piece in self.pieces if piece.base_offset is None)

    def to_document(self) -> dict[str, Any]:
        """The patch as the recipe lists it."""
        return {
            "path": self.path,
            "base": self.base,
            "base_sha256": self.base_sha256,
            "sha256": self.sha256,
            "size": self.size,
            "pieces": [piece.to_row() for piece in self.pieces],
        }


def is_relative_path(path: Any) -> bool:
    """Whether ``path`` is a plain relative path: no empty, ``.`` or ``..`` component."""
    return isinstance(path, str) and all(
        part not in ("", ".", "..") and "\0" not in part for part in path.split("/")
    )


def parse_patch(
    item: Any,
    *,
    base_files: Mapping[str, tuple[int, str]] | None,
    where: str,
    error: type[EnvStacksError],
    hint: str,
) -> FilePatch:
    """One ``patched`` item of a recipe, checked (module docstring).

    ``base_files`` (path -> size, sha256 of the base's files), when given, must hold the
    patch's base with its sha256, and every copy must lie inside that file.

    Raises:
        EnvStacksError: (``error``) the item is malformed or hostile.
    """

    def refuse(why: str) -> EnvStacksError:
        return error(f"delta recipe {where}: patched file {str(shown)[:120]!r}: {why}", hint=hint)

    shown = item.get("path") if isinstance(item, Mapping) else item
    if not isinstance(item, Mapping) or set(item) != _KEYS:
        raise refuse(f"not an object with the fields {', '.join(sorted(_KEYS))}")
    path, base, size, rows = item["path"], item["base"], item["size"], item["pieces"]
    if not (is_relative_path(path) and is_relative_path(base)):
        raise refuse("its path and base must be plain relative paths")
    if not (_is_sha(item["sha256"]) and _is_sha(item["base_sha256"]) and _is_count(size)):
        raise refuse("malformed sha256 or size")
    base_size = None
    if base_files is not None:
        listed = base_files.get(base)
        if listed is None or listed[1] != item["base_sha256"]:
            raise refuse(f"its base {base!r} is not a file of that sha256 in the base layer")
        base_size = listed[0]
    if not isinstance(rows, list) or len(rows) > size // MIN_PIECE + 2:
        raise refuse(f"its pieces are not a list of at most {size // MIN_PIECE + 2}")
    pieces = []
    total = 0
    for row in rows:
        piece = _piece(row)
        if piece is None:
            raise refuse(f"malformed piece {str(row)[:80]}")
        end = None if piece.base_offset is None else piece.base_offset + piece.length
        if end is not None and base_size is not None and end > base_size:
            raise refuse(f"a piece copies bytes up to {end}, past its base's {base_size}")
        total += piece.length
        if total > size:
            raise refuse(f"its pieces run past its size ({size} bytes)")
        pieces.append(piece)
    if total != size:
        raise refuse(f"its pieces make {total} bytes, not its size ({size})")
    return FilePatch(
        path=path,
        base=base,
        base_sha256=item["base_sha256"],
        sha256=item["sha256"],
        size=size,
        pieces=tuple(pieces),
    )


def _piece(row: Any) -> Piece | None:
    if not isinstance(row, list) or not row:
        return None
    if row[0] == "c" and len(row) == 4 and _is_count(row[1]):
        offset, length, sha = row[1], row[2], row[3]
    elif row[0] == "l" and len(row) == 3:
        offset, length, sha = None, row[1], row[2]
    else:
        return None
    if not (_is_count(length) and length > 0 and _is_sha(sha)):
        return None
    return Piece(offset, length, sha)


def _is_sha(value: Any) -> bool:
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
