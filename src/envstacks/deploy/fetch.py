"""Find a manifest and its archives: a publish folder, a manifest file, or an http(s)/file URL.

Downloads stream to a ``.part`` file in the deployment folder (never held in memory), show
progress, and are retried with an HTTP ``Range`` request that resumes where the last attempt
stopped; a later deploy resumes a ``.part`` file an interrupted one left behind.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.errors import DeployError
from envstacks.fs import CHUNK
from envstacks.layout import METADATA_DIR
from envstacks.report import Reporter, Task

#: Download attempts per archive before giving up.
ATTEMPTS = 5
#: Seconds a connection may stay silent.
TIMEOUT = 60.0
#: Largest manifest accepted (it is read into memory; archives never are).
MAX_MANIFEST = 64 << 20
_USER_AGENT = "envstacks-deploy"


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where a manifest was found and where its archives are."""

    #: The manifest's location (a path or URL), for messages.
    manifest_location: str
    #: The manifest's parsed JSON.
    manifest: Any
    #: The publish folder holding the archives (local sources).
    folder: Path | None = None
    #: The base URL the archive names are relative to (remote sources), ending in ``/``.
    base_url: str | None = None


def manifest_names(platform: str | None) -> tuple[str, ...]:
    """Manifest file names to look for, most specific first."""
    tagged = (f"venvstacks-{platform}.json",) if platform else ()
    return (*tagged, "venvstacks.json")


def open_source(source: str | Path, *, platform: str | None, reporter: Reporter) -> Source:
    """Locate and read the manifest of a deploy source.

    Raises:
        DeployError: nothing usable at ``source``.
    """
    text = os.fspath(source)
    scheme = urllib.parse.urlsplit(text).scheme.lower() if isinstance(source, str) else ""
    if scheme == "file":
        text = urllib.request.url2pathname(urllib.parse.urlsplit(text).path)
    elif scheme in ("http", "https"):
        return _open_remote(text, platform=platform, reporter=reporter)
    elif len(scheme) > 1:
        raise DeployError(
            f"deploy source {text!r}: unsupported URL scheme {scheme!r}",
            hint="use a folder, a manifest file, or an http://, https:// or file:// URL",
        )
    return _open_local(Path(text), platform=platform)


def _open_local(path: Path, *, platform: str | None) -> Source:
    if path.is_file():
        manifest_path = path
        folder = path.parent.parent if path.parent.name == METADATA_DIR else path.parent
    elif path.is_dir():
        candidates = [path / METADATA_DIR / name for name in manifest_names(platform)]
        found = next((candidate for candidate in candidates if candidate.is_file()), None)
        if found is None:
            raise DeployError(
                f"deploy source {path}: no manifest found (looked for "
                f"{', '.join(str(c.relative_to(path)) for c in candidates)})",
                hint="point at a publish output folder (`envstacks publish --output-dir`) "
                "or at its manifest file",
            )
        manifest_path, folder = found, path
    else:
        raise DeployError(f"deploy source {path}: no such file or folder")
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DeployError(f"manifest {manifest_path}: cannot be read as JSON ({exc})") from exc
    return Source(manifest_location=str(manifest_path), manifest=data, folder=folder)


def _open_remote(url: str, *, platform: str | None, reporter: Reporter) -> Source:
    if url.endswith(".json"):
        candidates = [url]
        base = urllib.parse.urljoin(url, "../" if f"/{METADATA_DIR}/" in url else "./")
    else:
        base = url if url.endswith("/") else url + "/"
        candidates = [
            urllib.parse.urljoin(base, f"{METADATA_DIR}/{name}")
            for name in manifest_names(platform)
        ]
    tried: list[str] = []
    for candidate in candidates:
        reporter.debug(f"fetching manifest {candidate}")
        try:
            with urllib.request.urlopen(_request(candidate), timeout=TIMEOUT) as response:  # noqa: S310 - http(s) only
                body = response.read(MAX_MANIFEST + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                tried.append(candidate)
                continue
            raise DeployError(f"manifest {candidate}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise DeployError(f"manifest {candidate}: cannot be fetched ({exc})") from exc
        if len(body) > MAX_MANIFEST:
            raise DeployError(f"manifest {candidate}: larger than {MAX_MANIFEST} bytes")
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DeployError(f"manifest {candidate}: not JSON ({exc})") from exc
        return Source(manifest_location=candidate, manifest=data, base_url=base)
    raise DeployError(
        f"deploy source {url}: no manifest found (tried {', '.join(tried)})",
        hint="give the base URL of a publish output folder, or the manifest's own URL",
    )


def _request(url: str, headers: dict[str, str] | None = None) -> urllib.request.Request:
    # Only http(s) URLs get here: file:// sources are turned into paths by open_source.
    return urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})  # noqa: S310


def archive_location(source: Source, archive_name: str) -> str:
    """The path or URL of an archive, for messages."""
    if source.folder is not None:
        return str(source.folder / archive_name)
    assert source.base_url is not None
    return urllib.parse.urljoin(source.base_url, urllib.parse.quote(archive_name, safe="@+"))


def fetch_archive(
    source: Source, archive_name: str, *, size: int, downloads: Path, task: Task
) -> tuple[Path, bool]:
    """A local file holding the archive, and whether it was downloaded (and may be deleted).

    Local archives are used where they are. Remote ones are downloaded into ``downloads``,
    resuming a ``.part`` file left by an earlier attempt.

    Raises:
        DeployError: the archive is missing or could not be downloaded after retries.
    """
    if source.folder is not None:
        path = source.folder / archive_name
        if not path.is_file():
            raise DeployError(
                f"archive {archive_name!r} is listed in {source.manifest_location} "
                f"but missing: {path}",
                hint="publish again into that folder, or copy the archive back",
            )
        task.advance(size)
        return path, False
    url = archive_location(source, archive_name)
    downloads.mkdir(parents=True, exist_ok=True)
    final = downloads / archive_name
    if final.is_file() and final.stat().st_size == size:
        task.advance(size)
        return final, True
    part = downloads / f"{archive_name}.part"
    download(url, part, size=size, task=task)
    part.replace(final)
    return final, True


def download(url: str, part: Path, *, size: int, task: Task, attempts: int = ATTEMPTS) -> None:
    """Download ``url`` into ``part``, resuming what is already there, retrying on failures.

    Raises:
        DeployError: the server refuses the file, or every attempt failed.
    """
    reported = 0

    def progress(done: int) -> None:
        nonlocal reported
        if done > reported:
            task.advance(done - reported)
            reported = done

    last_error: BaseException | None = None
    for attempt in range(attempts):
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if have == size and size > 0:
            return
        try:
            _download_once(url, part, have=have, size=size, progress=progress)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:  # our partial file does not fit the server's: start over
                part.unlink(missing_ok=True)
                last_error = exc
                continue
            if exc.code < 500 and exc.code != 429:
                raise DeployError(f"archive {url}: HTTP {exc.code} {exc.reason}") from exc
            last_error = exc
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last_error = exc
        else:
            if part.stat().st_size == size:
                return
            last_error = DeployError(f"the server sent {part.stat().st_size} of {size} bytes")
        task.note(f"download interrupted ({last_error}); resuming")
        time.sleep(min(8.0, 0.25 * 2**attempt))
    raise DeployError(
        f"archive {url}: download failed after {attempts} attempts ({last_error})",
        hint="check the connection and run deploy again; it resumes the partial download",
    )


def _download_once(
    url: str, part: Path, *, have: int, size: int, progress: Callable[[int], None]
) -> None:
    headers = {"Range": f"bytes={have}-"} if have else {}
    with urllib.request.urlopen(_request(url, headers), timeout=TIMEOUT) as response:  # noqa: S310 - http(s) only
        resumed = have > 0 and response.status == 206
        if resumed and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            resumed = False
        written = have if resumed else 0
        progress(written)
        with part.open("ab" if resumed else "wb") as out:
            while chunk := response.read(CHUNK):
                written += len(chunk)
                if written > size:
                    raise DeployError(
                        f"archive {url}: the server sent more than the {size} bytes recorded"
                    )
                out.write(chunk)
                progress(written)
            out.flush()
            with contextlib.suppress(OSError):
                os.fsync(out.fileno())
