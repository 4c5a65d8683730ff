"""Merge several publish folders (one per platform, say from a CI matrix) into one folder.

:func:`merge_outputs` reads every manifest of every input folder, checks that no two inputs
disagree about a layer (the same platform and deployed name, or the same file name, with
other content), then copies (hard links where it can) every archive, delta and file index
they list into the output folder, checking each file's size and sha256 on the way, and
writes:

* one snippet per layer and platform (``env_metadata/<layer>-<platform>.json``);
* one manifest per platform (``venvstacks-<platform>.json``), which ``deploy`` on that
  platform and venvstacks consumers read, as for ``publish --tag-outputs``;
* last, the one index of the folder, ``venvstacks.json``: every platform's layers, each
  entry with its ``target_platform``; ``deploy`` picks the entries of its own platform.

Inputs published without ``--tag-outputs`` name their archives alike on every platform, so
merging two such folders of different platforms is refused, with that fix. Giving the
output folder as one of the inputs adds platforms to an earlier merge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import DeployError, PublishError
from envstacks.floor.fs import (
    commit,
    file_sha256,
    fsync_dir,
    link_or_copy,
    temporary_name,
    write_json,
)
from envstacks.floor.report import Reporter
from envstacks.published.manifest import is_plain_name, parse_manifest
from envstacks.published.publish_folder import METADATA_DIR, SNIPPET_DIR, PublishFolder, manifest

__all__ = ["MergeResult", "merge_outputs"]

_MANIFEST_GLOB = "venvstacks*.json"
#: The identity of a layer version: what two inputs must agree on.
_IDENTITY = ("archive_name", "archive_hashes", "tree_hashes")


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
            f"{platform}: {len(self.layers[platform])} layers ({self.manifests[platform]})"
            for platform in sorted(self.manifests)
        ]
        return [*lines, f"index: {self.index}"]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Entry:
    """A layer entry of an input manifest and the folder its files are in."""

    data: dict[str, Any]
    folder: Path
    where: str

    @property
    def key(self) -> tuple[str, str]:
        return (str(self.data.get("target_platform")), str(self.data.get("install_target")))


def merge_outputs(inputs: Sequence[Path], output_dir: Path, *, reporter: Reporter) -> MergeResult:
    """Merge the publish folders ``inputs`` into ``output_dir`` (see the module docstring).

    The orchestrator holds the output folder for the whole merge (a publish or another
    merge into it waits): :func:`envstacks.orchestrator.distribution.merge`.

    Raises:
        PublishError: an input has no manifest or a damaged one, a listed file is missing or
            not what its manifest records, or two inputs disagree about a layer or a file name.
        FileSystemError: the file system refused a write (full, read-only...).
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    entries = _agreed([entry for folder in inputs for entry in _read_input(folder)])
    files = _files(entries)
    (output_dir / METADATA_DIR / SNIPPET_DIR).mkdir(parents=True, exist_ok=True)
    copied = [name for name, item in files.items() if _place(*item, final=output_dir / name)]
    fsync_dir(output_dir)
    reporter.debug(f"merge: {len(copied)} of {len(files)} files copied or linked")
    by_platform: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        platform = str(entry.data["target_platform"])
        by_platform.setdefault(platform, []).append(entry.data)
        snippet = PublishFolder(output_dir=output_dir, platform=platform, tag_outputs=True)
        write_json(snippet.snippet_path(str(entry.data["layer_name"])), entry.data)
    manifests = {}
    for platform, layers in sorted(by_platform.items()):
        folder = PublishFolder(output_dir=output_dir, platform=platform, tag_outputs=True)
        write_json(folder.manifest_path, manifest(layers))
        manifests[platform] = str(folder.manifest_path.relative_to(output_dir))
    index = output_dir / METADATA_DIR / "venvstacks.json"
    write_json(index, manifest([entry.data for entry in entries]))
    return MergeResult(
        output_dir=output_dir,
        manifests=manifests,
        index=str(index.relative_to(output_dir)),
        layers={p: tuple(str(d["install_target"]) for d in ls) for p, ls in by_platform.items()},
        copied=tuple(copied),
    )


def _read_input(folder: Path) -> list[_Entry]:
    """Every layer entry of every manifest in a publish folder."""
    metadata = folder / METADATA_DIR
    manifests = sorted(metadata.glob(_MANIFEST_GLOB)) if metadata.is_dir() else []
    if not manifests:
        raise PublishError(
            f"merge: {folder} holds no manifest ({METADATA_DIR}/{_MANIFEST_GLOB})",
            hint="give publish output folders (`envstacks publish --tag-outputs --output-dir`)",
        )
    found: list[_Entry] = []
    for path in manifests:
        try:
            data = bounded_json.read_file(path, error=PublishError)
            layers = parse_manifest(data, where=str(path))
        except (OSError, ValueError, DeployError) as exc:
            raise PublishError(f"merge: manifest {path} cannot be used ({exc})") from exc
        for layer in layers:
            if layer.target_platform is None:
                raise PublishError(
                    f"merge: {path}: layer {layer.install_target!r} names no target_platform",
                    hint="publish it again with envstacks or venvstacks",
                )
            found.append(_Entry(data=dict(layer.metadata), folder=folder, where=str(path)))
    return found


def _agreed(entries: Sequence[_Entry]) -> list[_Entry]:
    """One entry per platform and layer; refuse two inputs that disagree about one."""
    chosen: dict[tuple[str, str], _Entry] = {}
    for entry in entries:
        other = chosen.setdefault(entry.key, entry)
        if other is entry:
            continue
        if [other.data.get(k) for k in _IDENTITY] != [entry.data.get(k) for k in _IDENTITY]:
            platform, target = entry.key
            raise PublishError(
                f"merge: {other.where} and {entry.where} disagree about layer {target!r} for "
                f"{platform}: {_describe(other.data)} against {_describe(entry.data)}",
                hint="merge the outputs of one build of each platform (publish each platform "
                "once, with --tag-outputs), or leave the stale folder out",
            )
    return list(chosen.values())


def _describe(data: Mapping[str, Any]) -> str:
    hashes = data.get("archive_hashes")
    sha = hashes.get("sha256", "?") if isinstance(hashes, Mapping) else "?"
    return f"{data.get('archive_name')} (sha256 {str(sha)[:16]}...)"


def _files(entries: Sequence[_Entry]) -> dict[str, tuple[Path, int, str]]:
    """Every file to merge by its name in the output: (source, size, sha256); no name twice."""
    files: dict[str, tuple[Path, int, str]] = {}
    for entry in entries:
        for name, size, sha in _listed(entry.data):
            source = entry.folder / name
            previous = files.setdefault(name, (source, size, sha))
            if previous[2] != sha:
                raise PublishError(
                    f"merge: two inputs hold different files named {name!r} "
                    f"({previous[0]} and {source})",
                    hint="publish each platform with --tag-outputs, so that file names carry "
                    "the platform and build",
                )
    return files


def _listed(data: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """The files a layer entry names (relative to its folder): archive, deltas, file indexes."""
    found = [_file(data, str(data["archive_name"]))]
    indexes = [data.get("file_index")]
    for delta in data.get("deltas") or ():
        if isinstance(delta, Mapping) and isinstance(delta.get("archive_name"), str):
            found.append(_file(delta, delta["archive_name"]))
            indexes.append(delta.get("base_file_index"))
    for recorded in indexes:
        if isinstance(recorded, Mapping) and isinstance(recorded.get("name"), str):
            index = {"archive_size": recorded.get("size"), "archive_hashes": recorded}
            found.append(_file(index, f"{METADATA_DIR}/{SNIPPET_DIR}/{recorded['name']}"))
    return found


def _file(data: Mapping[str, Any], name: str) -> tuple[str, int, str]:
    hashes = data.get("archive_hashes")
    sha = hashes.get("sha256") if isinstance(hashes, Mapping) else None
    size = data.get("archive_size") if "archive_size" in data else data.get("size")
    if not all(is_plain_name(part) for part in name.split("/")):
        raise PublishError(f"merge: {name!r} is not a plain file name")
    if not isinstance(size, int) or not isinstance(sha, str):
        raise PublishError(f"merge: {name!r} has no recorded size and sha256")
    return name, size, sha.lower()


def _place(source: Path, size: int, sha256: str, *, final: Path) -> bool:
    """Link or copy ``source`` to ``final`` after checking it; False if ``final`` is it already.

    Raises:
        PublishError: ``source`` is missing or not the recorded size and sha256, or ``final``
            exists with other content.
    """
    if final.exists() and _matches(final, size, sha256):
        return False
    if not source.is_file() or not _matches(source, size, sha256):
        raise PublishError(
            f"merge: {source} is missing or not the {size} bytes with sha256 {sha256} its "
            "manifest records",
            hint="publish that input again, or copy the file back",
        )
    temporary = final.parent / temporary_name(final.name)
    try:
        link_or_copy(source, temporary)
        commit(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    return True


def _matches(path: Path, size: int, sha256: str) -> bool:
    return path.stat().st_size == size and file_sha256(path) == sha256
