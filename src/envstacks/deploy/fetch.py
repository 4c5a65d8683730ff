"""Get a layer's archive from its source as a local file with the size and sha256 it should have."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from envstacks.deploy.manifest import ManifestLayer
from envstacks.deploy.source import FetchedArchive, Source
from envstacks.errors import DeployError, VerificationError
from envstacks.fs import file_sha256
from envstacks.report import Reporter, Task


def fetch_archive(
    source: Source, layer: ManifestLayer, *, downloads: Path, reporter: Reporter
) -> FetchedArchive:
    """The layer's archive as a local file; checked already if the source hashed it on the way.

    A download hashed while it streamed is compared with the manifest here and only then
    given its final name; an archive read where it is (a publish folder) is returned as it
    is, for :func:`envstacks.deploy.streaming.unpack_verified` to hash while unpacking it.
    Either way the archive is read once.

    Raises:
        VerificationError: the download's size or sha256 differs from the manifest's.
        DeployError: the archive is missing or could not be downloaded.
    """
    with reporter.task(layer.install_target, "fetch", total=layer.archive_size) as task:
        archive = source.fetch(
            layer.archive_name, size=layer.archive_size, downloads=downloads, task=task
        )
    if archive.sha256 is None:
        return archive
    try:
        check_size(archive.path.stat().st_size, layer=layer, path=archive.path)
        check_sha256(archive.sha256, layer=layer, path=archive.path)
        accepted = archive.accepted()
    except (DeployError, OSError):
        archive.release()  # a bad download must not be reused by the next attempt
        raise
    reporter.debug(f"verified {source.archive_location(layer.archive_name)} while fetching it")
    return accepted


def verify_archive(
    path: Path, *, archive_name: str, size: int, sha256: str, task: Task | None = None
) -> None:
    """Refuse an archive whose size or sha256 differs from what the manifest records.

    Raises:
        VerificationError: naming the archive, the expected and the actual value.
    """
    expected = Expected(archive_name=archive_name, archive_size=size, archive_sha256=sha256)
    check_size(path.stat().st_size, layer=expected, path=path)
    check_sha256(file_sha256(path, progress=task), layer=expected, path=path)


class ArchiveFacts(Protocol):
    """What the manifest records about an archive (a :class:`ManifestLayer` has it)."""

    @property
    def archive_name(self) -> str:
        """The archive's file name."""

    @property
    def archive_size(self) -> int:
        """Its size in bytes."""

    @property
    def archive_sha256(self) -> str:
        """Its hex sha256."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Expected:
    """Archive facts given one by one."""

    archive_name: str
    archive_size: int
    archive_sha256: str


def check_size(actual: int, *, layer: ArchiveFacts, path: Path) -> None:
    """Refuse an archive of ``actual`` bytes when the manifest records another size.

    Raises:
        VerificationError: naming the archive, the expected and the actual size.
    """
    if actual != layer.archive_size:
        raise VerificationError(
            f"archive {layer.archive_name!r} ({path}): size is {actual} bytes, "
            f"the manifest records {layer.archive_size} bytes",
            hint="the archive is incomplete or was replaced after publishing; "
            "fetch it again or republish the layer",
        )


def check_sha256(actual: str, *, layer: ArchiveFacts, path: Path) -> None:
    """Refuse an archive whose hex sha256 ``actual`` is not the manifest's.

    Raises:
        VerificationError: naming the archive, the expected and the actual hash.
    """
    if actual != layer.archive_sha256.lower():
        raise VerificationError(
            f"archive {layer.archive_name!r} ({path}): sha256 is {actual}, "
            f"the manifest records {layer.archive_sha256}",
            hint="the archive was modified or replaced after publishing; "
            "do not deploy it; republish the layer from its build folder",
        )
