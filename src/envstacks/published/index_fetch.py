"""A layer's published file index, fetched from its source and checked before it is used.

Publish writes each layer's index next to its snippet and names it in the manifest entry
(``file_index``: name, size, sha256). Deploy keeps the index of each layer it installs (for
later deltas) and publish reads the indexes of earlier versions (to make deltas against them):
both fetch it here, where it is checked against the recorded size and sha256 and its tree hash
against the layer's. The index only serves deltas, so any problem means "no index", never a
refusal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from envstacks.floor.errors import DeployError
from envstacks.published.file_index import FileIndex
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import Source

__all__ = ["fetch_index", "fetch_published_index"]


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
        data = source.read_metadata_file(recorded["name"])
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
