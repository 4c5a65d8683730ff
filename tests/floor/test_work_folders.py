"""The stage boundary turns the file system's refusals into errors naming the folder and the fix."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from envstacks.floor.errors import (
    AccessDeniedError,
    FileSystemError,
    NameTooLongError,
    NoSpaceError,
    NotAFolderError,
    ReadOnlyError,
)
from envstacks.floor.report import RecordingReporter
from envstacks.floor.work_folders import WorkFolder, explain, guarded

BUILD, OUTPUT = Path("/work/project/_build"), Path("/srv/dist")


@pytest.mark.parametrize(
    ("code", "kind", "text", "fix"),
    [
        (errno.ENOSPC, NoSpaceError, "no space left on the file system of", "free some space"),
        (errno.EDQUOT, NoSpaceError, "no disk quota left on the file system of", "free some"),
        (errno.EROFS, ReadOnlyError, "is on a read-only file system", "choose a writable folder"),
        (errno.EACCES, AccessDeniedError, "permission denied in", "give this user access"),
        (errno.EPERM, AccessDeniedError, "permission denied in", "give this user access"),
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


@pytest.mark.parametrize("below", [False, True], ids=["the-folder", "a-parent"])
def test_a_file_where_a_folder_must_be(tmp_path, below):
    blocker = tmp_path / "dist"
    blocker.write_text("not a folder\n")
    wanted = blocker / "sub" if below else blocker
    folders = [WorkFolder(path=wanted, lock_file=None)]
    with (
        pytest.raises(NotAFolderError) as caught,
        guarded("publish", folders, RecordingReporter()),
    ):
        pass  # holding the folder makes it
    assert caught.value.message.startswith(f"publish: {blocker} is a file, but a folder is needed")
    assert caught.value.hint is not None and "move it away" in caught.value.hint
    assert blocker.read_text() == "not a folder\n"
