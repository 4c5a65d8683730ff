"""The archive formats by name: the built-ins (tar.xz, zip, tar.zst) and those of plugins.

This module is registered as a built-in plugin answering ``envstacks_archive_formats``;
formats are collected into a :class:`~envstacks.floor.named_plugins.Registry`, where a
third-party format of the same name replaces a built-in one. :func:`get_format` is how the
rest of envstacks asks for a format by name, and :func:`format_for_archive` finds the
reader for a published archive file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pluggy

from envstacks.floor.errors import DeployError, SpecError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.named_plugins import Registry
from envstacks.published.archive_protocol import (
    ArchiveFormat,
    ArchiveMember,
    ArchiveReader,
    LeveledFormat,
    MemberKind,
)
from envstacks.published.archive_tar import TarXzFormat, TarZstFormat
from envstacks.published.archive_zip import ZipFormat

__all__ = [
    "BUILTIN_FORMATS",
    "ArchiveFormat",
    "ArchiveMember",
    "ArchiveReader",
    "LeveledFormat",
    "MemberKind",
    "compression_of",
    "format_for_archive",
    "format_names",
    "format_registry",
    "get_format",
    "with_compression",
]

#: The built-in formats by name.
BUILTIN_FORMATS: dict[str, ArchiveFormat] = {
    fmt.name: fmt for fmt in (TarZstFormat(), TarXzFormat(), ZipFormat())
}


# trylast: plugins registered later are asked first anyway; this keeps a third-party
# format of the same name ahead of the built-in one even when it is marked trylast itself.
@hookimpl(trylast=True)
def envstacks_archive_formats() -> Sequence[ArchiveFormat]:
    """The built-in formats."""
    return tuple(BUILTIN_FORMATS.values())


def format_registry(pm: pluggy.PluginManager) -> Registry[ArchiveFormat]:
    """Every archive format the registered plugins offer, by name."""
    return Registry.from_hook(
        pm, "envstacks_archive_formats", kind="archive format", error=SpecError
    )


def format_names(pm: pluggy.PluginManager) -> tuple[str, ...]:
    """Every archive format name the registered plugins offer, sorted, without duplicates."""
    return format_registry(pm).names()


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
    return format_registry(pm).get(name, where=where, error=SpecError)


def with_compression(fmt: ArchiveFormat, setting: str, *, where: str) -> ArchiveFormat:
    """``fmt`` at the compression ``setting`` (``fast``, ``default``, ``max`` or a level).

    A format without levels (a plugin's) takes ``default`` only.

    Raises:
        SpecError: ``setting`` is not one of the format's compressions, naming ``where``.
    """
    leveled = getattr(fmt, "with_compression", None)
    if leveled is not None:
        return cast("ArchiveFormat", leveled(setting, where=where))
    if setting != "default":
        raise SpecError(
            f"{where}: archive format {fmt.name!r} has no compression levels "
            f"(asked for {setting!r})",
            hint="leave the compression at default for this format, or choose tar.zst, "
            "tar.xz or zip",
        )
    return fmt


def compression_of(fmt: ArchiveFormat) -> str:
    """What ``fmt`` compresses with (``"zstd level 10"``), for publish to report."""
    described = getattr(fmt, "compression", None)
    return described if isinstance(described, str) else f"{fmt.name}'s own"


def format_for_archive(
    pm: pluggy.PluginManager, archive_name: str, *, declared: str | None = None
) -> ArchiveFormat:
    """The format that reads ``archive_name``: the declared one, else the longest matching suffix.

    Raises:
        DeployError: no known format has that name or suffix.
    """
    registry = format_registry(pm)
    fmt = registry.find(declared) if declared is not None else None
    if fmt is not None:
        return fmt
    candidates = [fmt for fmt in registry.entries.values() if archive_name.endswith(fmt.suffix)]
    if not candidates:
        raise DeployError(
            f"archive {archive_name!r}: no archive format reads it"
            + (f" (the manifest says {declared!r})" if declared else "")
            + f"; known formats: {', '.join(registry.names())}",
            hint="install the envstacks plugin that provides this archive format",
        )
    return max(candidates, key=lambda fmt: len(fmt.suffix))
