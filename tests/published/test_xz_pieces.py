"""Parallel xz: the same bytes on any number of threads, read by every xz reader, never stuck."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import lzma
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.published.archive_tar import TarXzFormat, write_tar
from envstacks.published.layer_tree import scan_tree
from envstacks.published.xz_pieces import XzPieceWriter, piece_size
from kits.trees import LOCK_MTIME

#: xz's stream header magic: one per piece.
XZ_MAGIC = b"\xfd7zXZ\x00"
#: Preset 0's pieces are 1 MiB, so a few MiB of tree make several pieces quickly.
PRESET = 0


def _data(size: int, seed: bytes) -> bytes:
    """Compressible but not trivial bytes (repeated hashes), the same for the same seed."""
    block = b"".join(hashlib.sha256(seed + n.to_bytes(4, "big")).digest() for n in range(512))
    return (block * (size // len(block) + 1))[:size]


def _tree(root: Path) -> Path:
    for index in range(5):
        path = root / "lib" / f"part{index}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_data(700_000 + 1000 * index, bytes([index])))
    return root


def _pack(tree: Path, archive: Path, *, threads: int) -> bytes:
    with RecordingReporter().task("x", "pack") as task:
        TarXzFormat(preset=PRESET, threads=threads).pack(
            tree, archive, root_name="framework-x@1", mtime=LOCK_MTIME, task=task
        )
    return archive.read_bytes()


def _compress(data: bytes, *, threads: int, piece: int) -> bytes:
    out = io.BytesIO()
    writer = XzPieceWriter(out, preset=PRESET, threads=threads, piece=piece)
    for start in range(0, len(data), 50_000):  # writes that straddle piece boundaries
        writer.write(data[start : start + 50_000])
    writer.close()
    return out.getvalue()


def test_piece_size_is_three_dictionaries_and_ignores_extreme():
    assert piece_size(6) == 24 << 20
    assert piece_size(9 | lzma.PRESET_EXTREME) == piece_size(9) == 192 << 20
    assert piece_size(0) == 1 << 20  # xz -T's smallest block


def test_tar_xz_bytes_do_not_depend_on_the_number_of_threads(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "env")
    archives = {
        threads: _pack(tree, tmp_path / f"{threads}.tar.xz", threads=threads)
        for threads in (1, 2, 3)
    }
    assert len(set(archives.values())) == 1
    archive = archives[1]
    assert archive.count(XZ_MAGIC) == 4  # 3.5 MiB of tar in 1 MiB pieces
    stream = io.BytesIO()
    with RecordingReporter().task("x", "tar") as task:
        write_tar(scan_tree(tree, root_name="framework-x@1"), stream, mtime=LOCK_MTIME, task=task)
    assert lzma.decompress(archive) == stream.getvalue()


def test_every_xz_reader_reads_the_pieces(tmp_path: Path) -> None:
    """Read by ``tarfile`` (venvstacks' deploy), our reader, ``xz -t`` and ``tar -xJf``."""
    tree = _tree(tmp_path / "env")
    archive = tmp_path / "layer.tar.xz"
    _pack(tree, archive, threads=2)
    expected = {f"framework-x@1/lib/part{index}.bin" for index in range(5)}
    with tarfile.open(archive, "r:xz") as tar:
        assert {info.name for info in tar if info.isreg()} == expected
        member = tar.extractfile("framework-x@1/lib/part4.bin")
        assert member is not None
        assert member.read() == (tree / "lib" / "part4.bin").read_bytes()
    with archive.open("rb") as raw, TarXzFormat().open_reader(raw) as reader:
        assert {m.name for m in reader.members() if m.size} == expected
    if shutil.which("xz") is None or shutil.which("tar") is None:
        pytest.skip("no xz or GNU tar command here")
    subprocess.run(["xz", "-t", str(archive)], check=True)
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xJf", str(archive), "-C", str(unpacked)], check=True)
    copy = unpacked / "framework-x@1" / "lib" / "part3.bin"
    assert copy.read_bytes() == (tree / "lib" / "part3.bin").read_bytes()


def test_a_stream_of_whole_pieces_ends_without_an_empty_one():
    piece = 64 << 10
    data = _data(5 * piece, b"whole")
    outputs = {_compress(data, threads=threads, piece=piece) for threads in (1, 3)}
    assert len(outputs) == 1
    (output,) = outputs
    assert output.count(XZ_MAGIC) == 5
    assert lzma.decompress(output) == data
    empty = _compress(b"", threads=2, piece=piece)
    assert empty.count(XZ_MAGIC) == 1
    assert lzma.decompress(empty) == b""


def test_writers_sharing_one_worker_and_its_budget_all_finish():
    """Four writers on one worker (a budget of two pieces) each write many pieces at once."""
    piece = 32 << 10
    data = [_data(9 * piece + 1000 * index, bytes([index])) for index in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(_compress, item, threads=1, piece=piece) for item in data]
        results = [future.result(timeout=120) for future in futures]
    assert [lzma.decompress(result) for result in results] == data


class _FailingTask:
    """A progress task that stops the pack after a few chunks, as a cancelled run does."""

    def __init__(self, after: int) -> None:
        self.left = after

    def advance(self, amount: int = 1) -> None:
        self.left -= 1
        if self.left < 0:
            raise RuntimeError("stopped")

    def set_total(self, total: int | None) -> None:
        pass

    def note(self, text: str) -> None:
        pass


def test_a_failed_pack_gives_its_budget_back(tmp_path: Path) -> None:
    """Failed packs on one worker leave no budget behind: the next pack still finishes.

    A leaked budget would block the next pack for ever: it runs on a daemon thread, so the
    test fails on the timeout instead of hanging.
    """
    tree = _tree(tmp_path / "env")
    outcome: list[object] = []

    def attempts() -> None:
        for attempt in range(3):
            try:
                TarXzFormat(preset=PRESET, threads=1).pack(
                    tree,
                    tmp_path / f"failed{attempt}",
                    root_name="x",
                    mtime=0,
                    task=_FailingTask(3),
                )
            except RuntimeError as exc:
                outcome.append(str(exc))
        outcome.append(lzma.decompress(_pack(tree, tmp_path / "after.tar.xz", threads=1)))

    thread = threading.Thread(target=attempts, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "a pack after failed ones never finished: budget leaked"
    assert outcome[:3] == ["stopped"] * 3
    assert isinstance(outcome[3], bytes) and outcome[3]
