"""The one lower floor for file work: hashing, atomic writes, temporary names, links, removal.

Every stage (lock, build, pack, deploy) writes and hashes files through these helpers, so the
rules hold everywhere:

* a file is never edited in place: it is written under a temporary name and renamed over the
  old one, which leaves other hard links to the old content untouched (installed files are
  hard links into uv's cache, staged and exported layers hard links to the build folder);
* a crash never leaves a file under its final name with partial content; ``durable=True``
  also flushes data and folder entries to disk (publish and deploy promise that);
* temporary names start with :data:`TEMP_PREFIX` and carry the writer's process id, so a later
  run removes what a *dead* run left behind and never what a running one is writing.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from envstacks.floor import bounded_json
from envstacks.floor.errors import EnvStacksError

#: Every temporary file or folder envstacks makes beside a final one starts so.
TEMP_PREFIX = ".envstacks-tmp."
#: Read size for file contents (large enough to let hashlib and compressors release the GIL).
CHUNK = 1 << 20
_TEMP_OWNER = re.compile(r"^\.envstacks-tmp\.(\d+)-")


class Progress(Protocol):
    """Anything that counts bytes (a reporter's task)."""

    def advance(self, amount: int = 1) -> None:
        """Record that ``amount`` more bytes were read."""


# -- hashing ------------------------------------------------------------------------------


def file_sha256(path: Path, *, progress: Progress | None = None) -> str:
    """The hex sha256 of a file's bytes (``progress`` advances by the bytes read)."""
    with path.open("rb") as stream:
        if progress is None:
            return hashlib.file_digest(stream, "sha256").hexdigest()
        digest = hashlib.sha256()
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            progress.advance(len(chunk))
        return digest.hexdigest()


def tagged_file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    return "sha256:" + file_sha256(path)


def strings_sha256(items: Sequence[str] | Iterator[str]) -> str:
    """``sha256:<hex>`` of the strings concatenated without separators (venvstacks' formula)."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.encode())
    return "sha256:" + digest.hexdigest()


def json_sha256(value: Mapping[str, Any] | Sequence[Any]) -> str:
    """``sha256:<hex>`` of a JSON-able value in canonical form (sorted keys, no spaces)."""
    return strings_sha256([json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)])


# -- temporary names and durability ------------------------------------------------------------


def temporary_name(final_name: str) -> str:
    """A fresh temporary sibling name for ``final_name``, recording this process as its owner."""
    return f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.{final_name}"


def temporary_owner(name: str) -> int | None:
    """The process id a temporary name records, or ``None`` (not ours, or an older format)."""
    match = _TEMP_OWNER.match(name)
    return int(match.group(1)) if match else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (a zombie counts as alive)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (renames, creations) to disk, where folders can be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; its renames are durable enough.
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(temporary: Path, final: Path) -> None:
    """Make a fully written temporary file the final one: fsync it, rename it, fsync the folder."""
    fsync_file(temporary)
    temporary.replace(final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def temporary_path(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final``, removed again if it still exists when the block ends.

    The caller writes the file and then calls :func:`commit`.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.parent / temporary_name(final.name)
    try:
        yield temporary
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


# -- atomic writes -------------------------------------------------------------------------


def write_bytes(path: Path, data: bytes, *, mode: int | None = None, durable: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never in place).

    The new file gets ``mode``, else the old file's permission bits, else the default ones.
    ``durable`` also flushes the data and the folder entry to disk.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / temporary_name(f"{path.name}.{threading.get_ident()}")
    try:
        temporary.write_bytes(data)
        if mode is not None:
            temporary.chmod(mode)
        elif path.exists() and not path.is_symlink():
            temporary.chmod(stat.S_IMODE(path.stat().st_mode))
        if durable:
            commit(temporary, path)
        else:
            temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str, *, mode: int | None = None, durable: bool = False) -> bool:
    """Write ``text`` as UTF-8 atomically unless the file already holds it.

    Returns whether the file was written.
    """
    data = text.encode("utf-8")
    try:
        if path.read_bytes() == data and (
            mode is None or stat.S_IMODE(path.stat().st_mode) == mode
        ):
            return False
    except OSError:
        pass
    write_bytes(path, data, mode=mode, durable=durable)
    return True


def dumps_json(data: Any) -> str:
    """JSON as envstacks and venvstacks write it: two-space indent, sorted keys, final newline."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def write_json(path: Path, data: Any, *, durable: bool = True) -> bool:
    """Write a JSON file atomically (see :func:`dumps_json`); returns whether it changed."""
    return write_text(path, dumps_json(data), durable=durable)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file's content, or ``None`` when it is missing, unreadable or not an object.

    Read with the bounds of :mod:`envstacks.floor.bounded_json` (a document nested too deeply or
    too large counts as unreadable).
    """
    try:
        data = bounded_json.read_file(path)
    except (OSError, EnvStacksError):
        return None
    return data if isinstance(data, dict) else None


# -- links and removal ---------------------------------------------------------------------


def link_or_copy(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> bool:
    """Hard-link ``source`` to ``destination``, copying (with metadata) where linking fails.

    Returns whether a hard link was made (False: a copy, e.g. across file systems).
    """
    try:
        os.link(source, destination)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EEXIST):
            raise
        shutil.copy2(source, destination)
        return False
    return True


def remove_path(path: Path) -> None:
    """Remove a file, a symlink or a whole folder; nothing if it does not exist."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def remove_tree(path: Path) -> bool:
    """Remove a folder and everything in it, read-only folders included; whether it is gone.

    ``shutil.rmtree`` cannot delete the entries of a folder without write permission, nor
    list one without read permission (an archive may hold such a folder, and a non-root user
    cannot empty it): the folder is made accessible and the step tried again. What still
    cannot be removed is left (the next run removes stale temporaries) and the answer is
    false.
    """

    def retry(function: Any, name: str, _exc: BaseException) -> None:
        if function in (os.unlink, os.remove, os.rmdir):
            _allow(Path(name).parent)  # its folder refused the removal
            function(name)
        else:  # listing or opening a folder was refused
            _allow(Path(name))
            shutil.rmtree(name)

    def retry_311(function: Any, name: str, info: Any) -> None:
        retry(function, name, info[1])

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        with contextlib.suppress(OSError):
            if sys.version_info >= (3, 12):
                shutil.rmtree(path, onexc=retry)
            else:  # pragma: no cover - Python 3.11
                shutil.rmtree(
                    path, onerror=lambda function, name, info: retry(function, name, info[1])
                )
    return not os.path.lexists(path)


def _allow(folder: Path) -> None:
    """Give the owner every permission on ``folder`` (so it can be listed and emptied)."""
    folder.chmod(stat.S_IMODE(folder.lstat().st_mode) | stat.S_IRWXU)


def discard(path: Path) -> None:
    """Remove a folder or file: first out of its name (atomically), then its content."""
    if not os.path.lexists(path):
        return
    doomed = path.parent / temporary_name("discard")
    path.rename(doomed)
    fsync_dir(path.parent)
    remove_tree(doomed)


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporaries that dead runs left in ``folder``; return what was removed.

    A temporary whose owner process still runs (another envstacks working in the same folder)
    is left alone; names without an owner come from older versions and count as stale.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in sorted(folder.iterdir()):
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        owner = temporary_owner(entry.name)
        if owner is not None and process_alive(owner):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
        removed.append(entry)
    return removed
