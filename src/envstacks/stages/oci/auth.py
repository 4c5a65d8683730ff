"""Answer a registry's ``401 WWW-Authenticate`` challenge: Basic, or the Bearer token flow.

The Bearer flow is the distribution token specification's (what GHCR, Docker Hub, ECR,
Harbor and Artifact Registry use): ask the challenge's ``realm`` for a token for the
challenge's ``service`` and ``scope``, with Basic credentials (or, for an identity token, a
``refresh_token`` grant), anonymously when there are none. Tokens are kept per scope.
"""

from __future__ import annotations

import base64
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import RegistryAuthError
from envstacks.stages.oci.credentials import PASSWORD_VAR, USERNAME_VAR, Credentials

_PARAM = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
#: Largest token response read.
_MAX_TOKEN_RESPONSE = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: its scheme and parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header (``None`` when there is none)."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        params[match.group(1).lower()] = value
        position = match.end()
    return Challenge(scheme=scheme.lower(), params=params)


#: Sends a token request: ``(method, url, headers, body) -> (status, body bytes)``.
TokenFetcher = Callable[[str, str, dict[str, str], bytes | None], tuple[int, bytes]]


class Authenticator:
    """The ``Authorization`` header for a registry, obtained from its challenges.

    Thread-safe: parallel blob transfers share one authenticator.
    """

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None,
        fetch: TokenFetcher,
        *,
        plain_http_ok: bool = False,
        api_host: str | None = None,
    ) -> None:
        self.registry = registry
        #: The host (and port) the registry answers on: a realm elsewhere is another host.
        self.api_host = (api_host or registry).lower()
        #: Whether credentials may go to a plain-HTTP token service (a local or --insecure one).
        self.plain_http_ok = plain_http_ok
        self.credentials = credentials
        self._fetch = fetch
        self._lock = threading.Lock()
        self._header: str | None = _static_header(credentials)

    def header(self) -> str | None:
        """The current ``Authorization`` value (``None``: anonymous so far)."""
        with self._lock:
            return self._header

    def answer(self, www_authenticate: str, *, scope: str, failed: str | None) -> str:
        """Obtain a new ``Authorization`` value for a challenge; ``failed`` is the one refused.

        Raises:
            RegistryAuthError: no way to answer the challenge, or the token service refused.
        """
        challenge = parse_challenge(www_authenticate)
        with self._lock:
            if self._header is not None and self._header != failed:
                return self._header  # another thread already answered it
            if challenge is None or challenge.scheme not in ("basic", "bearer"):
                raise self.refused(f"an unsupported challenge {www_authenticate!r}")
            if failed is not None and (
                challenge.scheme == "basic" or failed.startswith("Basic") or self._is_static(failed)
            ):
                raise self.refused("HTTP 401 for the credentials given")
            if challenge.scheme == "basic":
                self._header = self._basic_header(challenge)
            else:
                self._header = self._token(challenge, scope)
            return self._header

    def refused(self, what: str) -> RegistryAuthError:
        """The error for credentials refused (or missing), naming where they came from."""
        if self.credentials is None:
            return RegistryAuthError(
                f"registry {self.registry} wants credentials ({what}) and none were found",
                hint=f"log in with `docker login {self.registry}` or `podman login "
                f"{self.registry}`, or set ${USERNAME_VAR} and ${PASSWORD_VAR}",
                status=401,
            )
        return RegistryAuthError(
            f"registry {self.registry} refused the credentials from "
            f"{self.credentials.source} ({what})",
            hint=f"check them, or log in again with `docker login {self.registry}`",
            status=401,
        )

    def _is_static(self, header: str) -> bool:
        return header == _static_header(self.credentials)

    def _basic_header(self, challenge: Challenge) -> str:
        basic = self.credentials.basic if self.credentials is not None else None
        if basic is None:
            raise self.refused(f"Basic realm {challenge.params.get('realm', '')!r}")
        return _basic(*basic)

    def _token(self, challenge: Challenge, scope: str) -> str:
        """Run the token flow for ``scope`` (or the challenge's own scope, when it names one)."""
        realm = challenge.params.get("realm")
        if not realm or urllib.parse.urlsplit(realm).scheme not in ("http", "https"):
            raise self.refused(f"a Bearer challenge without a usable realm ({realm!r})")
        parts = urllib.parse.urlsplit(realm)
        plain = parts.scheme == "http"
        # Credentials go to a token service over HTTPS; over plain HTTP only to the registry's
        # own host, and only when that registry may be plain (on this machine, or --insecure).
        if plain and self.credentials is not None:
            if parts.netloc.lower() != self.api_host:
                raise RegistryAuthError(
                    f"registry {self.registry}: its token service {realm} is plain HTTP on "
                    f"another host; the credentials from {self.credentials.source} are not "
                    "sent there",
                    hint="a registry's token service on another host must use HTTPS; tell "
                    "the registry's operators",
                )
            if not self.plain_http_ok:
                raise RegistryAuthError(
                    f"registry {self.registry}: its token service {realm} is plain HTTP; "
                    f"the credentials from {self.credentials.source} are not sent there",
                    hint="pass --insecure only if this registry is meant to be used without TLS",
                )
        query: list[tuple[str, str]] = []
        if "service" in challenge.params:
            query.append(("service", challenge.params["service"]))
        wanted = challenge.params.get("scope") or scope
        query.extend(("scope", item) for item in wanted.split(" ") if item)
        creds = self.credentials
        headers = {"Accept": "application/json"}
        body: bytes | None = None
        if creds is not None and creds.identity_token is not None:
            form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", creds.identity_token),
                ("client_id", "envstacks"),
                *query,
            ]
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            status, data = self._fetch("POST", realm, headers, body)
        else:
            if creds is not None and creds.basic is not None:
                headers["Authorization"] = _basic(*creds.basic)
            separator = "&" if "?" in realm else "?"
            url = realm + (separator + urllib.parse.urlencode(query) if query else "")
            status, data = self._fetch("GET", url, headers, None)
        if status in (401, 403):
            raise self.refused(f"the token service {realm} answered HTTP {status}")
        if status != 200:
            raise RegistryAuthError(
                f"registry {self.registry}: the token service {realm} answered HTTP {status}",
                hint="try again later; the registry's token service may be down",
                status=status,
            )
        return f"Bearer {_token_from(data, realm)}"


def _token_from(data: bytes, realm: str) -> str:
    answer: Any = bounded_json.loads(
        data,
        where=f"the token service {realm}'s answer",
        max_bytes=_MAX_TOKEN_RESPONSE,
        error=RegistryAuthError,
        hint="the token service is not a registry's; check the registry's address",
    )
    token = answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise RegistryAuthError(f"the token service {realm} answered without a token")
    return token


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _static_header(credentials: Credentials | None) -> str | None:
    """The header sent from the first request on: only for a registry token given as is."""
    if credentials is not None and credentials.registry_token is not None:
        return f"Bearer {credentials.registry_token}"
    return None
