"""Get a layer's archive from its source as a local file with the size and sha256 it should have."""

from __future__ import annotations

from pathlib import Path

from envstacks.deploy.manifest import ManifestLayer
from envstacks.deploy.source import FetchedArchive, Source
from envstacks.errors import DeployError, VerificationError
from envstacks.fs import file_sha256
from envstacks.report import Reporter, Task


def fetch_verified(
    source: Source, layer: ManifestLayer, *, downloads: Path, reporter: Reporter
) -> FetchedArchive:
    """The layer's archive as a local file, checked against the manifest before any use.

    Raises:
        VerificationError: the archive's size or sha256 differs from the manifest's.
        DeployError: the archive is missing or could not be downloaded.
    """
    with reporter.task(layer.install_target, "fetch", total=layer.archive_size) as task:
        archive = source.fetch(
            layer.archive_name, size=layer.archive_size, downloads=downloads, task=task
        )
    try:
        with reporter.task(layer.install_target, "verify", total=layer.archive_size) as task:
            verify_archive(
                archive.path,
                archive_name=layer.archive_name,
                size=layer.archive_size,
                # A source that hashed the archive while fetching it is not read again.
                sha256=layer.archive_sha256 if archive.sha256 != layer.archive_sha256 else None,
                task=task,
            )
    except DeployError:
        archive.release()  # a bad download must not be reused by the next attempt
        raise
    reporter.debug(f"verified {source.archive_location(layer.archive_name)}")
    return archive


def verify_archive(
    path: Path, *, archive_name: str, size: int, sha256: str | None, task: Task | None = None
) -> None:
    """Refuse an archive whose size or sha256 differs from what the manifest records.

    ``sha256`` is ``None`` when the archive's content was checked already (only its size is).

    Raises:
        VerificationError: naming the archive, the expected and the actual value.
    """
    actual_size = path.stat().st_size
    if actual_size != size:
        raise VerificationError(
            f"archive {archive_name!r} ({path}): size is {actual_size} bytes, "
            f"the manifest records {size} bytes",
            hint="the archive is incomplete or was replaced after publishing; "
            "fetch it again or republish the layer",
        )
    if sha256 is None:
        if task is not None:
            task.advance(size)
        return
    actual = file_sha256(path, progress=task)
    if actual != sha256.lower():
        raise VerificationError(
            f"archive {archive_name!r} ({path}): sha256 is {actual}, the manifest records {sha256}",
            hint="the archive was modified or replaced after publishing; "
            "do not deploy it; republish the layer from its build folder",
        )
