"""Turn a registry's refusal (401, 403, 404, 429, 400/415 for artifacts...) into an error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks.floor import bounded_json
from envstacks.floor.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFoundError,
)
from envstacks.stages.oci.auth import Authenticator

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

_UNSUPPORTED = frozenset(
    {"MANIFEST_INVALID", "UNSUPPORTED", "BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"}
)
_NO_ARTIFACTS_HINT = (
    "use a registry that stores OCI artifacts: distribution 2.7 or later, GHCR, Docker Hub, "
    "ECR, Azure Container Registry, Artifact Registry, Harbor 2, Quay 3.10 or later"
)


def refusal(
    response: BaseHTTPResponse,
    *,
    where: str,
    auth: Authenticator,
    action: str,
    not_found: str,
    attempts: int,
) -> RegistryError:
    """The error for a refused request, with the registry's own error codes and messages.

    ``where`` names the registry and the request, ``action`` what the credentials were used
    for ("push to team/stack"), ``not_found`` is the hint for a 404.
    """
    status = response.status
    codes, detail = _registry_errors(response)
    if status == 401:
        return auth.refused(f"HTTP 401 for {where.split(': ', 1)[-1]}{detail}")
    if status == 403:
        source = auth.credentials.source if auth.credentials else "no credentials"
        return RegistryAuthError(
            f"{where}: denied (HTTP 403{detail})",
            hint=f"the credentials ({source}) may not {action}; ask for access or use a "
            "token with that permission (GHCR: write:packages)",
            status=403,
        )
    if status == 404:
        return RegistryNotFoundError(
            f"{where}: not found (HTTP 404{detail})", hint=not_found, status=404
        )
    if status == 429:
        return RegistryError(
            f"{where}: too many requests (HTTP 429{detail}); gave up after {attempts} attempts",
            hint="wait and run the command again; logged-in users get higher limits",
            status=429,
        )
    if status in (400, 415) and (status == 415 or codes & _UNSUPPORTED):
        return RegistryError(
            f"{where}: the registry refused an OCI artifact (HTTP {status}{detail})",
            hint=_NO_ARTIFACTS_HINT,
            status=status,
        )
    return RegistryError(f"{where}: HTTP {status}{detail}", status=status)


def _registry_errors(response: BaseHTTPResponse) -> tuple[set[str], str]:
    """The error codes of a refusal's body and a ``: CODE: message`` text for messages."""
    try:
        body = response.read(1 << 16) if not response.data else response.data
        errors = bounded_json.loads(body, where="refusal", max_bytes=1 << 16).get("errors", [])
    except (ValueError, AttributeError, OSError):
        return set(), ""
    codes = {str(e.get("code")) for e in errors if isinstance(e, dict)}
    parts = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
    return codes, f"; {'; '.join(parts)}" if parts else ""
