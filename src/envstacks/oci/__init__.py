"""OCI registries as a publish target and a deploy source (``oci://REGISTRY/REPOSITORY:TAG``).

:func:`push_published` pushes a publish folder's layers for one platform into a tag's image
index; :func:`open_oci_source` resolves a tag or digest to this platform's manifest for
``deploy``. The HTTP client needs the ``envstacks[oci]`` extra (urllib3); the modules that
do not send requests (references, credentials, the document shapes) import without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks._lazy import lazy_face

if TYPE_CHECKING:
    from envstacks.oci.client import RegistryClient
    from envstacks.oci.credentials import Credentials, find_credentials
    from envstacks.oci.errors import (
        MissingExtraError,
        ReferenceSyntaxError,
        RegistryAuthError,
        RegistryError,
        RegistryNotFoundError,
    )
    from envstacks.oci.push import PushResult, push_published
    from envstacks.oci.reference import Reference, is_oci, parse_reference
    from envstacks.oci.source import OciSource, open_oci_source

#: Public name -> the submodule that defines it (loaded on first use; see envstacks._lazy).
FACE = {
    "Credentials": "credentials",
    "MissingExtraError": "errors",
    "OciSource": "source",
    "PushResult": "push",
    "Reference": "reference",
    "ReferenceSyntaxError": "errors",
    "RegistryAuthError": "errors",
    "RegistryClient": "client",
    "RegistryError": "errors",
    "RegistryNotFoundError": "errors",
    "find_credentials": "credentials",
    "is_oci": "reference",
    "open_oci_source": "source",
    "parse_reference": "reference",
    "push_published": "push",
}
__all__ = [
    "Credentials",
    "MissingExtraError",
    "OciSource",
    "PushResult",
    "Reference",
    "ReferenceSyntaxError",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryError",
    "RegistryNotFoundError",
    "find_credentials",
    "is_oci",
    "open_oci_source",
    "parse_reference",
    "push_published",
]
__getattr__ = lazy_face(__name__, FACE)
