"""HTTP(S) transfers for deploy: small documents read into memory, archives streamed to disk.

Archive downloads stream to a ``.part`` file (never held in memory), report progress after
every read (whatever the server sent so far, so a cancelled run stops at the next bytes that
arrive), and are retried with an HTTP ``Range`` request that resumes where the last attempt
stopped; a later deploy resumes a ``.part`` file an interrupted one left behind. A server that
sends nothing for ``ENVSTACKS_HTTP_TIMEOUT`` seconds (60 by default) ends the download at once
with an error naming the URL. The sha256 of what is written
is computed as it streams (a resumed file's first part is read once), so the download need not
be read again to be verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from envstacks.floor.env_settings import HTTP_TIMEOUT_VARIABLE, http_timeout
from envstacks.floor.errors import DeployError
from envstacks.floor.fs import CHUNK
from envstacks.floor.report import Task, progress_to

#: Download attempts per archive before giving up.
ATTEMPTS = 5
#: Most bytes read at once: a slow server's bytes are handed on (and Ctrl-C noticed) as they
#: come, never after a whole large read.
READ_SIZE = 1 << 16
_USER_AGENT = "envstacks-deploy"


def _request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    # Only http(s) URLs get here: file:// sources are turned into paths by open_source.
    return urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})  # noqa: S310


def get_document(url: str, *, limit: int, what: str) -> bytes | None:
    """The body of ``url`` (at most ``limit`` bytes), or ``None`` when the server has none (404).

    Raises:
        DeployError: (naming ``what``) any other HTTP error, no connection, or a larger body.
    """
    timeout = http_timeout()
    try:
        with urllib.request.urlopen(_request(url), timeout=timeout) as response:  # noqa: S310 - http(s) only
            body: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise DeployError(f"{what} {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        if _stalled(exc):
            raise _stall_error(what, url, timeout) from exc
        raise DeployError(f"{what} {url}: cannot be fetched ({exc})") from exc
    if len(body) > limit:
        raise DeployError(f"{what} {url}: larger than {limit} bytes")
    return body


class _Digest:
    """The sha256 of a ``.part`` file's first ``count`` bytes, kept up to date as it grows."""

    def __init__(self) -> None:
        self.hasher = hashlib.sha256()
        self.count = 0

    def reset(self) -> None:
        self.hasher = hashlib.sha256()
        self.count = 0

    def update(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.count += len(chunk)

    def sync(self, part: Path, have: int) -> None:
        """Hash the file's first ``have`` bytes again unless that is what was hashed."""
        if self.count == have:
            return
        self.reset()
        if have:
            with part.open("rb") as stream:
                while self.count < have and (chunk := stream.read(min(CHUNK, have - self.count))):
                    self.update(chunk)


def download(url: str, part: Path, *, size: int, task: Task, attempts: int = ATTEMPTS) -> str:
    """Download ``url`` into ``part``, resuming what is already there, retrying on failures.

    Returns the hex sha256 of the downloaded file (computed while it streamed).

    Raises:
        DeployError: the server refuses the file, or every attempt failed.
    """
    progress = progress_to(task)
    digest = _Digest()
    timeout = http_timeout()
    last_error: BaseException | None = None
    for attempt in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        digest.sync(part, have)
        if have == size and size > 0:
            return digest.hasher.hexdigest()
        try:
            _download_once(
                url, part, have=have, size=size, progress=progress, digest=digest, timeout=timeout
            )
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # our partial file does not fit the server's: start over
                part.unlink(missing_ok=True)
                last_error = exc
                continue
            if exc.code < 500 and exc.code != 429:
                raise DeployError(f"archive {url}: HTTP {exc.code} {exc.reason}") from exc
            last_error = exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if _stalled(exc):  # waited long enough already: say so now (deploy resumes it)
                raise _stall_error("archive", url, timeout) from exc
            last_error = exc
        else:
            if part.stat().st_size == size:
                digest.sync(part, size)
                return digest.hasher.hexdigest()
            last_error = DeployError(f"the server sent {part.stat().st_size} of {size} bytes")
        task.note(f"download interrupted ({last_error}); resuming")
        time.sleep(min(8.0, 0.25 * 2**attempt))
    raise DeployError(
        f"archive {url}: download failed after {attempts} attempts ({last_error})",
        hint="check the connection and run deploy again; it resumes the partial download",
    )


def _download_once(
    url: str,
    part: Path,
    *,
    have: int,
    size: int,
    progress: Callable[[int], None],
    digest: _Digest,
    timeout: float | None,
) -> None:
    headers = {"Range": f"bytes={have}-"} if have else {}
    with urllib.request.urlopen(_request(url, headers), timeout=timeout) as response:  # noqa: S310 - http(s) only
        resumed = have > 0 and response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            resumed = False
        written = have if resumed else 0
        if not resumed:
            digest.reset()
        progress(written)
        with part.open("ab" if resumed else "wb") as out:
            while chunk := response.read1(READ_SIZE):
                written += len(chunk)
                if written > size:
                    raise DeployError(
                        f"archive {url}: the server sent more than the {size} bytes recorded"
                    )
                out.write(chunk)
                digest.update(chunk)
                progress(written)
            out.flush()
            with contextlib.suppress(OSError):
                os.fsync(out.fileno())


def _stalled(exc: BaseException) -> bool:
    """Whether a failure is the server's silence outlasting the timeout."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(reason, TimeoutError)


def _stall_error(what: str, url: str, timeout: float | None) -> DeployError:
    return DeployError(
        f"{what} {url}: the server sent nothing for {timeout:g} seconds (it stalled)",
        hint=f"deploy again later (a download resumes where it stopped); "
        f"{HTTP_TIMEOUT_VARIABLE} sets how long to wait (seconds)",
    )
