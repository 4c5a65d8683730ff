"""Get a layer's archive from its source as a local file with the size and sha256 it should have."""

from __future__ import annotations

from pathlib import Path

from envstacks.floor.errors import DeployError, VerificationError
from envstacks.floor.fs import file_sha256
from envstacks.floor.report import BYTES, NullReporter, Reporter, Task
from envstacks.floor.workers import Cancellation
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import FetchedArchive, Source


def fetch_archive(
    source: Source,
    layer: ManifestLayer,
    *,
    downloads: Path,
    reporter: Reporter,
    cancellation: Cancellation | None = None,
) -> FetchedArchive:
    """The layer's archive as a local file; checked already if the source hashed it on the way.

    A download hashed while it streamed is compared with the manifest here and only then
    given its final name; an archive read where it is (a publish folder) is returned as it
    is, for :func:`envstacks.published.verified_unpack.unpack_verified` to hash while unpacking it.
    Either way the archive is read once. With ``cancellation``, a download stops at its next
    chunk once the run is cancelled (Ctrl-C, or another layer failed).

    Raises:
        VerificationError: the download's size or sha256 differs from the manifest's.
        DeployError: the archive is missing or could not be downloaded.
    """
    # A local archive is read where it is: no fetch step to show.
    shown_as = NullReporter() if source.local else reporter
    with shown_as.task(
        layer.install_target, "fetch", total=layer.archive_size, unit=BYTES
    ) as shown:
        task = cancellation.watch(shown) if cancellation is not None else shown
        archive = source.fetch(
            layer.archive_name, size=layer.archive_size, downloads=downloads, task=task
        )
    if archive.sha256 is None:
        return archive
    name, path = layer.archive_name, archive.path
    try:
        check_size(path.stat().st_size, archive_name=name, expected=layer.archive_size, path=path)
        check_sha256(archive.sha256, archive_name=name, expected=layer.archive_sha256, path=path)
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
    check_size(path.stat().st_size, archive_name=archive_name, expected=size, path=path)
    actual = file_sha256(path, progress=task)
    check_sha256(actual, archive_name=archive_name, expected=sha256, path=path)


def check_size(actual: int, *, archive_name: str, expected: int, path: Path) -> None:
    """Refuse an archive of ``actual`` bytes when the manifest records ``expected``.

    Raises:
        VerificationError: naming the archive, the expected and the actual size.
    """
    if actual != expected:
        raise VerificationError(
            f"archive {archive_name!r} ({path}): size is {actual} bytes, "
            f"the manifest records {expected} bytes",
            hint="the archive is incomplete or was replaced after publishing; "
            "fetch it again or republish the layer",
        )


def check_sha256(actual: str, *, archive_name: str, expected: str, path: Path) -> None:
    """Refuse an archive whose hex sha256 ``actual`` is not the manifest's ``expected``.

    Raises:
        VerificationError: naming the archive, the expected and the actual hash.
    """
    if actual != expected.lower():
        raise VerificationError(
            f"archive {archive_name!r} ({path}): sha256 is {actual}, "
            f"the manifest records {expected}",
            hint="the archive was modified or replaced after publishing; "
            "do not deploy it; republish the layer from its build folder",
        )
