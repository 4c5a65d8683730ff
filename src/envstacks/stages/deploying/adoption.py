"""Take over layers a deployment folder holds that envstacks did not deploy, once checked.

venvstacks documents deploying by hand: unpack every archive into one folder, then run each
layer's ``postinstall.py``. ``envstacks deploy`` into such a folder finds layer folders that
its deployment record does not list. Each is compared, file by file, with what its archive
holds: with the layer's published file index when the publish has one, else with its archive
(fetched, verified and unpacked as for installing it). Nothing about the folder is trusted: a
folder whose every file, symlink and folder is the archive's is *adopted* (recorded as
deployed from that archive and configured again where it is, nothing unpacked over it); any
other is replaced as an outdated layer is. A folder that is not a layer at all (no layer
config) is left alone and refused, as before.

What postinstall scripts add is not part of the comparison: ``pyvenv.cfg`` at the top,
``__pycache__`` folders, venvstacks' ``sitecustomize.py`` in ``site-packages`` and envstacks'
console-script launchers in ``bin/``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from envstacks.floor.errors import DeployError, PublishError
from envstacks.floor.report import Reporter
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.file_index import FileIndex, IndexEntry, index_tree
from envstacks.published.index_fetch import fetch_index
from envstacks.published.layer_config import LAYER_CONFIG, SCRIPTS_CONFIG
from envstacks.published.layer_tree import scan_tree
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import Source

__all__ = [
    "differences",
    "is_layer_folder",
    "matching_indexes",
    "same_as_unpacked",
    "tree_index",
]

#: Differences named in a message (the comparison stops counting there).
SHOWN = 5


def is_layer_folder(folder: Path) -> bool:
    """Whether ``folder`` is a real folder holding a layer config (venvstacks' or envstacks')."""
    return folder.is_dir() and not folder.is_symlink() and (folder / LAYER_CONFIG).is_file()


def tree_index(folder: Path, *, root: str) -> FileIndex | None:
    """The file index of a folder as it stands (``None``: it holds a device, fifo or socket)."""
    try:
        return index_tree(scan_tree(folder, root_name=root))
    except (PublishError, OSError):
        return None


def _launchers(folder: Path) -> set[str]:
    """``bin/<name>`` of every console or GUI script the layer's config lists."""
    try:
        data = json.loads((folder / SCRIPTS_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict):
        return set()
    return {
        f"bin/{name}"
        for group in data.values()
        if isinstance(group, dict)
        for name in group
        if isinstance(name, str)
    }


def _added_by_postinstall(entry: IndexEntry, launchers: set[str]) -> bool:
    path = entry.path
    parts = path.split("/")
    if "__pycache__" in parts:
        return True
    if path == "pyvenv.cfg" and entry.kind is MemberKind.FILE:
        return True
    if parts[-1] == "sitecustomize.py" and len(parts) > 1 and parts[-2] == "site-packages":
        return True
    return path in launchers


def _same(found: IndexEntry, wanted: IndexEntry) -> bool:
    return (found.kind, found.mode, found.sha256, found.link_target) == (
        wanted.kind,
        wanted.mode,
        wanted.sha256,
        wanted.link_target,
    )


def differences(folder: Path, reference: FileIndex) -> list[str]:
    """How ``folder`` differs from what its archive holds (empty: it can be adopted).

    Every file is read (its sha256 compared); at most :data:`SHOWN` differences are named.
    """
    found = tree_index(folder, root=reference.root)
    if found is None:
        return [f"{folder} holds something other than files, folders and symlinks"]
    entries = {entry.path: entry for entry in found.entries}
    problems: list[str] = []
    for wanted in reference.entries:
        entry = entries.pop(wanted.path, None)
        if entry is None:
            problems.append(f"{wanted.path} is missing")
        elif not _same(entry, wanted):
            problems.append(f"{wanted.path} differs")
        if len(problems) >= SHOWN:
            return problems
    launchers = _launchers(folder)
    extra = [path for path, entry in entries.items() if not _added_by_postinstall(entry, launchers)]
    problems += [f"{path} is not in the archive" for path in extra[: SHOWN - len(problems)]]
    return problems


def matches(folder: Path, reference: FileIndex, reporter: Reporter) -> bool:
    """Whether an unrecorded layer folder holds exactly the files of ``reference`` (said why)."""
    problems = differences(folder, reference)
    if problems:
        reporter.info(
            f"{folder.name}: deployed by another tool and not this version "
            f"({'; '.join(problems)}); replacing it"
        )
        return False
    reporter.info(f"{folder.name}: deployed by another tool with these very files; adopting it")
    return True


def matching_indexes(
    source: Source, layers: Sequence[ManifestLayer], target: Path, reporter: Reporter
) -> dict[str, bytes]:
    """The published index of each of ``layers`` whose folder in ``target`` holds its files.

    Layers published without an index (venvstacks) are not in the answer: their folders are
    compared with their archives once unpacked (:func:`same_as_unpacked`).
    """
    found: dict[str, bytes] = {}
    for layer in layers:
        name = layer.install_target
        data = fetch_index(source, layer)
        if data is None:
            continue
        index = FileIndex.from_bytes(data, where=f"{name} file index", error=DeployError)
        if matches(target / name, index, reporter):
            found[name] = data
    return found


def same_as_unpacked(unpacked: Path, folder: Path, reporter: Reporter) -> bool:
    """Whether ``folder`` holds what its archive unpacked to ``unpacked`` (its top folder)."""
    reference = tree_index(unpacked, root=folder.name)
    return reference is not None and matches(folder, reference, reporter)
