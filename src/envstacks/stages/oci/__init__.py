"""OCI registries as a publish target and a deploy source (``oci://REGISTRY/REPOSITORY:TAG``).

:func:`push_publish_folder` pushes a publish folder's platforms (archives, deltas, file indexes)
into a tag's image index; :func:`open_oci_source` resolves a tag or digest to this
platform's manifest for ``deploy``. The HTTP client needs the ``envstacks[oci]`` extra
(urllib3); the modules that do not send requests (references, credentials, the document
shapes) import without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks.floor.lazy_face import lazy_face

if TYPE_CHECKING:
    from envstacks.stages.oci.client import RegistryClient
    from envstacks.stages.oci.credentials import Credentials, find_credentials
    from envstacks.stages.oci.deploy_source import open_oci_source
    from envstacks.stages.oci.push_folder import (
        PushedBlob,
        PushOptions,
        PushResult,
        push_publish_folder,
    )
    from envstacks.stages.oci.reference import Reference, is_oci, parse_reference

#: Public name -> the submodule that defines it (loaded on first use; see
#: envstacks.floor.lazy_face).
FACE = {
    "Credentials": "credentials",
    "PushOptions": "push_folder",
    "PushResult": "push_folder",
    "PushedBlob": "push_folder",
    "Reference": "reference",
    "RegistryClient": "client",
    "find_credentials": "credentials",
    "is_oci": "reference",
    "open_oci_source": "deploy_source",
    "parse_reference": "reference",
    "push_publish_folder": "push_folder",
}
__all__ = [
    "Credentials",
    "PushOptions",
    "PushResult",
    "PushedBlob",
    "Reference",
    "RegistryClient",
    "find_credentials",
    "is_oci",
    "open_oci_source",
    "parse_reference",
    "push_publish_folder",
]
__getattr__ = lazy_face(__name__, FACE)
