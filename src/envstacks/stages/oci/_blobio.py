"""Blob bodies: file and chunk readers for uploads, the checked receiving of a download."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from envstacks.floor.errors import VerificationError
from envstacks.floor.fs import CHUNK

#: Most bytes of a download read at once.
READ_SIZE = 1 << 16

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse


def resume(part: Path, size: int) -> tuple[Any, int]:
    """The hash of what ``part`` holds and its size (an over-long part is started afresh)."""
    hasher = hashlib.sha256()
    try:
        have = part.stat().st_size
    except FileNotFoundError:
        return hasher, 0
    if have > size:
        part.unlink()
        return hasher, 0
    with part.open("rb") as existing:
        while block := existing.read(CHUNK):
            hasher.update(block)
    return hasher, have


class ProgressReader:
    """A file object that reports how much of it was read (what a streamed upload sent)."""

    def __init__(self, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        self._stream = stream
        self._progress = progress
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._done += len(data)
        self._progress(self._done)
        if not data:
            self._stream.close()
        return data


def upload_body(source: Path | bytes, progress: Callable[[int], None]) -> Callable[[], Any]:
    if isinstance(source, bytes):
        return lambda: source
    return lambda: ProgressReader(source.open("rb"), progress)


def chunks(source: Path | bytes, size: int, chunk: int) -> Iterator[tuple[int, bytes]]:
    if isinstance(source, bytes):
        for offset in range(0, size, chunk):
            yield offset, source[offset : offset + chunk]
        return
    with source.open("rb") as stream:
        offset = 0
        while data := stream.read(chunk):
            yield offset, data
            offset += len(data)


class Receiver:
    """A blob being written to its part file: the sha256 and length of what it holds so far."""

    def __init__(self, part: Path, size: int, what: str, progress: Callable[[int], None]) -> None:
        self.part, self.size, self.what, self.progress = part, size, what, progress
        self.hasher, self.have = resume(part, size)

    def restart(self) -> None:
        """The registry sends the whole blob again: forget what the part file held."""
        self.hasher, self.have = hashlib.sha256(), 0

    def receive(self, response: BaseHTTPResponse) -> int:
        """Append the answer's body (from ``have`` on); return the bytes received.

        Raises:
            VerificationError: more bytes than the blob's size arrived.
        """
        received = 0
        # Whatever arrived so far (at most READ_SIZE), so progress, and with it a cancelled
        # run's stop, comes with every read of a slow registry.
        read = getattr(response, "read1", None) or response.read
        with self.part.open("ab" if self.have else "wb") as out:
            while chunk := read(READ_SIZE):
                received += len(chunk)
                if self.have + len(chunk) > self.size:
                    out.close()
                    self.part.unlink(missing_ok=True)
                    raise VerificationError(
                        f"{self.what}: the registry sent more than the {self.size} bytes "
                        "the manifest records",
                        hint="the registry's copy was modified; push the stack again",
                    )
                self.hasher.update(chunk)
                out.write(chunk)
                self.have += len(chunk)
                self.progress(self.have)
        return received

    def check(self, digest: str) -> None:
        """Refuse (and remove) what was received unless its sha256 is ``digest``."""
        actual = "sha256:" + self.hasher.hexdigest()
        if actual != digest:
            self.part.unlink(missing_ok=True)
            raise VerificationError(
                f"{self.what}: the content's digest is {actual}, the manifest records {digest}",
                hint="the registry's copy was modified or damaged; do not deploy it; "
                "push the stack again from its publish folder",
            )
