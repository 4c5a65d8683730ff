"""Write delta archives: a layer's new version as the content an earlier one lacks, plus a recipe.

What a delta holds and how its recipe reads is the published format's
(:mod:`envstacks.published.delta_recipe`); this module packs one from a staged new version. A
delta is reproducible: the same new tree and base give the same bytes (the recipe is
canonical JSON, the payload is packed like any layer, with the layer's lock time).

A new file of at least ``ENVSTACKS_DELTA_PATCH_MIB`` MiB (:data:`PATCH_VARIABLE`, default 1;
``0`` turns patches off, so that an envstacks without them can deploy every delta) whose path
the base has as a file of other content (a shared library of the next release) is patched
when the base's archive can be read (:attr:`DeltaBase.extract`): both versions are cut at
content-defined boundaries (FastCDC, by pyfastcdc's C code, streamed: memory stays a few
chunks), and the new file becomes copies of the base's chunks it shares and the literal
bytes of the others (:mod:`envstacks.published.delta_patch`). It is kept only if it brings
at most half the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor.env_settings import whole_number
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.fs import file_sha256, fsync_file, link_or_copy, temporary_name, write_bytes
from envstacks.floor.report import Task
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.delta_patch import MIN_PIECE, FilePatch, Piece
from envstacks.published.delta_recipe import RECIPE_MEMBER, DeltaRecipe, delta_name
from envstacks.published.file_index import FileIndex
from envstacks.published.layer_tree import scan_tree

__all__ = ["PATCH_VARIABLE", "DeltaBase", "PackedDelta", "chunk_patch", "pack_delta"]

#: The setting: changed files of at least this many MiB are patched where it pays (0: never).
PATCH_VARIABLE = "ENVSTACKS_DELTA_PATCH_MIB"
#: FastCDC's average chunk size (its minimum a quarter, at least MIN_PIECE; its maximum 4x):
#: 16 KiB found 75% of a cuBLAS release in the previous one, 64 KiB 73% (docs/deltas.md).
_AVERAGE_CHUNK = 16 << 10
_BLOCK = 1 << 20


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
    #: Writes the base's files (path -> destination) from its archive, for patches; ``None``
    #: when the archive cannot be read (changed files are then brought whole).
    extract: Callable[[Mapping[str, Path], Task], None] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PackedDelta:
    """A delta archive written under a temporary name, and its manifest entry."""

    temporary: Path
    #: The recipe it holds (with its patches).
    recipe: DeltaRecipe
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
    copies = workspace / temporary_name(f"delta-base-{root}")
    try:
        top = folder / root
        top.mkdir(parents=True)
        recipe = _with_patches(staged, recipe, base, top=top, work=copies, task=task)
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
        shutil.rmtree(copies, ignore_errors=True)
    return PackedDelta(temporary=temporary, entry=entry, recipe=recipe)


def _with_patches(
    staged: Path, recipe: DeltaRecipe, base: DeltaBase, *, top: Path, work: Path, task: Task
) -> DeltaRecipe:
    """``recipe`` with its large brought files patched from the base where that pays.

    Each patch's literal bytes are written at its path under ``top``.
    """
    least = whole_number(PATCH_VARIABLE, default=1, unit="MiB") << 20
    new = {entry.path: entry for entry in recipe.changed}
    old = {entry.path: entry for entry in base.index.files()}
    candidates = sorted(
        path
        for path in recipe.payload
        if new[path].size >= max(least, MIN_PIECE) and path in old and old[path].size >= MIN_PIECE
    )
    if not least or not candidates or base.extract is None:
        return recipe
    work.mkdir()
    copies = {path: work / str(number) for number, path in enumerate(candidates)}
    try:
        base.extract(copies, task)
    except EnvStacksError as exc:  # an earlier version's archive gone or damaged: no patches
        task.note(f"no chunk patches: the earlier archive cannot be read ({exc.message})")
        for copy in copies.values():
            copy.unlink(missing_ok=True)
        return recipe
    patches = []
    for path in candidates:
        if not copies[path].is_file():  # not in the base's archive after all
            continue
        literal = top / path
        literal.parent.mkdir(parents=True, exist_ok=True)
        patch = chunk_patch(
            staged / path,
            copies[path],
            literal=literal,
            path=path,
            base_path=path,
            base_sha256=old[path].sha256,
            sha256=new[path].sha256,
        )
        copies[path].unlink(missing_ok=True)
        if patch is None:
            literal.unlink(missing_ok=True)
        else:
            literal.chmod(0o644)  # whatever the umask: the same delta bytes
            patches.append(patch)
    done = {patch.path for patch in patches}
    return dataclasses.replace(recipe, payload=recipe.payload - done, patched=tuple(patches))


def chunk_patch(
    new: Path,
    base: Path,
    *,
    literal: Path,
    path: str,
    base_path: str,
    base_sha256: str,
    sha256: str,
) -> FilePatch | None:
    """The patch making ``new`` from ``base``; its literal bytes written to ``literal``.

    ``None`` when ``base`` is not the file of ``base_sha256`` (a damaged base archive),
    ``new`` not that of ``sha256``, or the patch would bring more than half of ``new``.
    """
    from pyfastcdc import FastCDC  # noqa: PLC0415 - publish with deltas only

    cdc = FastCDC(_AVERAGE_CHUNK, min_size=max(MIN_PIECE, _AVERAGE_CHUNK // 4))
    known: dict[bytes, int] = {}
    whole = hashlib.sha256()
    with base.open("rb", buffering=_BLOCK) as stream:
        for chunk in cdc.cut_stream(stream):
            whole.update(chunk.data)
            known.setdefault(hashlib.sha256(chunk.data).digest(), chunk.offset)
    if whole.hexdigest() != base_sha256:
        return None
    pieces = _Pieces()
    whole = hashlib.sha256()
    with new.open("rb", buffering=_BLOCK) as stream, literal.open("wb") as out:
        for chunk in cdc.cut_stream(stream):
            whole.update(chunk.data)
            offset = known.get(hashlib.sha256(chunk.data).digest())
            if offset is None:
                out.write(chunk.data)
            pieces.add(offset, chunk.data)
    size = new.stat().st_size
    result = FilePatch(
        path=path,
        base=base_path,
        base_sha256=base_sha256,
        sha256=sha256,
        size=size,
        pieces=tuple(pieces.finished()),
    )
    if whole.hexdigest() != sha256 or result.literal_size > size // 2:
        return None
    return result


class _Pieces:
    """Chunks gathered into pieces: a chunk continuing the last piece's run extends it."""

    def __init__(self) -> None:
        self.done: list[Piece] = []
        self.offset: int | None = None
        self.length = 0
        self.digest = hashlib.sha256()

    def add(self, offset: int | None, data: memoryview) -> None:
        follows = offset is None if self.offset is None else offset == self.offset + self.length
        if self.length and not follows:
            self._close()
        if not self.length:
            self.offset = offset
        self.length += len(data)
        self.digest.update(data)

    def _close(self) -> None:
        self.done.append(Piece(self.offset, self.length, self.digest.hexdigest()))
        self.offset, self.length, self.digest = None, 0, hashlib.sha256()

    def finished(self) -> Iterator[Piece]:
        if self.length:
            self._close()
        return iter(self.done)
