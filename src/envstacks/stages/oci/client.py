"""The registry API a push and a deploy need: blobs (HEAD, upload, download) and manifests.

One :class:`RegistryClient` works on one repository with one scope (``pull``, or
``pull,push``). Every request goes through :meth:`RegistryClient.request`, which answers
``401`` challenges (:mod:`envstacks.stages.oci.auth`), retries ``429`` (after ``Retry-After``),
``5xx`` and dropped connections, and turns any other refusal into an error naming the registry, the
request and the fix. Credentials are scoped as Docker and containerd scope them: they go only to
the registry's own scheme and host (never to an upload ``Location`` elsewhere), a redirect
(registries send blob downloads to object storage) is followed without them and its answer's
challenges are not answered, and the token flow sends them to a realm on another host only
over HTTPS (:mod:`envstacks.stages.oci.auth`). Blob downloads are resumed with ``Range`` and
checked while they stream: never more bytes than expected, and the sha256 of what was received;
a registry that stalls (``ENVSTACKS_HTTP_TIMEOUT``) fails the download at once, naming it.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envstacks.floor import bounded_json
from envstacks.floor.env_settings import HTTP_TIMEOUT_VARIABLE
from envstacks.floor.errors import (
    JSONDocumentError,
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
    VerificationError,
)
from envstacks.published.oci_layout import ACCEPT, MAX_DOCUMENT, digest_of
from envstacks.stages.oci._blobio import Receiver, chunks, upload_body
from envstacks.stages.oci._refusal import refusal
from envstacks.stages.oci.auth import Authenticator
from envstacks.stages.oci.credentials import Credentials, find_credentials
from envstacks.stages.oci.reference import Reference
from envstacks.stages.oci.transport import Transport

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

#: Attempts per request (or per blob upload) before giving up.
ATTEMPTS = 5
#: Answers worth waiting for and asking again.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Longest wait a ``Retry-After`` header may ask for.
MAX_RETRY_AFTER = 60.0
#: Blobs larger than this are uploaded in chunks of this size (``PATCH`` then ``PUT``).
CHUNK_UPLOAD = 64 << 20
#: Redirects followed per request (reads only), as HTTP clients usually do.
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass
class Traffic:
    """What a client moved: blob bytes and counts (read by push results and benchmarks)."""

    uploaded_bytes: int = 0
    uploaded_blobs: int = 0
    downloaded_bytes: int = 0
    downloaded_blobs: int = 0
    #: Blobs the registry mounted from another repository (nothing sent).
    mounted_blobs: int = 0


class RegistryClient:
    """One repository of one registry, for pulling or for pushing."""

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
        """Prepare a client (no request is sent yet).

        Args:
            reference: the repository (its tag or digest is not used here).
            push: ask for ``pull,push`` access instead of ``pull``.
            insecure: allow plain HTTP for a registry not on this machine.
            credentials: what to log in with; by default (``find``) looked up as the Docker
                and Podman tools do (:func:`envstacks.stages.oci.credentials.find_credentials`).
            find: look credentials up when ``credentials`` is ``None``.
            transport: the HTTP transport (default: a new pool).
            chunk_upload: blobs larger than this are uploaded in chunks of this size.
            mount_from: other repositories of the registry that blobs may be mounted from
                (:meth:`mount_blob`); their ``pull`` access is asked for too.
        """
        self.reference = reference
        self.registry = reference.registry
        self.repository = reference.repository
        self.push = push
        self.insecure = insecure
        self.chunk_upload = chunk_upload
        self.scope = f"repository:{reference.repository}:{'pull,push' if push else 'pull'}"
        # A cross-repository mount needs pull access to the repository mounted from.
        self.scope += "".join(f" repository:{name}:pull" for name in mount_from)
        self.transport = transport or Transport()
        creds = credentials
        if creds is None and find:
            creds = find_credentials(reference.registry, reference.repository)
        self.auth = Authenticator(
            reference.registry,
            creds,
            self._fetch_token,
            plain_http_ok=insecure or reference.is_loopback,
            api_host=reference.api_host,
        )
        self.traffic = Traffic()
        self._lock = threading.Lock()
        self._base: str | None = None

    # -- requests ---------------------------------------------------------------------------

    def base_url(self) -> str:
        """``https://host`` (or, on this machine or with ``insecure``, ``http://`` if needed)."""
        with self._lock:
            if self._base is None:
                self._base = self._probe()
            return self._base

    def _probe(self) -> str:
        """Find the scheme the registry answers on; check it speaks the distribution API."""
        host = self.reference.api_host
        plain_ok = self.insecure or self.reference.is_loopback
        schemes = ("https", "http") if plain_ok else ("https",)
        failure: BaseException | None = None
        for scheme in schemes:
            try:
                response = self.transport.send("GET", f"{scheme}://{host}/v2/", headers={})
            except self.transport.errors as exc:
                failure = exc
                continue
            if response.status not in (200, 401) and response.status not in RETRY_STATUSES:
                raise RegistryError(
                    f"{scheme}://{host}/v2/ answered HTTP {response.status}: {self.registry} "
                    "is not an OCI registry (no distribution API there)",
                    hint="check the host name and port of the registry",
                    status=response.status,
                )
            return f"{scheme}://{host}"
        hint = (
            "check the host name and that the registry is running"
            if plain_ok
            else f"if {self.registry} serves plain HTTP (a test registry), pass --insecure"
        )
        raise RegistryError(f"registry {self.registry}: cannot connect ({failure})", hint=hint)

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        ok: tuple[int, ...] = (200,),
        headers: dict[str, str] | None = None,
        body: Callable[[], Any] | None = None,
        stream: bool = False,
        attempts: int = ATTEMPTS,
        not_found: str | None = None,
    ) -> BaseHTTPResponse:
        """Send a request to the registry (``path`` absolute or from ``/v2/``), with auth.

        ``body`` makes the request body (called again for each attempt).

        Raises:
            RegistryAuthError: 401 after answering the challenge, or 403.
            RegistryNotFoundError: 404 (``not_found`` is the hint).
            RegistryError: any other refusal, or every attempt failed.
        """
        base = self.base_url()
        url = path if "://" in path else base + path
        # Credentials go to the registry only (its scheme and host), not to another host an
        # upload Location or a redirect names.
        ours = _origin(url) == _origin(base)
        auth_rounds = attempt = redirects = 0
        while True:
            sent = self.auth.header() if ours else None
            request_headers = dict(headers or {})
            if sent is not None:
                request_headers["Authorization"] = sent
            try:
                response = self.transport.send(
                    method,
                    url,
                    headers=request_headers,
                    body=body() if body is not None else None,
                    stream=stream,
                )
            except self.transport.errors as exc:
                attempt += 1
                if attempt >= attempts:
                    raise RegistryError(
                        f"registry {self.registry}: {what}: no answer after {attempt} "
                        f"attempts ({exc})",
                        hint="check the connection and run the command again",
                    ) from exc
                time.sleep(_backoff(attempt))
                continue
            if response.status in _REDIRECTS and method in ("GET", "HEAD"):
                location = response.headers.get("Location", "")
                _discard(response)
                redirects += 1
                if not location or redirects > MAX_REDIRECTS:
                    raise RegistryError(
                        f"registry {self.registry}: {what}: "
                        + (
                            "a redirect without a Location"
                            if not location
                            else "too many redirects"
                        ),
                        hint="the registry or its storage is misconfigured; tell its operators",
                        status=response.status,
                    )
                # Followed without credentials, whatever the host: like Docker and containerd,
                # a registry's blob storage gets none (CVE-2020-15157).
                url, ours = urllib.parse.urljoin(url, location), False
                continue
            if response.status == 401 and ours and auth_rounds < 2:
                challenge = response.headers.get("WWW-Authenticate", "")
                _discard(response)
                auth_rounds += 1
                self.auth.answer(challenge, scope=self.scope, failed=sent)
                continue
            if response.status in RETRY_STATUSES and attempt + 1 < attempts:
                attempt += 1
                wait = _retry_after(response.headers.get("Retry-After"), attempt)
                _discard(response)
                time.sleep(wait)
                continue
            if response.status in ok:
                return response
            raise refusal(
                response,
                where=f"registry {self.registry}: {what}",
                auth=self.auth,
                action=f"{'push to' if self.push else 'pull from'} {self.repository}",
                not_found=not_found or f"check the repository name {self.repository!r}",
                attempts=attempt + 1,
            )

    def _fetch_token(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        """Ask a token service (the auth flow's transport)."""
        try:
            response = self.transport.send(method, url, headers=headers, body=body)
        except self.transport.errors as exc:
            raise RegistryAuthError(
                f"registry {self.registry}: the token service {url} cannot be reached ({exc})"
            ) from exc
        return response.status, response.data

    def _repo(self, kind: str, name: str = "") -> str:
        return f"/v2/{self.repository}/{kind}/{name}"

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

    def _stalled(self, what: str, path: str) -> RegistryError:
        """The error for an answer that stopped coming: named, with how to wait longer."""
        return RegistryError(
            f"registry {self.registry}: {what}: {path} sent nothing for "
            f"{self.transport.read_timeout:g} seconds (it stalled)",
            hint=f"try again later (a download resumes); {HTTP_TIMEOUT_VARIABLE} sets how "
            "long to wait (seconds)",
        )

    @property
    def location(self) -> str:
        """``registry/repository``, for messages."""
        return f"{self.registry}/{self.repository}"

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


def _discard(response: BaseHTTPResponse) -> None:
    """Read what is left of an answer so that its connection can be reused."""
    try:
        response.drain_conn()
    finally:
        response.release_conn()


def _origin(url: str) -> tuple[str, str]:
    """``(scheme, host:port)`` of a URL, lowercased: where credentials may go."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _retry_after(value: str | None, attempt: int) -> float:
    if value and value.strip().isdigit():
        return min(float(value.strip()), MAX_RETRY_AFTER)
    return _backoff(attempt)


def _backoff(attempt: int) -> float:
    return min(8.0, 0.25 * 2.0 ** (attempt - 1))


def _location(response: BaseHTTPResponse, base: str) -> str:
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(f"registry {base}: an upload answer had no Location header")
    return urllib.parse.urljoin(base + "/", location)


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
