"""The stage boundary turns the file system's refusals into errors naming the folder and the fix."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from envstacks.boundary import WorkFolder, explain, guarded
from envstacks.errors import (
    AccessDeniedError,
    FileSystemError,
    NameTooLongError,
    NoSpaceError,
    ReadOnlyError,
)
from envstacks.report import RecordingReporter

BUILD, OUTPUT = Path("/work/project/_build"), Path("/srv/dist")


@pytest.mark.parametrize(
    ("code", "kind", "text", "fix"),
    [
        (errno.ENOSPC, NoSpaceError, "no space left on the file system of", "free some space"),
        (errno.EDQUOT, NoSpaceError, "no disk quota left on the file system of", "free some"),
        (errno.EROFS, ReadOnlyError, "is on a read-only file system", "choose a writable folder"),
        (errno.EACCES, AccessDeniedError, "permission denied in", "give this user write access"),
        (errno.EPERM, AccessDeniedError, "permission denied in", "give this user write access"),
        (errno.ENAMETOOLONG, NameTooLongError, "longer than the file system allows", "shorter"),
    ],
)
def test_each_condition_names_the_folder_and_the_fix(code, kind, text, fix):
    failure = OSError(code, "as the OS says it", str(OUTPUT / ".envstacks-tmp.1-a.x.tar.zst"))
    error = explain(failure, verb="publish", folders=[BUILD, OUTPUT])
    assert isinstance(error, kind) and isinstance(error, FileSystemError)
    assert isinstance(error, OSError) and error.errno == code
    assert text in error.message and str(OUTPUT) in error.message
    assert error.message.startswith("publish: ")
    assert "nothing half-made was left under a final name" in error.message
    assert error.hint is not None and fix in error.hint and "run publish again" in error.hint


def test_other_errors_are_not_explained():
    assert explain(OSError(errno.EIO, "I/O error"), verb="deploy", folders=[OUTPUT]) is None
    assert explain(FileNotFoundError(2, "missing"), verb="deploy", folders=[OUTPUT]) is None


def test_guarded_raises_the_clear_error_and_lets_others_through(tmp_path):
    folders = [WorkFolder(path=tmp_path / "out", lock_file=None)]
    with (
        pytest.raises(NoSpaceError, match=rf"deploy: no space left .* of {tmp_path / 'out'}"),
        guarded("deploy", folders, RecordingReporter()),
    ):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "f"))
    with pytest.raises(KeyError), guarded("deploy", folders, RecordingReporter()):
        raise KeyError("a bug stays a bug")
