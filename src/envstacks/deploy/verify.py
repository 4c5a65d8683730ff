"""Check an archive against its manifest entry (size, then sha256) before anything is unpacked."""

from __future__ import annotations

from pathlib import Path

from envstacks.errors import VerificationError
from envstacks.fs import file_sha256
from envstacks.report import Task


def verify_archive(
    path: Path, *, archive_name: str, size: int, sha256: str, task: Task | None = None
) -> None:
    """Refuse an archive whose size or sha256 differs from what the manifest records.

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
    actual = file_sha256(path, progress=task)
    if actual != sha256.lower():
        raise VerificationError(
            f"archive {archive_name!r} ({path}): sha256 is {actual}, the manifest records {sha256}",
            hint="the archive was modified or replaced after publishing; "
            "do not deploy it; republish the layer from its build folder",
        )
