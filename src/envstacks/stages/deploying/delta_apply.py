"""Deploy a layer from a delta: choose one that fits an installed version, assemble it, check it.

A manifest entry may list ``deltas`` (:mod:`envstacks.stages.packing.delta_writer`): archives that
turn an earlier version of the layer (known by its tree hash) into this one. :func:`choose_delta`
picks, for a layer to install, the smallest delta whose base is installed in the target (the same
folder, or for a versioned layer another version of it), if it is smaller than the full archive.

The deployer fetches, verifies and unpacks the delta like any archive (same size and sha256
check, same unpack rules and bounds) into a work folder; :func:`assemble` then builds the new
version there:

1. the recipe (``.envstacks-delta.json``) is read and removed, and applied to the installed
   base's file index (kept by deploy, :mod:`envstacks.stages.deploying.kept_indexes`): the new index
   must hash to the tree hash the manifest publishes; the delta must hold exactly the files
   the recipe says it brings;
2. folders and symlinks are made from the index (symlinks checked like archive members);
3. every other file is hard-linked (copied where linking fails or the mode differs) from the
   installed base: the file at the same path, or the one the recipe names;
   a patched file (:mod:`envstacks.published.delta_patch`) is rebuilt, streamed in blocks of
   :data:`_BLOCK`, from ranges of its installed base file (whose sha256 is checked first) and
   the literal bytes the delta brings at its path, each literal piece's sha256 and the whole
   file's checked as it is written;
4. every file of the new tree, brought or linked, is checked against the index (a regular
   file, its mode, size and sha256), and nothing else is in the tree.

The recipe is bounded by its base before it is read (bytes, then entries as they are read: no
more removals than the base has entries), and reuse never follows a link (a folder or file of
the installed version that is a symlink is not reused), so assembly reads only the base layer's
own files and writes only in the work folder.

Anything that does not match (a delta for another base, a tampered recipe, an installed file
modified since it was deployed) raises :class:`DeltaMismatch`; the deployer then removes the
work folder and installs the full archive instead. Nothing is placed before the check, and
the installed base is only read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from envstacks.floor.errors import DeployError, UnsafeArchiveError
from envstacks.floor.fs import file_sha256, link_or_copy
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.delta_patch import MIN_PIECE, FilePatch
from envstacks.published.delta_recipe import (
    MAX_RECIPE,
    RECIPE_MEMBER,
    DeltaOffer,
    DeltaRecipe,
    offers,
)
from envstacks.published.file_index import FileIndex, IndexEntry
from envstacks.published.manifest import ManifestLayer
from envstacks.published.safe_unpack import check_symlink
from envstacks.published.unpack_limits import Refuse
from envstacks.stages.deploying.deploy_record import DeployedLayer

__all__ = [
    "DeltaMismatch",
    "assemble",
    "choose_delta",
    "delta_layer",
    "rebuild_patched",
    "recipe_bounds",
]

#: What any recipe may take beyond its entries (its fixed fields).
_RECIPE_FLOOR = 64 << 10
#: Bytes each entry of a recipe may take at most (a path of 4,000 bytes and its row).
_BYTES_PER_ENTRY = 4200
#: Bytes each piece of a patched file may take at most in a recipe.
_BYTES_PER_PIECE = 100
#: Bytes read and written at a time when a patched file is rebuilt.
_BLOCK = 1 << 20


class DeltaMismatch(DeployError):
    """A delta cannot make the published version here; the full archive is used instead."""


def choose_delta(
    layer: ManifestLayer, records: Mapping[str, DeployedLayer], target: Path
) -> tuple[DeltaOffer, DeployedLayer] | None:
    """The smallest delta of ``layer`` whose base is installed in ``target``, and that base.

    A base is an installed record of the same deployed name, or of the same layer name (another
    version of a versioned layer), whose tree hash the delta names and whose folder exists.
    ``None`` when no delta fits, or none is smaller than the full archive.
    """
    bases = {
        record.tree_sha256: record
        for record in records.values()
        if record.state == "installed"
        and record.tree_sha256 is not None
        and (record.install_target == layer.install_target or record.layer_name == layer.layer_name)
        and (target / record.install_target).is_dir()
    }
    fitting = [
        (offer, bases[offer.base_tree_sha256])
        for offer in offers(layer)
        if offer.base_tree_sha256 in bases and offer.archive_size < layer.archive_size
    ]
    return min(fitting, key=lambda pair: pair[0].archive_size) if fitting else None


def delta_layer(layer: ManifestLayer, offer: DeltaOffer) -> ManifestLayer:
    """The delta as a manifest entry of its own: fetched, verified and unpacked like one."""
    return dataclasses.replace(
        layer,
        archive_name=offer.archive_name,
        archive_size=offer.archive_size,
        archive_sha256=offer.archive_sha256,
        archive_format=offer.archive_format or layer.archive_format,
        tree_sha256=None,
        unpacked_size=offer.unpacked_size,
        unpacked_entries=offer.unpacked_entries,
    )


def assemble(
    layer: ManifestLayer,
    offer: DeltaOffer,
    *,
    root: Path,
    base: Path,
    base_index: FileIndex,
    target: Path,
) -> FileIndex:
    """Turn the unpacked delta at ``root`` into the layer's new version (module docstring).

    ``base`` is the installed version's folder and ``base_index`` its index, ``target`` the
    deployment folder. Returns the new version's index.

    Raises:
        DeltaMismatch: the delta does not make the published version from this base here.
        UnsafeArchiveError: the recipe names a symlink that could leave the target.
    """
    recipe = _read_recipe(root, layer, offer, base_index)
    index = recipe.apply(base_index, error=DeltaMismatch)
    _check_payload(root, recipe, index, layer)
    installed = _InstalledBase(base, target, base_index, layer)
    patches = {patch.path: patch for patch in recipe.patched}
    for entry in index.entries:
        path = root / entry.path
        if entry.kind is MemberKind.DIR:
            path.mkdir(exist_ok=True)
            path.chmod(entry.mode)
        elif entry.kind is MemberKind.SYMLINK:
            parts = (layer.install_target, *entry.path.split("/"))
            check_symlink(parts, entry.link_target, _refusal(layer, target))
            path.symlink_to(entry.link_target)
        elif entry.path in patches:
            patch = patches[entry.path]
            base_file = installed.source(patch.base, patch.base_sha256)
            rebuild_patched(patch, base_file, path, install_target=layer.install_target)
            path.chmod(entry.mode)
        elif entry.path not in recipe.payload:
            installed.reuse(recipe.moved.get(entry.path, entry.path), path, entry)
    _check_tree(root, index.entries, layer, hashed=frozenset(patches))
    return index


def recipe_bounds(layer: ManifestLayer, base_index: FileIndex) -> tuple[int, int]:
    """The largest recipe (bytes), and most changed entries, of a delta over ``base_index``.

    A recipe lists the new tree's changed entries (at most its entry count, which the manifest
    records, else the base's and the delta's together) and the base's removed ones (at most
    the base's); each takes well under :data:`_BYTES_PER_ENTRY` bytes.
    """
    base_entries = len(base_index.entries)
    new_entries = layer.unpacked_entries
    if new_entries is None:
        new_entries = base_entries + (layer.archive_size // 64 + 1)
    size = _RECIPE_FLOOR + _BYTES_PER_ENTRY * (base_entries + new_entries)
    # Pieces of patched files: at most one per MIN_PIECE bytes of the new tree, and two more
    # per file.
    new_bytes = layer.unpacked_size
    if new_bytes is None:
        new_bytes = sum(entry.size for entry in base_index.files()) + layer.archive_size
    size += _BYTES_PER_PIECE * (new_bytes // MIN_PIECE + 2 * new_entries)
    return min(MAX_RECIPE, size), new_entries


def _read_recipe(
    root: Path, layer: ManifestLayer, offer: DeltaOffer, base_index: FileIndex
) -> DeltaRecipe:
    where = f"{offer.archive_name} ({RECIPE_MEMBER})"
    path = root / RECIPE_MEMBER
    info = path.lstat() if os.path.lexists(path) else None
    if info is None or not stat.S_ISREG(info.st_mode):
        raise DeltaMismatch(f"delta {offer.archive_name!r}: it holds no recipe")
    limit, max_entries = recipe_bounds(layer, base_index)
    if info.st_size > limit:
        raise DeltaMismatch(
            f"delta {offer.archive_name!r}: its recipe ({info.st_size} bytes) is larger than a "
            f"recipe over a base of {len(base_index.entries)} entries can be ({limit} bytes)"
        )
    data = path.read_bytes()
    path.unlink()
    recipe = DeltaRecipe.from_bytes(
        data, where=where, error=DeltaMismatch, base=base_index, max_entries=max_entries
    )
    if recipe.base_tree_sha256 != offer.base_tree_sha256:
        raise DeltaMismatch(
            f"delta {offer.archive_name!r} is made against tree {recipe.base_tree_sha256[:12]}, "
            f"not the installed {offer.base_tree_sha256[:12]} its manifest entry names"
        )
    if recipe.root != layer.install_target or recipe.tree_sha256 != layer.tree_sha256:
        raise DeltaMismatch(
            f"delta {offer.archive_name!r} makes tree {recipe.tree_sha256[:12]} of "
            f"{recipe.root!r}, not {str(layer.tree_sha256)[:12]} of "
            f"{layer.install_target!r} that the manifest publishes"
        )
    return recipe


def _check_payload(root: Path, recipe: DeltaRecipe, index: FileIndex, layer: ManifestLayer) -> None:
    """The delta brings exactly the files its recipe names, under folders the index lists.

    Only real folders and regular files count: a symlink in a delta is refused.
    """
    kinds = {entry.path: entry.kind for entry in index.entries}
    brought = set()
    expected_files = set(recipe.payload) | {patch.path for patch in recipe.patched}
    for folder, dirs, files in os.walk(root):
        relative = Path(folder).relative_to(root)
        for name in dirs + files:
            path = (relative / name).as_posix()
            mode = (Path(folder) / name).lstat().st_mode
            expected = MemberKind.DIR if stat.S_ISDIR(mode) else MemberKind.FILE
            if kinds.get(path) is not expected or not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise DeltaMismatch(
                    f"delta for {layer.install_target!r}: {path} is not what the index lists"
                )
            if expected is MemberKind.FILE:
                brought.add(path)
    if brought != expected_files:
        extra = sorted(brought ^ expected_files)[:3]
        raise DeltaMismatch(
            f"delta for {layer.install_target!r} does not bring the files its recipe names "
            f"({', '.join(extra)})"
        )


class _InstalledBase:
    """The installed version a delta is applied to: the files it may lend, found without links.

    A file is reused only if the base's index lists it as a file of that content, and it is,
    on disk, a regular file reached through real folders of the base layer: a symlink in the
    installed tree (the layer's folder itself, a folder on the way, or the file) is never
    followed, so nothing of another layer, or outside the target, is ever linked into the new
    version.
    """

    def __init__(
        self, base: Path, target: Path, base_index: FileIndex, layer: ManifestLayer
    ) -> None:
        self.base, self.layer = base, layer
        self.files = {entry.path: entry for entry in base_index.files()}
        self.real = Path(os.path.realpath(base))
        if self.real != Path(os.path.realpath(target)) / base.name or base.parent != target:
            raise DeltaMismatch(
                f"layer {layer.install_target!r}: the installed {base} is a link, not a "
                "layer folder of the target; the delta is not applied to it"
            )
        self._real_folders: dict[str, bool] = {"": True}

    def source(self, relative: str, sha256: str, size: int | None = None) -> Path:
        """The installed file ``relative`` of the base, listed with content ``sha256``."""
        listed = self.files.get(relative)
        if listed is None or listed.sha256 != sha256 or size not in (None, listed.size):
            raise DeltaMismatch(
                f"layer {self.layer.install_target!r}: the delta takes {relative} from the "
                "installed version, whose index has no such file with that content"
            )
        folder = relative.rpartition("/")[0]
        source = self.base.joinpath(*relative.split("/"))
        try:
            info = source.lstat() if self._real_folder(folder) else None
        except FileNotFoundError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode) or info.st_size != listed.size:
            raise _modified(self.base, relative, self.layer)
        return source

    def reuse(self, relative: str, path: Path, entry: IndexEntry) -> None:
        """Link (or copy) the installed file ``relative`` of the base to ``path``."""
        source = self.source(relative, entry.sha256, entry.size)
        info = source.lstat()
        if stat.S_IMODE(info.st_mode) == entry.mode:
            link_or_copy(source, path)
        else:  # another mode: a linked file would change the installed one's too
            shutil.copyfile(source, path, follow_symlinks=False)
            path.chmod(entry.mode)

    def _real_folder(self, folder: str) -> bool:
        """Whether the base's ``folder`` is a real folder of it (no symlink on the way)."""
        known = self._real_folders.get(folder)
        if known is None:
            parts = folder.split("/")
            known = Path(os.path.realpath(self.base.joinpath(*parts))) == self.real.joinpath(*parts)
            self._real_folders[folder] = known
        return known


def rebuild_patched(
    patch: FilePatch, base_file: Path, literal: Path, *, install_target: str
) -> None:
    """Make ``patch``'s file at ``literal`` (which holds its literal bytes) from ``base_file``.

    The base file's sha256 is checked before it is read, each literal piece's as it is
    copied, and the whole result's as it is written (the copies come from the checked base
    file: a piece pointing at the wrong range fails the whole file's sha256, without hashing
    every byte twice).

    Raises:
        DeltaMismatch: the base file is not the one the patch was made from, or a piece or the
            result is not what the patch names.
    """
    where = f"layer {install_target!r}: {patch.path}"
    if file_sha256(base_file) != patch.base_sha256:
        raise DeltaMismatch(
            f"{where}: the installed {base_file} is not the file the delta was made from "
            "(modified since it was deployed?); deploy the full layer"
        )
    if literal.stat().st_size != patch.literal_size:
        raise DeltaMismatch(f"{where}: the delta brings other bytes than its recipe's pieces")
    made = literal.with_name(f"{literal.name}.envstacks-patched")
    whole = hashlib.sha256()
    try:
        with base_file.open("rb") as base, literal.open("rb") as new, made.open("wb") as out:
            for piece in patch.pieces:
                if piece.base_offset is None:
                    source, digest = new, hashlib.sha256()
                else:
                    source, digest = base, None
                    base.seek(piece.base_offset)
                left = piece.length
                while left:
                    block = source.read(min(_BLOCK, left))
                    if not block:
                        raise DeltaMismatch(f"{where}: a piece runs past the end of its source")
                    if digest is not None:
                        digest.update(block)
                    whole.update(block)
                    out.write(block)
                    left -= len(block)
                if digest is not None and digest.hexdigest() != piece.sha256:
                    raise DeltaMismatch(
                        f"{where}: a piece of {piece.length} bytes is not the one the recipe "
                        "names; deploy the full layer"
                    )
        if whole.hexdigest() != patch.sha256:
            raise DeltaMismatch(
                f"{where}: rebuilt, it is not the published file; deploy the full layer"
            )
        made.replace(literal)
    finally:
        made.unlink(missing_ok=True)


def _check_tree(
    root: Path, entries: Sequence[IndexEntry], layer: ManifestLayer, *, hashed: frozenset[str]
) -> None:
    """Every file is the index's (regular, mode, size, sha256); the tree holds nothing else.

    The files of ``hashed`` (rebuilt from patches, their sha256 checked as they were written)
    are not hashed again.
    """
    for entry in entries:
        if entry.kind is not MemberKind.FILE:
            continue
        path = root.joinpath(*entry.path.split("/"))
        info = path.lstat()
        if (
            not stat.S_ISREG(info.st_mode)
            or stat.S_IMODE(info.st_mode) != entry.mode
            or info.st_size != entry.size
            or (entry.path not in hashed and file_sha256(path) != entry.sha256)
        ):
            raise DeltaMismatch(
                f"layer {layer.install_target!r}: {entry.path} assembled from the delta is not "
                "the published file (an installed file was modified since it was deployed?)"
            )
    count = sum(len(dirs) + len(files) for _folder, dirs, files in os.walk(root))
    if count != len(entries):
        raise DeltaMismatch(f"layer {layer.install_target!r}: the assembled tree has extra entries")


def _modified(base: Path, relative: str, layer: ManifestLayer) -> DeltaMismatch:
    return DeltaMismatch(
        f"layer {layer.install_target!r}: the installed {base / relative} is missing or "
        "modified since it was deployed, so the delta cannot be applied to it"
    )


def _refusal(layer: ManifestLayer, target: Path) -> Refuse:
    def refuse(member: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(
            f"delta for {layer.install_target!r}: refusing symlink {member!r}: {why}; "
            f"nothing was deployed from it into {target}",
            hint="the delta was not made by envstacks publish, or was tampered with",
        )

    return refuse
