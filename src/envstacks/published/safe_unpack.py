"""Safe extraction of one layer archive into a fresh work folder inside the deployment folder.

The rules follow PEP 706's ``data`` filter, adapted to side-by-side layers (a layer may link
to its siblings, never further):

* every member lives under the single top folder ``<install_target>/``; absolute names and
  ``..`` components are refused;
* a symlink's target must be relative, in normal form (``..`` only at its start) and stay
  inside the deployment folder, counted from the link's own place;
* a hard link must point at a regular file extracted earlier from the same archive;
* nothing is written through a symlink, and no name appears twice;
* devices, fifos and setuid/setgid files are refused; other modes are normalised (files
  ``0o644``, or ``0o755`` when the owner may execute; folders ``0o755``);
* a name no file system can hold (a component over 255 bytes), a file or link arriving where
  an earlier entry made a folder, or an entry the file system refuses to create by its name
  (``File name too long``, ``File exists``) is refused like any other bad entry;
* the archive may not expand beyond the size and entry count its manifest records
  (:mod:`envstacks.published.unpack_limits`).

Any refusal raises :class:`~envstacks.floor.errors.UnsafeArchiveError`; the caller removes the
work folder, so the deployment folder is left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

from envstacks.floor.errors import UnsafeArchiveError
from envstacks.floor.report import Task
from envstacks.published.archive_protocol import (
    ArchiveFormat,
    ArchiveMember,
    ArchiveReader,
    MemberKind,
)
from envstacks.published.layer_tree import DIR_MODE, EXEC_MODE, FILE_MODE
from envstacks.published.unpack_limits import Refuse, UnpackBudget

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
#: Whether a file's mode and times can be set through its descriptor (not on Windows).
_BY_FD = hasattr(os, "fchmod") and os.utime in os.supports_fd
#: The longest file name (in bytes) common file systems hold.
MAX_NAME_BYTES = 255
#: What the file system says when an entry's own name or place is wrong (not a full disk).
_ENTRY_ERRNOS = frozenset(
    {errno.ENAMETOOLONG, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ELOOP, errno.EILSEQ}
)
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class _Refusal:
    """Builds the error for one refused member of one archive."""

    def __init__(self, archive_name: str, target: Path) -> None:
        self.archive_name = archive_name
        self.target = target

    def __call__(self, member: str, why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(
            f"archive {self.archive_name!r}: refusing entry {member!r}: {why}; "
            f"nothing was deployed from it into {self.target}",
            hint="the archive was not made by envstacks publish, or was tampered with; "
            "republish the layer from its build folder",
        )


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or bool(_WINDOWS_DRIVE.match(name))


def _member_parts(member: ArchiveMember, root: str, refuse: _Refusal) -> tuple[str, ...]:
    name = member.name
    if "\0" in name:
        raise refuse(name, "the name contains a NUL byte")
    if _is_absolute(name):
        raise refuse(name, "absolute paths are not allowed")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise refuse(name, "'..' components would write outside the layer folder")
    if not parts or parts[0] != root:
        raise refuse(name, f"it lies outside the layer's top folder '{root}/'")
    if any(len(os.fsencode(part)) > MAX_NAME_BYTES for part in parts):
        raise refuse(name, f"a name in it is longer than {MAX_NAME_BYTES} bytes")
    return parts


def check_symlink(parts: tuple[str, ...], link_target: str, refuse: Refuse) -> None:
    """Refuse a symlink at ``parts`` (relative to the deployment folder) that could leave it."""
    name = "/".join(parts)
    if not link_target:
        raise refuse(name, "the symlink has an empty target")
    if _is_absolute(link_target) or "\0" in link_target:
        raise refuse(name, f"the symlink target {link_target!r} is absolute")
    depth = len(parts) - 1  # folders between the deployment folder and the link
    leading = True
    for component in link_target.split("/"):
        if component in ("", "."):
            continue
        if component != "..":
            leading = False
            continue
        if not leading:
            # "a/../.." may climb out through a symlinked "a": only leading ".." is checkable.
            raise refuse(name, f"the symlink target {link_target!r} has '..' after a folder name")
        depth -= 1
        if depth < 0:
            raise refuse(
                name, f"the symlink target {link_target!r} points outside the deployment folder"
            )


def unpack_layer(
    fmt: ArchiveFormat,
    archive: Path | BinaryIO,
    workdir: Path,
    *,
    install_target: str,
    archive_name: str,
    target: Path,
    task: Task | None = None,
    unpacked_size: int | None = None,
    unpacked_entries: int | None = None,
) -> Path:
    """Extract a layer archive into the empty folder ``workdir``; return the layer folder in it.

    Args:
        fmt: the archive's format.
        archive: the archive file, or a binary stream of it (read front to back for the tar
            formats; see :mod:`envstacks.published.verified_unpack`).
        workdir: an empty folder inside the deployment folder ``target``.
        install_target: the layer's deployed name, which must be the archive's top folder.
        archive_name: the archive's name, for messages.
        target: the deployment folder, for messages.
        task: advances by the compressed bytes read.
        unpacked_size: the bytes of file content the archive may unpack to (``None``: any).
        unpacked_entries: the entries it may hold (``None``: any).

    Raises:
        UnsafeArchiveError: a member breaks one of the rules above.
        DeployError: the archive is damaged.
    """
    refuse = _Refusal(archive_name, target)
    budget = UnpackBudget(size=unpacked_size, entries=unpacked_entries, refuse=refuse)
    extraction = _Extraction(workdir, install_target, refuse, budget)
    opened = archive.open("rb") if isinstance(archive, Path) else contextlib.nullcontext(archive)
    with opened as raw, fmt.open_reader(raw, task=task) as reader:
        for member in reader.members():
            parts = extraction.check(member)
            try:
                extraction.write(member, parts, reader)
            except OSError as exc:
                if exc.errno not in _ENTRY_ERRNOS:
                    raise  # a full disk, a read-only target: floor.work_folders explains it
                raise refuse(
                    "/".join(parts), f"it cannot be created by that name ({exc.strerror})"
                ) from exc
    root = workdir / install_target
    if not root.is_dir():
        raise extraction.refuse(install_target, "the archive holds no layer folder")
    return root


class _Extraction:
    """What one archive's extraction has made so far, and the rules each new member must meet."""

    def __init__(self, workdir: Path, root: str, refuse: _Refusal, budget: UnpackBudget) -> None:
        self.workdir = workdir
        self.root = root
        self.refuse = refuse
        self.budget = budget
        self.seen: set[tuple[str, ...]] = set()
        self.links: set[tuple[str, ...]] = set()
        self.files: set[tuple[str, ...]] = set()
        self.dirs: set[tuple[str, ...]] = set()

    def check(self, member: ArchiveMember) -> tuple[str, ...]:
        """The member's path parts, once its name, place, kind and mode are found safe."""
        parts = _member_parts(member, self.root, self.refuse)
        name = "/".join(parts)
        if parts in self.seen:
            raise self.refuse(name, "the name appears twice in the archive")
        if parts in self.dirs and member.kind is not MemberKind.DIR:
            raise self.refuse(name, "an earlier entry made a folder of that name")
        self.seen.add(parts)
        self.budget.entry(name)
        for depth in range(1, len(parts)):
            if parts[:depth] in self.links:
                raise self.refuse(
                    name, f"it would be written through the symlink '{'/'.join(parts[:depth])}'"
                )
            if parts[:depth] in self.files:
                raise self.refuse(name, f"its parent '{'/'.join(parts[:depth])}' is a file")
        if len(parts) == 1 and member.kind is not MemberKind.DIR:
            raise self.refuse(name, "the layer's top folder must be a folder")
        if member.kind is MemberKind.OTHER:
            raise self.refuse(
                name,
                f"it is a {member.detail or 'special file'}; layers hold only "
                "files, folders and links",
            )
        if member.mode & (stat.S_ISUID | stat.S_ISGID):
            raise self.refuse(name, f"mode {member.mode:o} sets the setuid/setgid bit")
        return parts

    def write(self, member: ArchiveMember, parts: tuple[str, ...], reader: ArchiveReader) -> None:
        """Create a checked member (a link only once its target is checked too)."""
        path = self.workdir.joinpath(*parts)
        self._make_parents(parts)
        if member.kind is MemberKind.DIR:
            if parts not in self.dirs:
                path.mkdir(mode=DIR_MODE)
                path.chmod(DIR_MODE)  # whatever the umask
                self.dirs.add(parts)
        elif member.kind is MemberKind.SYMLINK:
            check_symlink(parts, member.link_target, self.refuse)
            path.symlink_to(member.link_target)
            self.links.add(parts)
        elif member.kind is MemberKind.HARDLINK:
            source = _hardlink_source(member, self.root, self.files, self.refuse, "/".join(parts))
            os.link(self.workdir.joinpath(*source), path)
            self.files.add(parts)
        else:
            fd = os.open(path, _CREATE_FLAGS, 0o600)
            with os.fdopen(fd, "wb") as out:
                reader.extract(member, self.budget.counted(out, "/".join(parts)))
                out.flush()
                _set_mode_and_time(out.fileno(), path, member)
            self.files.add(parts)

    def _make_parents(self, parts: tuple[str, ...]) -> None:
        """Create missing parent folders (archives need not list every folder)."""
        for depth in range(1, len(parts)):
            prefix = parts[:depth]
            if prefix in self.dirs:
                continue
            folder = self.workdir.joinpath(*prefix)
            folder.mkdir(mode=DIR_MODE)
            folder.chmod(DIR_MODE)
            self.dirs.add(prefix)


def _set_mode_and_time(fd: int, path: Path, member: ArchiveMember) -> None:
    """Normalise a new file's mode (whatever the umask) and set its mtime, by its descriptor.

    Through the open descriptor where the platform allows: no second path lookup per file.
    """
    mode = EXEC_MODE if member.mode & stat.S_IXUSR else FILE_MODE
    times = (member.mtime, member.mtime)
    if _BY_FD:
        os.fchmod(fd, mode)
        os.utime(fd, times)
    else:
        path.chmod(mode)
        os.utime(path, times)


def _hardlink_source(
    member: ArchiveMember, root: str, files: set[tuple[str, ...]], refuse: _Refusal, name: str
) -> tuple[str, ...]:
    target = member.link_target
    if _is_absolute(target):
        raise refuse(name, f"the hard link target {target!r} is absolute")
    parts = tuple(part for part in target.split("/") if part not in ("", "."))
    if ".." in parts or not parts or parts[0] != root:
        raise refuse(name, f"the hard link target {target!r} points outside the layer folder")
    if parts not in files:
        raise refuse(name, f"the hard link target {target!r} is not a file extracted before it")
    return parts
