"""Hold a folder for one envstacks process: an OS lock that waits visibly and is never stale.

Runs that write the same folder take turns: two publishes into one output folder, a build
and a publish of one build folder, two locks of one requirements folder, two deploys into
one target. Each run holds the folders it writes for as long as it works in them; a run that
finds a folder held says so once (``another publish (process 4242) is running in <folder>;
waiting for it to finish``), repeats a short note every half minute, and goes on as soon as
the other finishes. ``ENVSTACKS_LOCK_TIMEOUT`` bounds the wait (seconds; ``0`` refuses at once
with :class:`~envstacks.floor.errors.BusyError`); unset, a run waits as long as the other runs,
and Ctrl-C stops it.

The lock is the operating system's advisory lock (``flock`` on POSIX, ``msvcrt.locking`` on
Windows) on a lock file in the folder (:data:`LOCK_FILE`, or a name the caller gives), which
the system drops when its holder exits, however it exits (SIGKILL included). So a lock is
never stale, and the file's presence means nothing: it is left in place and holds the
holder's process id and verb, for the message. (A run whose lock file was deleted while it
waited, with the folder a failed deploy made, sees it and locks the new file instead.) The
requirements folder, which users commit, gets no file: there the folder itself is locked
(POSIX only; Windows cannot open a folder, so it gets the file).

A folder this process cannot write (an up-to-date deployment on a read-only file system) is
locked through a read-only handle of its lock file, or of the folder: ``flock`` needs no
write access. Holding is reentrant within a thread, so nested steps of one run do not wait
for themselves.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from envstacks.floor import bounded_json, env_settings
from envstacks.floor.errors import BusyError, FileSystemError
from envstacks.floor.fs import process_alive
from envstacks.floor.report import Reporter

#: The lock file envstacks keeps in a folder it writes (build, output and export folders).
LOCK_FILE = ".envstacks.lock"
#: Environment variable: the longest wait for another run's lock, in seconds.
TIMEOUT_VARIABLE = "ENVSTACKS_LOCK_TIMEOUT"
#: Seconds between two "still waiting" notes.
REMINDER = 30.0
_WINDOWS = os.name == "nt"
#: Where Windows locks its byte, far past the holder information at the start of the file.
_WINDOWS_LOCK_OFFSET = 1 << 30
_READ_ONLY = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})
_CONTENDED = frozenset({errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK})

_held: dict[str, int] = {}
_held_guard = threading.Lock()


def lock_timeout() -> float | None:
    """The wait bound from :data:`TIMEOUT_VARIABLE` (``None``: wait as long as it takes).

    Raises:
        SettingError: the variable holds something else than a number of seconds.
    """
    return env_settings.seconds(TIMEOUT_VARIABLE, default=None)


@contextlib.contextmanager
def hold(
    folder: Path,
    *,
    verb: str,
    reporter: Reporter,
    lock_file: str | None = LOCK_FILE,
    timeout: float | None = None,
) -> Iterator[None]:
    """Hold ``folder`` (created if missing) for the block; wait while another run holds it.

    Args:
        folder: the folder to hold.
        verb: what this run does there (``publish``), for other runs' messages.
        reporter: receives the waiting messages.
        lock_file: the lock file's path relative to ``folder``; ``None`` locks the folder
            itself and leaves no file (POSIX; Windows uses :data:`LOCK_FILE`).
        timeout: the longest wait in seconds (default: :func:`lock_timeout`).

    Raises:
        BusyError: the wait timed out.
    """
    key = f"{threading.get_ident()}:{os.path.realpath(folder)}"
    with _held_guard:
        depth = _held.get(key, 0)
        _held[key] = depth + 1
    try:
        if depth:
            yield
            return
        handle = _held_handle(folder, lock_file, verb, reporter, timeout)
        try:
            try:
                handle.record(verb)
                yield
            finally:
                handle.unlock()
        finally:
            handle.close()
    finally:
        with _held_guard:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]


def _held_handle(
    folder: Path, lock_file: str | None, verb: str, reporter: Reporter, timeout: float | None
) -> _LockHandle:
    """Open and lock the lock file; again if the holder it waited for removed it meanwhile.

    A deploy that fails into a folder it made removes the folder, lock file included
    (:func:`envstacks.orchestrator.distribution.deploy`): a run that waited for it then
    holds a file no later run sees, so it opens the new one.
    """
    while True:
        handle = _LockHandle.open(folder, lock_file)
        try:
            _acquire(handle, folder, verb, reporter, lock_timeout() if timeout is None else timeout)
            if handle.still_there():
                return handle
            handle.unlock()
        except BaseException:
            handle.close()
            raise
        handle.close()


def _acquire(
    handle: _LockHandle, folder: Path, verb: str, reporter: Reporter, timeout: float | None
) -> None:
    """Take the lock, waiting (visibly) while another process holds it."""
    if handle.try_lock():
        return
    other = handle.holder()
    if timeout is not None and timeout <= 0:
        raise _busy(folder, other, verb, waited=0.0)
    reporter.warning(f"another {other} is running in {folder}; waiting for it to finish")
    started = time.monotonic()
    reminded = started
    pause = 0.05
    while not handle.try_lock():
        now = time.monotonic()
        if timeout is not None and now - started >= timeout:
            raise _busy(folder, handle.holder(), verb, waited=now - started)
        if now - reminded >= REMINDER:
            reminded = now
            waited = f"{now - started:.0f} s"
            reporter.info(f"still waiting for {handle.holder()} in {folder} ({waited})")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    reporter.info(f"{folder} is free now; continuing after {time.monotonic() - started:.1f} s")


def _busy(folder: Path, other: str, verb: str, *, waited: float) -> BusyError:
    after = f" after waiting {waited:.0f} s" if waited else ""
    return BusyError(
        f"another {other} is running in {folder}{after}; this {verb} did not start",
        hint=f"run it again once the other has finished, or set {TIMEOUT_VARIABLE} to a "
        "longer wait in seconds (unset: wait as long as the other runs)",
    )


class _LockHandle:
    """An open lock file (or folder) and what this process may do with it."""

    def __init__(self, fd: int, *, writable: bool, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.writable = writable
        self.locked = False
        self.recorded = False

    @classmethod
    def open(cls, folder: Path, lock_file: str | None) -> _LockHandle:
        """Open the lock file (created if missing), read-only where the folder is, or the folder.

        Raises:
            FileSystemError: the lock file's name is taken by a symbolic link.
            OSError: neither could be opened.
        """
        flags = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            if not folder.is_dir():
                raise
        if lock_file is None and not _WINDOWS:
            return cls(os.open(folder, os.O_RDONLY | flags), writable=False, path=folder)
        path = folder / (lock_file or LOCK_FILE)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_NOFOLLOW: a symlink planted under the lock file's name is not followed.
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | flags, 0o666)
            return cls(fd, writable=True, path=path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise FileSystemError(
                    f"{path} is a symbolic link, not envstacks' lock file; it was not followed",
                    hint="remove it (envstacks makes the file again), then run again",
                    errno=exc.errno,
                    filename=str(path),
                ) from exc
            if exc.errno not in _READ_ONLY:
                raise
            for candidate in (path, folder):  # a folder this process may only read
                with contextlib.suppress(OSError):
                    return cls(
                        os.open(candidate, os.O_RDONLY | flags), writable=False, path=candidate
                    )
            raise

    def try_lock(self) -> bool:
        """Take the lock if nobody holds it; whether it was taken."""
        try:
            if _WINDOWS:
                import msvcrt  # noqa: PLC0415 - Windows only

                os.lseek(self.fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl  # noqa: PLC0415 - POSIX only

                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _CONTENDED:
                return False
            raise
        self.locked = True
        return True

    def holder(self) -> str:
        """Who holds the lock, as the lock file says (``publish (process 4242)``)."""
        try:
            data = os.pread(self.fd, 4096, 0) if not _WINDOWS else _read_start(self.fd)
            info = bounded_json.loads(data, where="lock file", max_bytes=4096)
            pid = int(info["pid"])
            if process_alive(pid):  # else written by a holder that died (the OS freed its lock)
                return f"{info['verb']} (process {pid})"
        except (OSError, ValueError, TypeError, KeyError):
            pass
        return "envstacks process"

    def record(self, verb: str) -> None:
        """Write this process's id and verb into a lock file it may write (for the message)."""
        if not self.writable:
            return
        info = os.fstat(self.fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            return  # not a file envstacks made: leave its content alone
        data = json.dumps({"pid": os.getpid(), "verb": verb}).encode() + b"\n"
        with contextlib.suppress(OSError):  # full disk: the lock holds all the same
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, data)
            self.recorded = True

    def still_there(self) -> bool:
        """Whether the handle's path still names the file (or folder) it holds."""
        try:
            held, named = os.fstat(self.fd), self.path.stat()
        except OSError:
            return False
        return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)

    def unlock(self) -> None:
        """Release the lock (closing the handle would too)."""
        if not self.locked:
            return
        self.locked = False
        with contextlib.suppress(OSError):
            if self.recorded:  # a later holder that cannot write must not show our name
                os.ftruncate(self.fd, 0)
            if _WINDOWS:
                import msvcrt  # noqa: PLC0415

                os.lseek(self.fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
                msvcrt.locking(self.fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
            else:
                import fcntl  # noqa: PLC0415

                fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the handle."""
        os.close(self.fd)


def _read_start(fd: int) -> bytes:
    """The bytes at the start of a lock file (Windows has no ``os.pread``)."""
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096)
