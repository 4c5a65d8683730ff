"""Remove what publish wrote into a folder: the archives its manifests list, and the metadata.

Only files a manifest names are deleted, so a shared output folder (``dist/``, with the
project's wheels in it) keeps everything else; a damaged manifest names nothing to delete.
"""

from __future__ import annotations

from pathlib import Path

from envstacks.floor import bounded_json
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.fs import remove_path
from envstacks.published.manifest import parse_manifest
from envstacks.published.publish_folder import METADATA_DIR

__all__ = ["remove_published"]


def remove_published(directory: Path) -> list[Path]:
    """Remove the archives the manifests of ``directory`` list, then its metadata folder."""
    removed: list[Path] = []
    metadata = directory / METADATA_DIR
    if not metadata.is_dir():
        return removed
    for manifest in sorted(metadata.glob("venvstacks*.json")):
        try:
            data = bounded_json.read_file(manifest)
            layers = parse_manifest(data, where=str(manifest))
        except (OSError, ValueError, EnvStacksError):
            continue  # a damaged manifest names nothing we may delete
        for layer in layers:
            archive = directory / layer.archive_name
            if archive.is_file():
                archive.unlink()
                removed.append(archive)
    remove_path(metadata)
    removed.append(metadata)
    return removed
