"""Built-in archive formats (tar.xz, zip, tar.zst) offered through the archive-format hooks.

This module is registered as a built-in plugin. Its hook implementations are ``trylast``,
so a third-party plugin answering ``envstacks_archive_format`` for the same name wins.
:func:`get_format` is how the rest of envstacks asks for a format by name, and
:func:`format_for_archive` finds the reader for a published archive file.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import pluggy

from envstacks.errors import DeployError, SpecError
from envstacks.hooks.markers import hookimpl
from envstacks.pack.archive_base import ArchiveFormat, ArchiveMember, ArchiveReader, MemberKind
from envstacks.pack.archive_tar import TarXzFormat, TarZstFormat
from envstacks.pack.archive_zip import ZipFormat

__all__ = [
    "BUILTIN_FORMATS",
    "ArchiveFormat",
    "ArchiveMember",
    "ArchiveReader",
    "MemberKind",
    "format_for_archive",
    "format_names",
    "get_format",
]

#: The built-in formats by name.
BUILTIN_FORMATS: dict[str, ArchiveFormat] = {
    fmt.name: fmt for fmt in (TarZstFormat(), TarXzFormat(), ZipFormat())
}


@hookimpl(trylast=True)
def envstacks_archive_format(name: str) -> ArchiveFormat | None:
    """The built-in format called ``name``, if there is one."""
    return BUILTIN_FORMATS.get(name)


@hookimpl(trylast=True)
def envstacks_archive_format_names() -> Sequence[str]:
    """Names of the built-in formats."""
    return tuple(BUILTIN_FORMATS)


def format_names(pm: pluggy.PluginManager) -> tuple[str, ...]:
    """Every archive format name the registered plugins offer, sorted, without duplicates."""
    names: set[str] = set()
    for offered in pm.hook.envstacks_archive_format_names():
        names.update(offered)
    return tuple(sorted(names))


def get_format(
    pm: pluggy.PluginManager, name: str, *, where: str = "archive format"
) -> ArchiveFormat:
    """The archive format called ``name``, from whichever plugin offers it.

    Args:
        pm: the plugin manager.
        name: the format name (``"tar.zst"``...).
        where: what named it, for messages (``"tool.venvstacks.archive-format"``, ``"--format"``).

    Raises:
        SpecError: no plugin offers a format of that name.
    """
    fmt: ArchiveFormat | None = pm.hook.envstacks_archive_format(name=name)
    if fmt is not None:
        return fmt
    known = format_names(pm)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    suggestion = f"; did you mean {close[0]!r}?" if close else ""
    raise SpecError(
        f"{where}: unknown archive format {name!r}{suggestion} "
        f"(known: {', '.join(repr(known_name) for known_name in known)})",
        hint="pick one of the known formats, or install the plugin that provides this one",
    )


def format_for_archive(
    pm: pluggy.PluginManager, archive_name: str, *, declared: str | None = None
) -> ArchiveFormat:
    """The format that reads ``archive_name``: the declared one, else the longest matching suffix.

    Raises:
        DeployError: no known format has that name or suffix.
    """
    if declared is not None:
        fmt: ArchiveFormat | None = pm.hook.envstacks_archive_format(name=declared)
        if fmt is not None:
            return fmt
    candidates: list[ArchiveFormat] = [
        fmt
        for fmt in (pm.hook.envstacks_archive_format(name=name) for name in format_names(pm))
        if fmt is not None and archive_name.endswith(fmt.suffix)
    ]
    if not candidates:
        known = ", ".join(format_names(pm))
        raise DeployError(
            f"archive {archive_name!r}: no archive format reads it"
            + (f" (the manifest says {declared!r})" if declared else "")
            + f"; known formats: {known}",
            hint="install the envstacks plugin that provides this archive format",
        )
    return max(candidates, key=lambda fmt: len(fmt.suffix))
