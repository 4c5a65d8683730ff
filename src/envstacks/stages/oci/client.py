"""The registry API a push and a deploy need: blobs (HEAD, upload, mount, download), manifests.

One :class:`RegistryClient` works on one repository with one scope (``pull``, or
``pull,push``), over a :class:`~envstacks.stages.oci._connection.Connection` (auth, retries,
refusals, credential scoping). Blob downloads are resumed with ``Range`` and checked while they
stream: never more bytes than expected, and the sha256 of what was received; a registry that
stalls (``ENVSTACKS_HTTP_TIMEOUT``) fails the download at once, naming it.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import (
    JSONDocumentError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    VerificationError,
)
from envstacks.published.oci_layout import ACCEPT, MAX_DOCUMENT, digest_of
from envstacks.stages.oci._blobio import Receiver, chunks, upload_body
from envstacks.stages.oci._connection import (
    ATTEMPTS,
    RETRY_STATUSES,
    Connection,
    Traffic,
    _backoff,
    _discard,
    _location,
    _with_query,
)
from envstacks.stages.oci.credentials import Credentials
from envstacks.stages.oci.reference import Reference
from envstacks.stages.oci.transport import Transport

__all__ = ["ATTEMPTS", "CHUNK_UPLOAD", "RegistryClient", "Traffic"]

#: Blobs larger than this are uploaded in chunks of this size (``PATCH`` then ``PUT``).
CHUNK_UPLOAD = 64 << 20


class RegistryClient(Connection):
    """One repository of one registry, for pulling or for pushing: blobs and manifests."""

    def __init__(
        self,
        reference: Reference,
        *,
        push: bool,
        insecure: bool = False,
        credentials: Credentials | None = None,
        find: bool = True,
        transport: Transport | None = None,
        chunk_upload: int = CHUNK_UPLOAD,
        mount_from: tuple[str, ...] = (),
    ) -> None:
        """Prepare a client (no request is sent yet); see :class:`Connection` for the rest.

        Args:
            reference: the repository (its tag or digest is not used here).
            push: ask for ``pull,push`` access instead of ``pull``.
            insecure: allow plain HTTP for a registry not on this machine.
            credentials: what to log in with (default: looked up as Docker and Podman do).
            find: look credentials up when ``credentials`` is ``None``.
            transport: the HTTP transport (default: a new pool).
            chunk_upload: blobs larger than this are uploaded in chunks of this size.
            mount_from: other repositories of the registry that blobs may be mounted from
                (:meth:`mount_blob`); their ``pull`` access is asked for too.
        """
        super().__init__(
            reference,
            push=push,
            insecure=insecure,
            credentials=credentials,
            find=find,
            transport=transport,
            mount_from=mount_from,
        )
        self.chunk_upload = chunk_upload

    # -- blobs -------------------------------------------------------------------------------

    def blob_size(self, digest: str) -> int | None:
        """The size of a blob the repository has, or ``None`` when it has none."""
        try:
            response = self.request(
                "HEAD", self._repo("blobs", digest), what=f"check blob {digest}"
            )
        except RegistryNotFoundError:
            return None
        length = response.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else 0

    def upload_blob(
        self, source: Path | bytes, digest: str, size: int, progress: Callable[[int], None]
    ) -> None:
        """Upload a blob (a file or bytes) in one ``PUT``, or in chunks when it is large.

        The registry checks ``digest`` against what it received. A failed upload is started
        again from the beginning, up to :data:`ATTEMPTS` times.
        """
        for attempt in range(1, ATTEMPTS + 1):
            try:
                self._upload_once(source, digest, size, progress)
            except RegistryError as exc:
                if exc.status is not None and exc.status not in RETRY_STATUSES:
                    raise
                if attempt == ATTEMPTS:
                    raise
                time.sleep(_backoff(attempt))
                continue
            with self._lock:
                self.traffic.uploaded_bytes += size
                self.traffic.uploaded_blobs += 1
            return

    def _upload_once(
        self, source: Path | bytes, digest: str, size: int, progress: Callable[[int], None]
    ) -> None:
        started = self.request(
            "POST",
            self._repo("blobs", "uploads/"),
            what=f"start the upload of {digest}",
            ok=(202,),
            headers={"Content-Length": "0"},
            attempts=1,
        )
        location = _location(started, self.base_url())
        if size > self.chunk_upload:
            for offset, chunk in chunks(source, size, self.chunk_upload):
                patched = self.request(
                    "PATCH",
                    location,
                    what=f"upload bytes {offset}-{offset + len(chunk) - 1} of {digest}",
                    ok=(202,),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                        "Content-Length": str(len(chunk)),
                    },
                    body=lambda chunk=chunk: chunk,  # type: ignore[misc]
                    attempts=1,
                )
                location = _location(patched, self.base_url())
                progress(offset + len(chunk))
            body: Callable[[], Any] | None = None
            length = 0
        else:
            body, length = upload_body(source, progress), size
        self.request(
            "PUT",
            _with_query(location, digest=digest),
            what=f"upload blob {digest}",
            ok=(201, 204),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(length)},
            body=body,
            attempts=1,
        )

    def mount_blob(self, digest: str, source_repository: str) -> bool:
        """Mount a blob another repository of the registry holds; whether it was mounted.

        ``POST .../blobs/uploads/?mount=DIGEST&from=REPOSITORY``: the registry answers ``201``
        when it mounted the blob (nothing is sent), ``202`` when it started an upload instead
        (the source does not hold it, or the registry does not mount): that upload is
        cancelled and the caller uploads the blob as usual. Refusals (the source repository
        unknown or not readable) count as "not mounted".
        """
        query = urllib.parse.urlencode({"mount": digest, "from": source_repository})
        try:
            response = self.request(
                "POST",
                f"{self._repo('blobs', 'uploads/')}?{query}",
                what=f"mount blob {digest} from {source_repository}",
                ok=(201, 202),
                headers={"Content-Length": "0"},
            )
        except (RegistryAuthError, RegistryNotFoundError):
            return False
        _discard(response)
        if response.status == 201:
            with self._lock:
                self.traffic.mounted_blobs += 1
            return True
        location = response.headers.get("Location")
        if location:
            # A session left open expires on its own; cancelling it is a courtesy.
            with contextlib.suppress(RegistryError):
                _discard(
                    self.request(
                        "DELETE",
                        urllib.parse.urljoin(self.base_url() + "/", location),
                        what=f"cancel the upload the mount of {digest} started",
                        ok=(200, 202, 204, 404),
                        attempts=1,
                    )
                )
        return False

    def get_blob(self, digest: str, size: int, *, what: str) -> bytes:
        """A small blob (a config) read into memory, checked against ``digest`` and ``size``."""
        path = self._repo("blobs", digest)
        response = self.request("GET", path, what=what, stream=True)
        try:
            data = response.read(size + 1)
        except self.transport.stalled as exc:
            raise self._stalled(what, path) from exc
        except self.transport.errors as exc:
            raise RegistryError(
                f"registry {self.registry}: {what}: the transfer failed ({exc})",
                hint="check the connection and try again",
            ) from exc
        finally:
            response.release_conn()
        if len(data) != size or digest_of(data) != digest:
            raise VerificationError(
                f"registry {self.registry}: {what}: received {len(data)} bytes with digest "
                f"{digest_of(data)}, expected {size} bytes with {digest}",
                hint="the registry's copy is damaged; push the stack again",
            )
        return data

    def download_blob(
        self, digest: str, size: int, part: Path, *, what: str, progress: Callable[[int], None]
    ) -> None:
        """Download a blob into ``part`` (resuming what is there), checking size and sha256.

        Raises:
            VerificationError: the registry sent more bytes than ``size``, or other content.
            RegistryError: the registry refused, or every attempt failed.
        """
        for attempt in range(1, ATTEMPTS + 1):
            receiver = Receiver(part, size, f"registry {self.registry}: {what}", progress)
            if receiver.have == size:
                break
            have = receiver.have
            response = self.request(
                "GET",
                self._repo("blobs", digest),
                what=what,
                ok=(200, 206),
                headers={"Range": f"bytes={have}-"} if have else {},
                stream=True,
            )
            content_range = response.headers.get("Content-Range", "")
            if not (response.status == 206 and content_range.startswith(f"bytes {have}-")):
                receiver.restart()
            try:
                received = receiver.receive(response)
            except self.transport.stalled as exc:  # waited long enough already: say so now
                raise self._stalled(what, self._repo("blobs", digest)) from exc
            except self.transport.errors:
                if attempt == ATTEMPTS:
                    raise RegistryError(
                        f"registry {self.registry}: {what}: the transfer failed {ATTEMPTS} times",
                        hint="check the connection and deploy again; it resumes the download",
                    ) from None
                time.sleep(_backoff(attempt))
                continue
            finally:
                response.release_conn()
            with self._lock:
                self.traffic.downloaded_bytes += received
                self.traffic.downloaded_blobs += receiver.have == size
            if receiver.have == size:
                break
        else:
            raise RegistryError(
                f"registry {self.registry}: {what}: the transfer ended early {ATTEMPTS} times",
                hint="check the connection and deploy again; it resumes the download",
            )
        receiver.check(digest)

    # -- manifests ---------------------------------------------------------------------------

    def get_manifest(self, reference: str, *, what: str) -> tuple[bytes, str, str]:
        """A manifest or index: ``(bytes, media type, digest)``; checked when asked by digest.

        Raises:
            RegistryNotFoundError: no such tag or digest in the repository.
        """
        data, media_type, digest, _etag = self.read_manifest(reference, what=what)
        return data, media_type, digest

    def read_manifest(self, reference: str, *, what: str) -> tuple[bytes, str, str, str | None]:
        """:meth:`get_manifest`, and the ``ETag`` the registry sent (for a conditional write).

        Raises:
            RegistryNotFoundError: no such tag or digest in the repository.
        """
        response = self.request(
            "GET",
            self._repo("manifests", reference),
            what=what,
            headers={"Accept": ACCEPT},
            stream=True,
            not_found=f"nothing is published as {self.reference}; check the tag, or push "
            "it with `envstacks publish --to`",
        )
        try:
            data = response.read(MAX_DOCUMENT + 1)
        finally:
            response.release_conn()
        if len(data) > MAX_DOCUMENT:
            raise RegistryError(
                f"registry {self.registry}: {what}: larger than {MAX_DOCUMENT} bytes"
            )
        digest = digest_of(data)
        if reference.startswith("sha256:") and digest != reference:
            raise VerificationError(
                f"registry {self.registry}: {what}: the content's digest is {digest}, "
                f"not the {reference} asked for",
                hint="the registry's copy was modified or damaged; do not deploy it",
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            document = bounded_json.loads(data, where=what, max_bytes=MAX_DOCUMENT)
        except JSONDocumentError:
            document = None
        declared = document.get("mediaType") if isinstance(document, dict) else None
        kind = declared if isinstance(declared, str) else media_type
        return data, kind, digest, response.headers.get("ETag")

    def put_manifest(
        self,
        reference: str,
        data: bytes,
        media_type: str,
        *,
        what: str,
        preconditions: dict[str, str] | None = None,
    ) -> str:
        """Store a manifest or index under a tag or its digest; return its digest.

        ``preconditions`` are conditional request headers (``If-Match``, ``If-None-Match``):
        a registry that honours them answers ``412`` when the tag changed, raised as a
        :class:`RegistryError` whose ``status`` is 412; one that does not ignores them.
        """
        self.request(
            "PUT",
            self._repo("manifests", reference),
            what=what,
            ok=(201, 200, 204),
            headers={
                "Content-Type": media_type,
                "Content-Length": str(len(data)),
                **(preconditions or {}),
            },
            body=lambda: data,
        )
        return digest_of(data)
