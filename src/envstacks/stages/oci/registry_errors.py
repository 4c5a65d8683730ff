"""The errors of registry work: a malformed reference, a refused or failed request."""

from __future__ import annotations

from envstacks.floor.errors import EnvStacksError


class ReferenceSyntaxError(EnvStacksError, ValueError):
    """An ``oci://`` reference is malformed."""


class RegistryError(EnvStacksError, RuntimeError):
    """A registry refused or failed a request (the message names the registry and the request)."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        #: The HTTP status the registry answered with (``None``: no answer).
        self.status = status


class RegistryAuthError(RegistryError):
    """The registry wants credentials, or refused the ones given (HTTP 401 or 403)."""


class RegistryNotFoundError(RegistryError):
    """The repository, tag, manifest or blob does not exist (HTTP 404)."""


class MissingExtraError(EnvStacksError, RuntimeError):
    """Registry support needs the ``envstacks[oci]`` extra, which is not installed."""
