"""The file indexes of deployed layers: fetched with each layer, kept in the target for deltas.

A later deploy can apply a delta to an installed layer only if it knows that layer's files
(:mod:`envstacks.stages.deploying.delta_apply`). So when deploy installs a layer whose manifest
entry names a published file index (``file_index``), it fetches that index too (a small file next to
the snippets), checks its size and sha256 against the manifest and its tree hash against the
layer's, and keeps it as ``<target>/__venvstacks__/file_indexes/<install_target>.files.json.gz``. A
layer installed from a delta keeps the index the delta made. Reading one back checks its tree hash
against the deployment record, so an index that does not describe the installed version is never
used.

Layers published without an index (venvstacks, a registry push) keep none: their updates
use the full archive.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from envstacks.floor.errors import DeployError
from envstacks.floor.fs import write_bytes
from envstacks.published.file_index import INDEX_SUFFIX, MAX_INDEX, FileIndex
from envstacks.published.http_download import get_document
from envstacks.published.manifest import ManifestLayer, is_plain_name
from envstacks.published.sources import FolderSource, HttpSource, Source
from envstacks.stages.deploying.deploy_record import DeployedLayer
from envstacks.stages.stackspec.stack_paths import METADATA_DIR

__all__ = [
    "fetch_index",
    "fetch_published_index",
    "load_index",
    "read_metadata_file",
    "store_index",
]

#: Where the indexes of deployed layers are kept, inside ``<target>/__venvstacks__``.
INDEX_DIR = "file_indexes"
#: Where published snippets and indexes are, inside ``<output>/__venvstacks__``.
SNIPPET_DIR = "env_metadata"


def read_metadata_file(source: Source, name: str) -> bytes | None:
    """A file of the source's ``__venvstacks__/env_metadata/`` folder; ``None`` if not there.

    Raises:
        DeployError: ``name`` is not a plain file name, or the server failed.
    """
    if not is_plain_name(name):
        raise DeployError(f"{source.manifest_location}: {name!r} is not a plain file name")
    if isinstance(source, FolderSource):
        path = source.folder / METADATA_DIR / SNIPPET_DIR / name
        if not path.is_file() or path.stat().st_size > MAX_INDEX:
            return None
        return path.read_bytes()
    if isinstance(source, HttpSource):
        relative = f"{METADATA_DIR}/{SNIPPET_DIR}/{urllib.parse.quote(name, safe='@+')}"
        url = urllib.parse.urljoin(source.base_url, relative)
        return get_document(url, limit=MAX_INDEX, what="file index")
    return None


def fetch_index(source: Source, layer: ManifestLayer) -> bytes | None:
    """The published index of ``layer``, checked; ``None`` if it has none or it does not match.

    The index only serves later deltas, so any problem with it means "no index", never a
    refusal of the layer.
    """
    fetched = fetch_published_index(source, layer.metadata.get("file_index"), layer.tree_sha256)
    return fetched[0] if fetched is not None else None


def fetch_published_index(
    source: Source, recorded: object, tree_sha256: str | None
) -> tuple[bytes, FileIndex] | None:
    """The index a ``{"name", "size", "sha256"}`` field names, if it is that file of that tree.

    ``None`` when the source has no such file, or it is not the recorded size, sha256 or tree.
    """
    if not isinstance(recorded, Mapping) or not isinstance(recorded.get("name"), str):
        return None
    try:
        data = read_metadata_file(source, recorded["name"])
    except DeployError:
        return None
    if data is None or len(data) != recorded.get("size"):
        return None
    if hashlib.sha256(data).hexdigest() != recorded.get("sha256"):
        return None
    try:
        index = FileIndex.from_bytes(data, where=recorded["name"], error=DeployError)
    except DeployError:
        return None
    return (data, index) if index.tree_sha256 == tree_sha256 else None


def index_path(target: Path, install_target: str) -> Path:
    """``<target>/__venvstacks__/file_indexes/<install_target>.files.json.gz``."""
    return target / METADATA_DIR / INDEX_DIR / f"{install_target}{INDEX_SUFFIX}"


def store_index(target: Path, install_target: str, data: bytes) -> None:
    """Keep a deployed layer's index (atomically)."""
    path = index_path(target, install_target)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)


def load_index(target: Path, record: DeployedLayer) -> FileIndex | None:
    """The kept index of an installed layer, if it describes the recorded version."""
    path = index_path(target, record.install_target)
    try:
        if path.stat().st_size > MAX_INDEX:
            return None
        index = FileIndex.from_bytes(path.read_bytes(), where=str(path), error=DeployError)
    except (OSError, DeployError):
        return None
    return index if index.tree_sha256 == record.tree_sha256 else None
