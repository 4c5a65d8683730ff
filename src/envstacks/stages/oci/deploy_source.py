"""Open ``oci://`` references as deploy sources: the registry client as the format's blob store.

What an artifact holds and how a deploy reads it is the published format's
(:mod:`envstacks.published.registry_source`); this module parses the reference, connects
(credentials, plain HTTP only where allowed) and hands the format a :class:`RegistryClient`.
"""

from __future__ import annotations

from envstacks.floor.report import Reporter
from envstacks.published.registry_source import RegistrySource, open_registry_source
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.reference import parse_reference

__all__ = ["open_oci_source"]


def open_oci_source(
    text: str, *, platform: str | None, reporter: Reporter, insecure: bool = False
) -> RegistrySource:
    """Resolve ``oci://REGISTRY/REPOSITORY[:TAG|@DIGEST]`` for ``platform`` and read its manifest.

    Raises:
        ReferenceSyntaxError: ``text`` is not a registry reference.
        DeployError: nothing published for ``platform``, not an envstacks artifact, or the
            registry's manifest and the venvstacks metadata disagree.
        RegistryError: the registry refused (401/403/404/429...) or cannot be reached.
    """
    ref = parse_reference(text, what="deploy source")
    client = RegistryClient(ref, push=False, insecure=insecure)
    return open_registry_source(
        client,
        ref.manifest_reference,
        where=str(ref),
        pinned=lambda digest: str(ref.with_digest(digest)),
        platform=platform,
        reporter=reporter,
    )
