"""Merge several publish folders (one per platform, say from a CI matrix) into one folder.

:func:`merge_outputs` reads, in every input folder, the manifest of each platform it holds
(the one ``deploy`` on that platform reads, :mod:`envstacks.published.folder_manifests`),
checks every name as deploy checks it and that no two inputs disagree about a layer (the same
platform and deployed name, or the same file name, with other content), then brings every
archive, delta and file index they list into the output folder, verified: a file is hard-linked
(a copy across file systems) under a temporary name, and that temporary must be a regular
file with the size and sha256 the manifest records before it is renamed into place; an input
file that is a symlink is copied (its content, read through the link and checked), never
linked. It then writes:

* one snippet per layer and platform (``env_metadata/<layer>-<platform>.json``);
* one manifest per platform (``venvstacks-<platform>.json``), which ``deploy`` on that
  platform and venvstacks consumers read, as for ``publish --tag-outputs``;
* the registry repositories the inputs were pushed to (for blob mounts of a later push);
* last, the one index of the folder, ``venvstacks.json``: every platform's layers, each
  entry with its ``target_platform``; ``deploy`` picks the entries of its own platform.

Merge writes only inside the output folder: every name taken from an input is a plain name,
its ``__venvstacks__`` folders must be folders (not links elsewhere), and every file is
written under a temporary name and renamed, which replaces a link rather than writing
through it. Inputs published without ``--tag-outputs`` name their archives alike on every
platform, so merging two such folders of different platforms is refused, with that fix.
Giving the output folder as one of the inputs adds platforms to an earlier merge.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envstacks.floor.errors import PublishError
from envstacks.floor.fs import commit, dumps_json, fsync_dir, temporary_name, write_bytes
from envstacks.floor.report import Reporter, plural
from envstacks.published.folder_manifests import (
    FolderEntry,
    ListedFile,
    agreed,
    read_folder,
    unique_files,
)
from envstacks.published.publish_folder import (
    METADATA_DIR,
    SBOM_DIR,
    SNIPPET_DIR,
    PublishFolder,
    manifest,
)
from envstacks.published.push_record import pushed_repositories, record_push

__all__ = ["MergeResult", "merge_outputs"]

_VERB = "merge"
#: Bytes read at a time when copying or hashing.
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeResult:
    """What a merge wrote."""

    output_dir: Path
    #: Manifest file (relative to the output folder) by platform.
    manifests: Mapping[str, str] = field(default_factory=dict)
    #: The manifest of every platform.
    index: str = ""
    #: Layers by platform (install targets).
    layers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Files copied or linked into the output folder (the others were there already).
    copied: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """One line per platform and the index."""
        lines = [
            f"{platform}: {plural(len(self.layers[platform]), 'layer')} "
            f"({self.manifests[platform]})"
            for platform in sorted(self.manifests)
        ]
        return [*lines, f"index: {self.index}"]


def merge_outputs(inputs: Sequence[Path], output_dir: Path, *, reporter: Reporter) -> MergeResult:
    """Merge the publish folders ``inputs`` into ``output_dir`` (see the module docstring).

    The orchestrator holds the output folder for the whole merge (a publish or another
    merge into it waits): :func:`envstacks.orchestrator.distribution.merge`.

    Raises:
        PublishError: an input has no manifest or a damaged one, a name in it is not a plain
            name, a listed file is missing or not what its manifest records, two inputs
            disagree about a layer or a file name, or the output's metadata folders are links.
        FileSystemError: the file system refused a write (full, read-only...).
    """
    entries = agreed(
        [
            entry
            for folder in inputs
            for platform in read_folder(folder, verb=_VERB).values()
            for entry in platform.entries
        ],
        verb=_VERB,
    )
    files = unique_files(entries, verb=_VERB)
    snippets = _snippets(entries, output_dir, taken=set(files))
    _make_metadata_folders(output_dir)
    copied = [
        relative
        for relative, (item, entry) in files.items()
        if _place(item, item.path_in(entry.folder), final=output_dir / relative)
    ]
    fsync_dir(output_dir)
    reporter.debug(f"merge: {len(copied)} of {len(files)} files copied or linked")
    by_platform: dict[str, list[Mapping[str, Any]]] = {}
    for entry, snippet in zip(entries, snippets, strict=True):
        by_platform.setdefault(entry.platform, []).append(entry.data)
        _write_json(snippet, entry.data)
    manifests = {}
    for platform, layers in sorted(by_platform.items()):
        folder = PublishFolder(output_dir=output_dir, platform=platform, tag_outputs=True)
        _write_json(folder.manifest_path, manifest(layers))
        manifests[platform] = str(folder.manifest_path.relative_to(output_dir))
    _carry_push_records(inputs, output_dir, reporter)
    index = output_dir / METADATA_DIR / "venvstacks.json"
    _write_json(index, manifest([entry.data for entry in entries]))
    return MergeResult(
        output_dir=output_dir,
        manifests=manifests,
        index=str(index.relative_to(output_dir)),
        layers={p: tuple(str(d["install_target"]) for d in ls) for p, ls in by_platform.items()},
        copied=tuple(copied),
    )


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write a JSON file under a temporary name, then rename it (a link there is replaced)."""
    write_bytes(path, dumps_json(dict(data)).encode("utf-8"), durable=True)


def _snippets(entries: Sequence[FolderEntry], output_dir: Path, *, taken: set[str]) -> list[Path]:
    """Each entry's snippet path in the output; two entries (or a listed file) on one is refused."""
    paths: list[Path] = []
    seen: dict[str, FolderEntry] = {}
    for entry in entries:
        folder = PublishFolder(output_dir=output_dir, platform=entry.platform, tag_outputs=True)
        path = folder.snippet_path(entry.layer.layer_name)
        relative = path.relative_to(output_dir).as_posix()
        other = seen.setdefault(relative, entry)
        if other is not entry or relative in taken:
            raise PublishError(
                f"{_VERB}: {entry.where}: the snippet of layer {entry.layer.install_target!r} "
                f"for {entry.platform} would be {relative}, which "
                + (f"{other.where} names too" if other is not entry else "is a listed file's name"),
                hint="the manifests may have been tampered with; publish those folders again",
            )
        paths.append(path)
    return paths


def _make_metadata_folders(output_dir: Path) -> None:
    """Create the output's metadata folders; refuse them if they are links or not folders."""
    output_dir.mkdir(parents=True, exist_ok=True)
    metadata = output_dir / METADATA_DIR
    for folder in (metadata, metadata / SNIPPET_DIR, metadata / SBOM_DIR):
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise PublishError(
                f"{_VERB}: {folder} is {'a link' if folder.is_symlink() else 'not a folder'}; "
                "merge writes only inside its output folder",
                hint="remove it, or merge into another folder",
            )
        folder.mkdir(exist_ok=True)


def _place(item: ListedFile, source: Path, *, final: Path) -> bool:
    """Bring ``source`` to ``final``, verified; False if ``final`` is that file already.

    Raises:
        PublishError: ``source`` is missing, not a file, or not the recorded size and sha256.
    """
    if _is_regular(final) and _content(final, item.size) == (item.size, item.sha256):
        return False
    temporary = final.parent / temporary_name(final.name)
    try:
        if _is_regular(source):
            try:
                os.link(source, temporary)
            except OSError:  # another file system, or links not allowed: copy
                _copy(source, temporary, item.size)
        else:
            _copy(source, temporary, item.size)  # a link (or nothing): its content, checked
        found = _content(temporary, item.size) if _is_regular(temporary) else None
        if found != (item.size, item.sha256):
            raise PublishError(
                f"{_VERB}: {source} is not the {item.size} bytes with sha256 {item.sha256} its "
                f"manifest records (found {_found(found)})",
                hint="publish that input again, or copy the file back",
            )
        commit(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _copy(source: Path, destination: Path, size: int) -> None:
    """Copy at most ``size + 1`` bytes of a regular file (read through a link) to ``destination``.

    Raises:
        PublishError: ``source`` is missing or not a regular file (a device, a fifo...).
    """
    try:
        stream = source.open("rb")
    except OSError as exc:
        raise PublishError(
            f"{_VERB}: {source} is listed in its manifest but cannot be read ({exc.strerror})",
            hint="publish that input again, or copy the file back",
        ) from exc
    with stream, destination.open("xb") as out:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise PublishError(f"{_VERB}: {source} is not a regular file")
        left = size + 1
        while left > 0 and (chunk := stream.read(min(_CHUNK, left))):
            out.write(chunk)
            left -= len(chunk)


def _content(path: Path, size: int) -> tuple[int, str] | None:
    """The size and sha256 of a regular file, reading at most ``size + 1`` bytes."""
    digest = hashlib.sha256()
    read = 0
    with path.open("rb") as stream:
        while read <= size and (chunk := stream.read(min(_CHUNK, size + 1 - read))):
            digest.update(chunk)
            read += len(chunk)
    return read, digest.hexdigest()


def _found(found: tuple[int, str] | None) -> str:
    return "no regular file" if found is None else f"{found[0]} bytes, sha256 {found[1]}"


def _carry_push_records(inputs: Sequence[Path], output_dir: Path, reporter: Reporter) -> None:
    """Remember in the output the registry repositories the inputs were pushed to."""
    pushed = [location for folder in inputs for location in pushed_repositories(folder)]
    if not pushed:
        return
    try:
        record_push(output_dir, pushed)
    except OSError as exc:
        reporter.debug(f"merge: the registries the inputs were pushed to are not kept ({exc})")
