"""Folder locks between real processes: a visible wait, a bounded one, never a stale lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from envstacks.floor.errors import BusyError, FileSystemError
from envstacks.floor.folderlock import LOCK_FILE, TIMEOUT_VARIABLE, hold
from envstacks.floor.report import RecordingReporter

#: Holds a folder (``file``: with the lock file, ``folder``: the folder itself) until stdin
#: closes, then writes a marker file; a waiter reports whether the marker was there.
HOLD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from envstacks.floor.folderlock import hold
    from envstacks.floor.report import LineReporter

    folder, verb, mode, marker = sys.argv[1:5]
    lock_file = None if mode == "folder" else ".envstacks.lock"
    with hold(Path(folder), verb=verb, reporter=LineReporter(sys.stderr), lock_file=lock_file):
        print("held", "after-release" if Path(marker).exists() else "first", flush=True)
        if verb == "holder":
            sys.stdin.readline()
            Path(marker).write_text("released")
    """
)


def _start(tmp_path: Path, folder: Path, verb: str, mode: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), verb, mode, str(tmp_path / "released")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _holder(tmp_path: Path, folder: Path, mode: str = "file") -> subprocess.Popen[str]:
    holder = _start(tmp_path, folder, "holder", mode)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held first"
    return holder


def _wait_for(stream_owner: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    """Read the process's stderr until ``text`` appears (what the user would see)."""
    assert stream_owner.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen and time.monotonic() < deadline:
        line = stream_owner.stderr.readline()
        if not line:
            break
        seen += line
    return seen


@pytest.mark.parametrize("mode", ["file", "folder"])
def test_a_second_process_waits_visibly_then_runs(tmp_path, mode):
    folder = tmp_path / "build"
    holder = _holder(tmp_path, folder, mode)
    waiter = _start(tmp_path, folder, "publish", mode)

    message = _wait_for(waiter, "waiting for it to finish")
    who = f"holder (process {holder.pid})" if mode == "file" else "envstacks process"
    assert f"another {who} is running in {folder}; waiting for it to finish" in message
    assert waiter.poll() is None  # still waiting
    holder.communicate("go\n", timeout=30)
    out, _ = waiter.communicate(timeout=30)

    assert out.strip() == "held after-release"  # it ran only once the holder was done
    assert waiter.returncode == 0
    assert (folder / LOCK_FILE).exists() == (mode == "file")


def test_a_waiter_whose_lock_file_was_removed_locks_the_new_one(tmp_path):
    folder = tmp_path / "deployed"
    holder = _holder(tmp_path, folder)
    waiter = _start(tmp_path, folder, "holder", "file")
    try:
        assert "waiting for it to finish" in _wait_for(waiter, "waiting for it to finish")
        shutil.rmtree(folder)  # as a failed deploy removes the target it made
        holder.communicate("go\n", timeout=30)
        assert waiter.stdout is not None
        assert waiter.stdout.readline().strip() == "held after-release"
        # The waiter holds the file now at that path: a third run must wait for it.
        with (
            pytest.raises(BusyError),
            hold(folder, verb="deploy", reporter=RecordingReporter(), timeout=0),
        ):
            pass
    finally:
        waiter.communicate("go\n", timeout=30)


def test_a_bounded_wait_refuses_with_a_clear_error(tmp_path, monkeypatch):
    folder = tmp_path / "build"
    holder = _holder(tmp_path, folder)
    try:
        with (
            pytest.raises(BusyError) as caught,
            hold(folder, verb="publish", reporter=RecordingReporter(), timeout=0),
        ):
            pass
        assert str(caught.value) == (
            f"another holder (process {holder.pid}) is running in {folder}; "
            "this publish did not start"
        )
        assert caught.value.hint is not None and TIMEOUT_VARIABLE in caught.value.hint
        monkeypatch.setenv(TIMEOUT_VARIABLE, "0.3")
        reporter = RecordingReporter()
        with (
            pytest.raises(BusyError, match=r"after waiting 0 s; this publish did not start"),
            hold(folder, verb="publish", reporter=reporter),
        ):
            pass
        assert reporter.texts("warning") == [
            f"another holder (process {holder.pid}) is running in {folder}; "
            "waiting for it to finish"
        ]
    finally:
        holder.communicate("go\n", timeout=30)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    folder = tmp_path / "build"
    holder = _holder(tmp_path, folder)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert str(holder.pid) in (folder / LOCK_FILE).read_text()  # the file stays, meaningless

    reporter = RecordingReporter()
    with hold(folder, verb="publish", reporter=reporter, timeout=0):
        assert f'"pid": {os.getpid()}' in (folder / LOCK_FILE).read_text()
    assert not reporter.texts("warning")


def test_holding_is_reentrant_within_a_thread(tmp_path):
    reporter = RecordingReporter()
    with hold(tmp_path, verb="publish", reporter=reporter, timeout=0):
        with hold(tmp_path, verb="build", reporter=reporter, timeout=0):
            pass
        with hold(tmp_path, verb="build", reporter=reporter, timeout=0):
            pass
    assert not reporter.texts("warning")


def test_a_leftover_lock_file_with_any_content_is_harmless(tmp_path):
    (tmp_path / LOCK_FILE).write_bytes(b"\0garbage from an older version\xff")
    with hold(tmp_path, verb="publish", reporter=RecordingReporter(), timeout=0):
        pass


def test_a_read_only_folder_is_held_without_writing(tmp_path, small_fs):
    disk = small_fs(size="1m")
    with hold(disk.path, verb="deploy", reporter=RecordingReporter()):
        pass  # the lock file exists from here on
    disk.read_only()
    holder = _holder(tmp_path, disk.path)  # holds through a read-only handle
    try:
        with (
            pytest.raises(BusyError, match=r"another (envstacks process|holder)"),
            hold(disk.path, verb="deploy", reporter=RecordingReporter(), timeout=0),
        ):
            pass
    finally:
        holder.communicate("go\n", timeout=30)
    with hold(disk.path, verb="deploy", reporter=RecordingReporter(), timeout=0):
        pass


def test_a_symlink_planted_as_the_lock_file_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / LOCK_FILE).symlink_to(victim)
    with (
        pytest.raises(FileSystemError, match=r"is a symbolic link, not envstacks' lock file"),
        hold(folder, verb="publish", reporter=RecordingReporter(), timeout=0),
    ):
        pass
    assert victim.read_text() == "precious\n"
