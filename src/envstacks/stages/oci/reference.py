"""Parse ``oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`` references and tell how to reach them.

The grammar is the distribution project's (the one ``docker``, ``podman`` and ``oras`` accept),
with the registry always named: ``oci://ghcr.io/acme/stack:1.0``,
``oci://localhost:5000/stack@sha256:...``. Docker Hub's names (``docker.io``) are reached at
``registry-1.docker.io``, as the Docker client does.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from envstacks.floor.errors import ReferenceSyntaxError

SCHEME = "oci://"
#: The tag used when a reference names neither a tag nor a digest (as ``docker pull``).
DEFAULT_TAG = "latest"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
#: Docker Hub: the names users write and the host its API answers on.
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")
_DOCKER_HUB_API = "registry-1.docker.io"
_EXAMPLE = "oci://ghcr.io/OWNER/STACK:TAG"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A repository in a registry, and a tag or digest in it."""

    #: ``host[:port]`` as the user wrote it (lower case).
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        tail = f":{self.tag}" if self.tag else ""
        tail += f"@{self.digest}" if self.digest else ""
        return f"{SCHEME}{self.registry}/{self.repository}{tail}"

    @property
    def api_host(self) -> str:
        """The host (and port) the registry API answers on."""
        return _DOCKER_HUB_API if self.registry in _DOCKER_HUB else self.registry

    @property
    def manifest_reference(self) -> str:
        """What to ask the manifest endpoint for: the digest if given, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def is_loopback(self) -> bool:
        """Whether the registry is on this machine (``localhost``, ``127.0.0.0/8``, ``[::1]``)."""
        if self.registry.startswith("["):
            host = self.registry[1:].partition("]")[0]
        else:
            host = self.registry.partition(":")[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to ``digest`` (the tag kept for messages)."""
        return Reference(
            registry=self.registry, repository=self.repository, tag=self.tag, digest=digest
        )


def is_oci(source: object) -> bool:
    """Whether ``source`` (a deploy source or publish target) is an ``oci://`` reference."""
    return isinstance(source, str) and source[: len(SCHEME)].lower() == SCHEME


def parse_reference(text: str, *, what: str = "registry reference") -> Reference:
    """Parse ``oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]``.

    Raises:
        ReferenceSyntaxError: naming the bad part and showing the expected shape.
    """
    if not is_oci(text):
        raise ReferenceSyntaxError(
            f"{what} {text!r}: does not start with {SCHEME}", hint=f"write it like {_EXAMPLE}"
        )
    rest = text[len(SCHEME) :]
    rest, _, digest = rest.partition("@")
    registry, slash, path = rest.partition("/")
    if not slash or not path:
        raise ReferenceSyntaxError(
            f"{what} {text!r}: names no repository after the registry",
            hint=f"write it like {_EXAMPLE}",
        )
    if not _HOST.fullmatch(registry) or not (
        "." in registry or ":" in registry or registry == "localhost"
    ):
        raise ReferenceSyntaxError(
            f"{what} {text!r}: {registry!r} is not a registry host",
            hint=f"name the registry first, like {_EXAMPLE} or oci://localhost:5000/STACK:TAG",
        )
    repository, colon, tag = path.rpartition(":") if ":" in path else (path, "", "")
    if colon and not _TAG.fullmatch(tag):
        raise ReferenceSyntaxError(
            f"{what} {text!r}: tag {tag!r} is not valid",
            hint="a tag has at most 128 letters, digits, '_', '.' and '-', "
            "and does not start with '.' or '-'",
        )
    if not _REPOSITORY.fullmatch(repository) and _REPOSITORY.fullmatch(repository.lower()):
        lowered = f"{SCHEME}{registry}/{repository.lower()}{colon}{tag}"
        raise ReferenceSyntaxError(
            f"{what} {text!r}: repository {repository!r} has upper-case letters, which OCI "
            "repository names may not have (the distribution spec allows only lower case)",
            hint=f"use the lower-case name: {lowered}{'@' + digest if digest else ''}",
        )
    if not _REPOSITORY.fullmatch(repository):
        raise ReferenceSyntaxError(
            f"{what} {text!r}: repository {repository!r} is not valid",
            hint="a repository is lower-case letters, digits and single '.', '_' or '-' "
            "separators, in '/'-separated parts",
        )
    if digest and not _DIGEST.fullmatch(digest):
        raise ReferenceSyntaxError(
            f"{what} {text!r}: digest {digest!r} is not 'sha256:' and 64 lower-case hex digits"
        )
    return Reference(
        registry=registry.lower(),
        repository=repository,
        tag=tag or None,
        digest=digest or None,
    )
