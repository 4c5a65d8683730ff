"""Where a deploy's manifest and archives come from: a publish folder, a manifest file, a URL.

:func:`open_source` turns what the user named into a :class:`Source`: the manifest (parsed
JSON, and where it was found, for messages) and a way to get each archive as a local file.
A publish folder or manifest file (also as a ``file://`` URL) is read where it is; an
``http(s)://`` base URL is downloaded from (:mod:`envstacks.published.http_download`). Another kind
of source is one more subclass of :class:`Source`.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from envstacks.floor import bounded_json
from envstacks.floor.errors import DeployError
from envstacks.floor.report import Reporter, Task
from envstacks.published.http_download import download, get_document
from envstacks.published.manifest import is_export_manifest, is_plain_name
from envstacks.published.publish_folder import METADATA_DIR, SNIPPET_DIR, manifest_names

#: Largest manifest accepted (it is read into memory; archives never are).
MAX_MANIFEST = 64 << 20
#: Largest file of a source's metadata folder read into memory (a file index, say).
MAX_METADATA_FILE = 256 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedArchive:
    """An archive as a local file."""

    path: Path
    #: Downloaded into the deployment folder (so removed once used); False: read where it is.
    downloaded: bool
    #: The sha256 the source computed while fetching (``None``: not computed; deploy hashes
    #: the archive while unpacking it).
    sha256: str | None = None
    #: Where a download goes once its sha256 matches the manifest (``None``: it is there).
    final: Path | None = None

    def release(self) -> None:
        """Remove a downloaded copy (a source's own file stays)."""
        if self.downloaded:
            self.path.unlink(missing_ok=True)

    def accepted(self) -> FetchedArchive:
        """The archive under its final name (a download whose hash matched the manifest)."""
        if self.final is None:
            return self
        self.path.replace(self.final)
        return dataclasses.replace(self, path=self.final, final=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source(abc.ABC):
    """A manifest and the archives it lists."""

    #: Where the manifest was found (a path or URL), for messages.
    manifest_location: str
    #: The manifest's parsed JSON (not yet checked).
    manifest: Any
    #: Whether its archives are files on this machine, read where they are (nothing to fetch).
    local: ClassVar[bool] = False

    @abc.abstractmethod
    def archive_location(self, archive_name: str) -> str:
        """The path or URL of an archive, for messages."""

    def holds(self, archive_name: str) -> bool:
        """Whether the source can have the archive (a registry only has the blobs it lists)."""
        del archive_name
        return True

    def read_metadata_file(self, name: str) -> bytes | None:
        """A file of the source's ``__venvstacks__/env_metadata/``; ``None`` if it has none.

        Raises:
            DeployError: ``name`` is not a plain file name, or the source failed.
        """
        if not is_plain_name(name):
            raise DeployError(f"{self.manifest_location}: {name!r} is not a plain file name")
        return self._metadata_file(name)

    def _metadata_file(self, name: str) -> bytes | None:
        """:meth:`read_metadata_file` for a checked name (this kind of source has none)."""
        del name
        return None

    @abc.abstractmethod
    def fetch(self, archive_name: str, *, size: int, downloads: Path, task: Task) -> FetchedArchive:
        """A local file holding the archive; downloads go into ``downloads``.

        ``task`` advances by the bytes of the archive that are available locally.

        Raises:
            DeployError: the archive is missing or could not be downloaded.
        """


@dataclass(frozen=True, slots=True, kw_only=True)
class FolderSource(Source):
    """A publish folder on this machine: archives are read where they are."""

    local: ClassVar[bool] = True
    folder: Path

    def archive_location(self, archive_name: str) -> str:
        """The archive's path."""
        return str(self.folder / archive_name)

    def fetch(self, archive_name: str, *, size: int, downloads: Path, task: Task) -> FetchedArchive:
        """The archive in the folder (never copied)."""
        path = self.folder / archive_name
        if not path.is_file():
            raise DeployError(
                f"archive {archive_name!r} is listed in {self.manifest_location} "
                f"but missing: {path}",
                hint="publish again into that folder, or copy the archive back",
            )
        task.advance(size)
        return FetchedArchive(path=path, downloaded=False)

    def _metadata_file(self, name: str) -> bytes | None:
        """The file in the folder's ``__venvstacks__/env_metadata/``."""
        path = self.folder / METADATA_DIR / SNIPPET_DIR / name
        if not path.is_file() or path.stat().st_size > MAX_METADATA_FILE:
            return None
        return path.read_bytes()


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSource(Source):
    """A publish folder behind an http(s) base URL: archives are downloaded, resumably."""

    #: The URL the archive names are relative to, ending in ``/``.
    base_url: str

    def archive_location(self, archive_name: str) -> str:
        """The archive's URL."""
        return urllib.parse.urljoin(self.base_url, urllib.parse.quote(archive_name, safe="@+"))

    def fetch(self, archive_name: str, *, size: int, downloads: Path, task: Task) -> FetchedArchive:
        """Download the archive into ``downloads``, resuming a ``.part`` file left there.

        The download is hashed as it streams and stays a ``.part`` file: deploy gives it its
        final name only once the hash matches the manifest (:meth:`FetchedArchive.accepted`),
        so a file under an archive's name there was verified when it was downloaded.
        """
        downloads.mkdir(parents=True, exist_ok=True)
        final = downloads / archive_name
        if final.is_file() and final.stat().st_size == size:
            task.advance(size)
            return FetchedArchive(path=final, downloaded=True)
        part = downloads / f"{archive_name}.part"
        digest = download(self.archive_location(archive_name), part, size=size, task=task)
        return FetchedArchive(path=part, downloaded=True, sha256=digest, final=final)

    def _metadata_file(self, name: str) -> bytes | None:
        """The file under the base URL's ``__venvstacks__/env_metadata/``."""
        relative = f"{METADATA_DIR}/{SNIPPET_DIR}/{urllib.parse.quote(name, safe='@+')}"
        url = urllib.parse.urljoin(self.base_url, relative)
        return get_document(url, limit=MAX_METADATA_FILE, what="file index")


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
    elif scheme == "oci":
        raise DeployError(
            f"deploy source {text!r}: a registry reference is resolved by the deploy command",
            hint="from Python, call envstacks.orchestrator.distribution.deploy(), which opens "
            "registry references too",
        )
    elif len(scheme) > 1:
        raise DeployError(
            f"deploy source {text!r}: unsupported URL scheme {scheme!r}",
            hint="use a folder, a manifest file, an http://, https:// or file:// URL, "
            "or an oci:// registry reference",
        )
    return _open_local(Path(text), platform=platform)


def _open_local(path: Path, *, platform: str | None) -> FolderSource:
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
    data = bounded_json.read_file(
        manifest_path, where=f"manifest {manifest_path}", max_bytes=MAX_MANIFEST, error=DeployError
    )
    if is_export_manifest(data):
        raise DeployError(
            f"deploy source {path} is a local export (made by `envstacks local-export`), not a "
            f"publish output: its layers are already unpacked and ready to run in {folder}, "
            "and it holds no archives to deploy",
            hint="to install the layers in another folder, publish them (`envstacks publish "
            "--output-dir DIR`) and deploy that folder; to move an export instead, move the "
            "folder and rerun each layer's postinstall.py, runtime first",
        )
    return FolderSource(manifest_location=str(manifest_path), manifest=data, folder=folder)


def _open_remote(url: str, *, platform: str | None, reporter: Reporter) -> HttpSource:
    if url.endswith(".json"):
        candidates = [url]
        base = urllib.parse.urljoin(url, "../" if f"/{METADATA_DIR}/" in url else "./")
    else:
        base = url if url.endswith("/") else url + "/"
        candidates = [
            urllib.parse.urljoin(base, f"{METADATA_DIR}/{name}")
            for name in manifest_names(platform)
        ]
    for candidate in candidates:
        reporter.debug(f"fetching manifest {candidate}")
        body = get_document(candidate, limit=MAX_MANIFEST, what="manifest")
        if body is None:
            continue
        data = bounded_json.loads(
            body, where=f"manifest {candidate}", max_bytes=MAX_MANIFEST, error=DeployError
        )
        return HttpSource(manifest_location=candidate, manifest=data, base_url=base)
    raise DeployError(
        f"deploy source {url}: no manifest found (tried {', '.join(candidates)})",
        hint="give the base URL of a publish output folder, or the manifest's own URL",
    )
