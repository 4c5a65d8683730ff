"""Parallel, reproducible xz: a stream cut into fixed-size pieces, compressed on shared workers.

``tar.xz`` archives are written as ``xz -T`` writes them, but with the piece size fixed so the
bytes never depend on the number of cores: the tar stream is cut every :func:`piece_size`
bytes (three times the preset's dictionary, as ``xz -T`` cuts its blocks), each piece is
compressed by ``lzma`` (which releases the GIL) into a complete ``.xz`` stream of its own on
a worker thread, and the streams are written in order. Concatenated streams are a valid
``.xz`` file (the format allows them): ``xz -d``, GNU ``tar -xJf``, ``lzma.LZMAFile`` and so
``tarfile``'s ``r:xz`` read them as one. A tree smaller than one piece gives exactly the bytes
of ``tarfile``'s ``w:xz`` mode.

Every archive being packed in the process shares one pool of workers per thread count and
one budget of pieces in flight (submitted and not yet written: at most ``threads + 1``), so
several layers packed at once keep every core busy without holding more pieces in memory.
A writer that finds the budget spent writes out its own oldest piece first (it needs no
budget to finish), so writers never wait on each other in a circle.
"""

from __future__ import annotations

import lzma
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

__all__ = ["PIECE_DICT_MULTIPLE", "XzPieceWriter", "piece_size"]

#: A piece is this many dictionaries long (``xz -T``'s block size).
PIECE_DICT_MULTIPLE = 3
#: The dictionary size of each xz preset (``xz --long-help``; ``extreme`` keeps it).
_DICT_SIZES = {
    0: 256 << 10,
    1: 1 << 20,
    2: 2 << 20,
    3: 4 << 20,
    4: 4 << 20,
    5: 8 << 20,
    6: 8 << 20,
    7: 16 << 20,
    8: 32 << 20,
    9: 64 << 20,
}
#: ``xz -T``'s smallest block.
_MIN_PIECE = 1 << 20


def piece_size(preset: int) -> int:
    """The bytes of tar stream in each xz stream at ``preset`` (a constant per preset)."""
    return max(_MIN_PIECE, PIECE_DICT_MULTIPLE * _DICT_SIZES[preset & ~lzma.PRESET_EXTREME])


class _Budget:
    """How many pieces may be in flight at once, across every writer of one pool."""

    def __init__(self, pieces: int) -> None:
        self._free = pieces
        self._changed = threading.Condition()

    def try_take(self) -> bool:
        with self._changed:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    def take(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._free > 0)
            self._free -= 1

    def give(self, _: object = None) -> None:
        with self._changed:
            self._free += 1
            self._changed.notify()


_POOLS: dict[int, tuple[ThreadPoolExecutor, _Budget]] = {}
_POOLS_LOCK = threading.Lock()


def _shared_pool(threads: int) -> tuple[ThreadPoolExecutor, _Budget]:
    """The process's workers for ``threads`` and their budget, made on first use."""
    with _POOLS_LOCK:
        if threads not in _POOLS:
            pool = ThreadPoolExecutor(threads, thread_name_prefix="xz")
            _POOLS[threads] = (pool, _Budget(threads + 1))
        return _POOLS[threads]


def _compress(piece: bytearray, preset: int) -> bytes:
    return lzma.compress(piece, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=preset)


class XzPieceWriter:
    """A sink writing what it is given into ``out`` as in-order ``.xz`` streams of fixed pieces.

    ``close`` writes the rest and waits for every piece; ``abort`` (after a failure) drops
    what is still queued and gives its budget back.
    """

    def __init__(self, out: BinaryIO, *, preset: int, threads: int, piece: int) -> None:
        self._out = out
        self._preset = preset
        self._piece = piece
        self._pool, self._budget = _shared_pool(max(1, threads))
        #: The piece being filled (handed to a worker whole, without a copy), made when needed.
        self._buffer = bytearray()
        self._filled = 0
        self._in_flight: deque[Future[bytes]] = deque()
        self._submitted = 0

    def write(self, data: bytes) -> int:
        """Add ``data`` to the stream; every full piece goes to the workers."""
        view, start = memoryview(data), 0
        while start < len(view):
            if not self._buffer:
                self._buffer = bytearray(self._piece)
            end = min(len(view), start + self._piece - self._filled)
            self._buffer[self._filled : self._filled + end - start] = view[start:end]
            self._filled += end - start
            start = end
            if self._filled == self._piece:
                self._submit()
        return len(view)

    def close(self) -> None:
        """Compress the last piece (an empty stream still gets one) and write every piece."""
        if self._filled or not self._submitted:
            self._submit()
        while self._in_flight:
            self._write_oldest()

    def abort(self) -> None:
        """Stop: drop the queued pieces and give back the budget of every piece in flight."""
        while self._in_flight:
            future = self._in_flight.popleft()
            if future.cancel():
                self._budget.give()
            else:  # compressing now: its budget comes back when it ends
                future.add_done_callback(self._budget.give)
        self._buffer, self._filled = bytearray(), 0

    def _submit(self) -> None:
        piece = self._buffer if self._filled == self._piece else self._buffer[: self._filled]
        self._buffer, self._filled = bytearray(), 0
        while not self._budget.try_take():
            if not self._in_flight:
                self._budget.take()
                break
            self._write_oldest()
        self._in_flight.append(self._pool.submit(_compress, piece, self._preset))
        self._submitted += 1

    def _write_oldest(self) -> None:
        future = self._in_flight.popleft()
        try:
            self._out.write(future.result())
        finally:
            self._budget.give()
