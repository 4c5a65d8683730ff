"""The connection to one repository of a registry: every request, its auth, retries and refusals.

Every request goes through :meth:`Connection.request`, which answers ``401`` challenges
(:mod:`envstacks.stages.oci.auth`), retries ``429`` (after ``Retry-After``), ``5xx`` and
dropped connections, and turns any other refusal into an error naming the registry, the
request and the fix. Credentials are scoped as Docker and containerd scope them: they go only
to the registry's own scheme and host (never to an upload ``Location`` elsewhere), a redirect
(registries send blob downloads to object storage) is followed without them and its answer's
challenges are not answered, and the token flow sends them to a realm on another host only
over HTTPS. The registry API on top of it is :class:`envstacks.stages.oci.client.RegistryClient`.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envstacks.floor.env_settings import HTTP_TIMEOUT_VARIABLE
from envstacks.floor.errors import (
    RegistryAuthError,
    RegistryError,
)
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


class Connection:
    """One repository of one registry, for pulling or for pushing: the requests."""

    def __init__(
        self,
        reference: Reference,
        *,
        push: bool,
        insecure: bool = False,
        credentials: Credentials | None = None,
        find: bool = True,
        transport: Transport | None = None,
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
            mount_from: other repositories of the registry that blobs may be mounted from
                (:meth:`mount_blob`); their ``pull`` access is asked for too.
        """
        self.reference = reference
        self.registry = reference.registry
        self.repository = reference.repository
        self.push = push
        self.insecure = insecure
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
        raise self._unreachable(failure, plain_ok=plain_ok)

    def _unreachable(self, failure: BaseException | None, *, plain_ok: bool) -> RegistryError:
        """The error for a registry that did not answer, with the hint its cause calls for."""
        reason = getattr(failure, "reason", None) or failure
        if isinstance(reason, self.transport.unresolved):
            return RegistryError(
                f"registry {self.registry}: its host name does not resolve ({failure})",
                hint="check the registry's host name for a typo, and this machine's network "
                "and DNS",
            )
        if isinstance(reason, self.transport.tls_failed) and not plain_ok:
            hint = f"if {self.registry} serves plain HTTP (a test registry), pass --insecure"
        else:
            hint = (
                "check the host name and port, that the registry is running, and that this "
                "machine can reach it (network, proxy, firewall)"
            )
        return RegistryError(f"registry {self.registry}: cannot connect ({failure})", hint=hint)

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
