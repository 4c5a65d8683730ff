"""The file indexes of deployed layers: fetched with each layer, kept in the target for deltas.

A later deploy can apply a delta to an installed layer only if it knows that layer's files
(:mod:`envstacks.stages.deploying.delta_apply`). So when deploy installs a layer whose manifest
entry names a published file index (``file_index``), it fetches that index too (a small file next to
the snippets), checks its size and sha256 against the manifest and its tree hash against the
layer's, and keeps it as ``<target>/__venvstacks__/file_indexes/<install_target>.files.json.gz``. A
layer installed from a delta keeps the index the delta made. Reading one back checks its tree hash
against the deployment record, so an index that does not describe the installed version is never
used; a damaged one is discarded (with a warning) and fetched again from the source.

Layers published without an index (venvstacks, a registry push) keep none: their updates
use the full archive.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from envstacks.floor.errors import DeployError
from envstacks.floor.fs import discard, write_bytes
from envstacks.floor.report import Reporter
from envstacks.published.file_index import INDEX_SUFFIX, MAX_INDEX, FileIndex
from envstacks.published.publish_folder import METADATA_DIR
from envstacks.stages.deploying.deploy_record import DeployedLayer

__all__ = ["index_path", "load_index", "store_index"]

#: Where the indexes of deployed layers are kept, inside ``<target>/__venvstacks__``.
INDEX_DIR = "file_indexes"


def index_path(target: Path, install_target: str) -> Path:
    """``<target>/__venvstacks__/file_indexes/<install_target>.files.json.gz``."""
    return target / METADATA_DIR / INDEX_DIR / f"{install_target}{INDEX_SUFFIX}"


def store_index(target: Path, install_target: str, data: bytes) -> None:
    """Keep a deployed layer's index (atomically)."""
    path = index_path(target, install_target)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)


def load_index(target: Path, record: DeployedLayer, reporter: Reporter) -> FileIndex | None:
    """The kept index of an installed layer, if it describes the recorded version.

    A kept index that cannot be read (damaged, too large, nested too deeply) or describes
    another tree is discarded with a warning, so it never blocks an update: the caller fetches
    the published one again (:func:`envstacks.stages.deploying.transfer.unpack_cheapest`), or
    the layer's next install keeps a new one.
    """
    path = index_path(target, record.install_target)
    try:
        size = path.stat().st_size
    except OSError:
        return None
    try:
        if size > MAX_INDEX:
            raise DeployError(f"file index {path}: larger than {MAX_INDEX} bytes")
        index = FileIndex.from_bytes(path.read_bytes(), where=str(path), error=DeployError)
        if index.tree_sha256 != record.tree_sha256:
            raise DeployError(
                f"file index {path}: describes tree {index.tree_sha256[:12]}, not the "
                f"installed {str(record.tree_sha256)[:12]}"
            )
    except (OSError, DeployError) as exc:
        reporter.warning(
            f"{record.install_target}: its kept file index is damaged and was discarded "
            f"({exc.message if isinstance(exc, DeployError) else exc}); it is fetched again"
        )
        with contextlib.suppress(OSError):
            discard(path)
        return None
    return index
