"""The tar-based built-in formats: ``tar.xz`` (venvstacks-compatible) and multithreaded ``tar.zst``.

Both write the same reproducible tar stream (PAX format, written by Python's ``tarfile`` from
the normalised entries of :mod:`envstacks.published.layer_tree`) and differ only in the
compressor behind it:

* ``tar.xz``: ``lzma`` preset 6 with a CRC64 check, as ``tarfile``'s ``w:xz`` mode (and so
  venvstacks) writes it, but cut into fixed pieces compressed on every core
  (:mod:`envstacks.published.xz_pieces`): concatenated ``.xz`` streams, whose bytes do not
  depend on the number of cores; a tree smaller than one piece gives ``w:xz``'s exact bytes.
* ``tar.zst``: zstandard on every core (level 10; ``max``: level 22 with a 128 MiB window and
  long-distance matching, for releases). Always the multithreaded code path, even with one
  worker: libzstd's single-threaded path gives different bytes, and the archive must not depend
  on how many cores the publishing machine has. ``zstandard`` before Python 3.14, the stdlib's
  ``compression.zstd`` from 3.14 on.
"""

from __future__ import annotations

import lzma
import os
import shutil
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from envstacks.floor.errors import DeployError
from envstacks.floor.fs import CHUNK
from envstacks.floor.report import Task
from envstacks.published.archive_protocol import (
    ArchiveMember,
    Closing,
    CountingReader,
    MemberKind,
    compression_level,
    recompressed,
)
from envstacks.published.layer_tree import ProgressReader, TreeEntry, scan_tree
from envstacks.published.xz_pieces import XzPieceWriter, piece_size

#: zstd level of ``tar.zst`` archives, chosen from benchmarks/archive_formats.py (docs/archives.md).
ZSTD_LEVEL = 10
#: The zstd levels of each named compression; ``max`` also opens a long window.
ZSTD_LEVELS = {"fast": 3, "default": ZSTD_LEVEL, "max": 22}
#: ``max``'s window: 128 MiB (the most every zstd decoder accepts without being told), with
#: long-distance matching, so repeats across a whole layer are found as ``xz -9`` finds them.
ZSTD_LONG_WINDOW_LOG = 27
#: xz preset of ``tar.xz`` archives (``tarfile``'s and venvstacks' default).
XZ_PRESET = 6
#: The xz presets of each named compression (``max``: preset 9, extreme).
XZ_PRESETS = {"fast": 1, "default": XZ_PRESET, "max": 9 | lzma.PRESET_EXTREME}
#: Bytes copied at a time when extracting a member.
COPY_CHUNK = 1 << 16


class _Sink(Protocol):
    """A compressor the tar stream is written into; ``close`` ends the compressed stream."""

    def write(self, data: bytes) -> int: ...

    def close(self) -> None: ...


def worker_threads() -> int:
    """Compression workers: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def write_tar(entries: tuple[TreeEntry, ...], sink: _Sink, *, mtime: int, task: Task) -> None:
    """Write normalised entries as a reproducible PAX tar stream into ``sink``.

    The bytes are those of ``tarfile``'s stream mode (``"w|"``, PAX, UTF-8): each header is
    ``TarInfo.tobuf``, each file's content follows in 512-byte blocks, and the archive ends
    with two zero blocks padded to a 10 KiB record. Written here rather than by ``tarfile``,
    whose stream buffer copies every byte several times over (a sixth of a publish's time):
    headers are gathered into large writes, contents go to ``sink`` in ``CHUNK`` pieces.
    """
    out = _Blocks(sink)
    for entry in entries:
        info = tarfile.TarInfo(entry.name)
        info.mtime = mtime
        info.mode = entry.mode
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if entry.kind is MemberKind.DIR:
            info.type = tarfile.DIRTYPE
        elif entry.kind is MemberKind.SYMLINK:
            info.type = tarfile.SYMTYPE
            info.linkname = entry.link_target
        else:
            info.size = entry.size
        out.write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        if entry.kind is MemberKind.FILE:
            with ProgressReader(entry, task) as reader:
                while data := reader.read(CHUNK):
                    out.write(data)
            out.write(tarfile.NUL * (-entry.size % tarfile.BLOCKSIZE))
    out.write(tarfile.NUL * (2 * tarfile.BLOCKSIZE))
    out.write(tarfile.NUL * (-out.offset % tarfile.RECORDSIZE))
    out.flush()


class _Blocks:
    """Gathers small writes (headers, padding) into ``CHUNK``-sized ones; counts the bytes."""

    def __init__(self, sink: _Sink) -> None:
        self._sink = sink
        self._pending = bytearray()
        self.offset = 0

    def write(self, data: bytes) -> None:
        self.offset += len(data)
        if len(data) >= CHUNK // 4:  # a big piece of content: no copy
            self.flush()
            self._sink.write(data)
            return
        self._pending += data
        if len(self._pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._sink.write(bytes(self._pending))
            self._pending.clear()


class _ZstdSink:
    def __init__(self, out: BinaryIO, *, level: int, threads: int, long_window: bool) -> None:
        self._out = out
        self._compressor = _zstd_compressor(
            level=level, threads=max(1, threads), long_window=long_window
        )

    def write(self, data: bytes) -> int:
        self._out.write(self._compressor.compress(data))
        return len(data)

    def close(self) -> None:
        self._out.write(self._compressor.flush())


def _zstd_compressor(*, level: int, threads: int, long_window: bool) -> Any:
    """A zstd compression object with ``compress``/``flush``, on the multithreaded path.

    ``long_window``: a :data:`ZSTD_LONG_WINDOW_LOG` window with long-distance matching.
    """
    if sys.version_info >= (3, 14):
        from compression import zstd  # noqa: PLC0415 - only exists on 3.14+

        parameter = zstd.CompressionParameter
        options = {
            parameter.compression_level: level,
            parameter.nb_workers: threads,
            parameter.checksum_flag: 1,
        }
        if long_window:
            options[parameter.window_log] = ZSTD_LONG_WINDOW_LOG
            options[parameter.enable_long_distance_matching] = 1
        return zstd.ZstdCompressor(options=options)
    import zstandard  # noqa: PLC0415 - imported when first needed

    if not long_window:
        compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
        return compressor.compressobj()
    parameters = zstandard.ZstdCompressionParameters.from_level(
        level,
        window_log=ZSTD_LONG_WINDOW_LOG,
        enable_ldm=True,
        threads=threads,
        write_checksum=True,
    )
    return zstandard.ZstdCompressor(compression_params=parameters).compressobj()


def _zstd_reader(file: BinaryIO) -> tuple[BinaryIO, tuple[type[Exception], ...]]:
    """A readable stream of the decompressed content of a zstd file, and what it raises."""
    if sys.version_info >= (3, 14):
        from compression import zstd  # noqa: PLC0415 - only exists on 3.14+

        return zstd.ZstdFile(file, "rb"), (zstd.ZstdError,)  # type: ignore[return-value]
    import zstandard  # noqa: PLC0415 - imported when first needed

    reader: BinaryIO = zstandard.ZstdDecompressor().stream_reader(
        file, read_size=CHUNK, read_across_frames=True, closefd=False
    )
    return reader, (zstandard.ZstdError,)


_SPECIAL = {
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "fifo",
}


def _member(info: tarfile.TarInfo) -> ArchiveMember:
    if info.isdir():
        kind = MemberKind.DIR
    elif info.issym():
        kind = MemberKind.SYMLINK
    elif info.islnk():
        kind = MemberKind.HARDLINK
    elif info.isreg():
        kind = MemberKind.FILE
    else:
        kind = MemberKind.OTHER
    return ArchiveMember(
        name=info.name,
        kind=kind,
        mode=info.mode & 0o7777,
        size=info.size if info.isreg() else 0,
        link_target=info.linkname,
        mtime=int(info.mtime),
        detail=_SPECIAL.get(info.type, f"tar entry of type {info.type!r}")
        if kind is MemberKind.OTHER
        else "",
    )


class TarReader(Closing):
    """Reads a (decompressed) tar stream member by member."""

    def __init__(
        self, stream: BinaryIO, *, what: str, errors: tuple[type[Exception], ...] = ()
    ) -> None:
        self._stream = stream
        self._what = what
        #: What a damaged stream raises: tarfile's errors plus the decompressor's own.
        self._errors: tuple[type[Exception], ...] = (
            tarfile.TarError,
            EOFError,
            OSError,
            lzma.LZMAError,
            *errors,
        )
        try:
            self._tar = tarfile.open(fileobj=stream, mode="r|", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except self._errors as exc:
            raise DeployError(f"{what}: not a readable tar archive ({exc})") from exc
        self._current: tarfile.TarInfo | None = None

    def members(self) -> Iterator[ArchiveMember]:
        """The members in archive order."""
        iterator = iter(self._tar)
        while True:
            try:
                info = next(iterator)
            except StopIteration:
                return
            except self._errors as exc:
                raise DeployError(f"{self._what}: damaged archive ({exc})") from exc
            self._current = info
            yield _member(info)

    def extract(self, member: ArchiveMember, destination: BinaryIO) -> None:
        """Copy the current member's content into ``destination``."""
        if self._current is None or self._current.name != member.name:
            raise DeployError(f"{self._what}: {member.name!r} is not the current member")
        source = self._tar.extractfile(self._current)
        if source is None:
            raise DeployError(f"{self._what}: {member.name!r} has no content")
        try:
            # 64 KiB pieces: buffers that small are reused, not mapped and faulted in each time.
            shutil.copyfileobj(source, destination, COPY_CHUNK)
        except tuple(error for error in self._errors if error is not OSError) as exc:
            raise DeployError(f"{self._what}: damaged archive at {member.name!r} ({exc})") from exc

    def close(self) -> None:
        """Close the tar stream and the decompressor."""
        self._tar.close()
        self._stream.close()


class TarXzFormat:
    """``tar.xz``: venvstacks' format (``lzma`` preset 6), in fixed pieces on every core."""

    name = "tar.xz"
    suffix = ".tar.xz"
    #: The reader reads the archive front to back only (deploy hashes it while unpacking).
    sequential = True
    #: The pieces of every layer packed at once share one pool of workers and one budget of
    #: pieces in memory, so layers are packed side by side (one per core) to keep cores busy.
    shares_workers = True

    def __init__(self, *, preset: int = XZ_PRESET, threads: int | None = None) -> None:
        self.preset = preset
        #: Compression workers (default: every core); the bytes are the same for any number.
        self.threads = threads

    @property
    def compression(self) -> str:
        """The xz preset it writes with."""
        extreme = self.preset & lzma.PRESET_EXTREME
        return f"xz preset {self.preset & ~lzma.PRESET_EXTREME}{', extreme' if extreme else ''}"

    def with_compression(self, setting: str, *, where: str) -> TarXzFormat:
        """``tar.xz`` at ``setting``: fast (preset 1), default (6), max (9, extreme) or 0-9."""
        preset = compression_level(setting, XZ_PRESETS, range(10), fmt=self.name, where=where)
        return recompressed(self, setting, preset=preset)

    def pack(self, source: Path, archive: Path, *, root_name: str, mtime: int, task: Task) -> None:
        """Write ``source`` as a reproducible ``.tar.xz``."""
        entries = scan_tree(source, root_name=root_name)
        threads = self.threads if self.threads is not None else worker_threads()
        with archive.open("wb") as out:
            sink = XzPieceWriter(
                out, preset=self.preset, threads=threads, piece=piece_size(self.preset)
            )
            try:
                write_tar(entries, sink, mtime=mtime, task=task)
                sink.close()
            except BaseException:
                sink.abort()
                raise

    def open_reader(self, archive: BinaryIO, *, task: Task | None = None) -> TarReader:
        """Read a ``.tar.xz`` member by member."""
        stream = lzma.LZMAFile(CountingReader(archive, task), "rb")  # type: ignore[arg-type]  # noqa: SIM115 - closed by the reader
        return TarReader(cast(BinaryIO, stream), what=getattr(archive, "name", "tar.xz archive"))


class TarZstFormat:
    """``tar.zst``: the same tar stream, zstd-compressed on every core."""

    name = "tar.zst"
    suffix = ".tar.zst"
    #: The reader reads the archive front to back only (deploy hashes it while unpacking).
    sequential = True

    def __init__(
        self, *, level: int = ZSTD_LEVEL, threads: int | None = None, long_window: bool = False
    ) -> None:
        self.level = level
        self.threads = threads
        self.long_window = long_window

    @property
    def compression(self) -> str:
        """The zstd level (and window) it writes with."""
        window = f", {1 << (ZSTD_LONG_WINDOW_LOG - 20)} MiB long window" if self.long_window else ""
        return f"zstd level {self.level}{window}"

    def with_compression(self, setting: str, *, where: str) -> TarZstFormat:
        """``tar.zst`` at ``setting``: fast (3), default (10), max (22, long window) or 1-22."""
        level = compression_level(setting, ZSTD_LEVELS, range(1, 23), fmt=self.name, where=where)
        return recompressed(self, setting, level=level, long_window=setting == "max")

    def pack(self, source: Path, archive: Path, *, root_name: str, mtime: int, task: Task) -> None:
        """Write ``source`` as a reproducible ``.tar.zst``."""
        entries = scan_tree(source, root_name=root_name)
        threads = self.threads if self.threads is not None else worker_threads()
        with archive.open("wb") as out:
            sink = _ZstdSink(out, level=self.level, threads=threads, long_window=self.long_window)
            write_tar(entries, sink, mtime=mtime, task=task)
            sink.close()

    def open_reader(self, archive: BinaryIO, *, task: Task | None = None) -> TarReader:
        """Read a ``.tar.zst`` member by member."""
        stream, errors = _zstd_reader(CountingReader(archive, task))  # type: ignore[arg-type]
        return TarReader(stream, what=getattr(archive, "name", "tar.zst archive"), errors=errors)
