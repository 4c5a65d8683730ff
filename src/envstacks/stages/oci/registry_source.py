"""Deploy from a registry: resolve ``oci://`` to this platform's manifest, download layer blobs.

:func:`open_oci_source` reads the tag (or digest): an image index is resolved to the manifest
of the deploying platform, whose config blob is the venvstacks manifest the deploy works from.
Each archive the manifest lists must be one of the image manifest's layers with the same
digest and size. :class:`OciSource` then downloads only the blobs the deployer asks for (the
layers not deployed yet), checking size and sha256 while they stream; the deployer unpacks,
places and records them exactly as for a folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envstacks.floor.errors import DeployError, VerificationError
from envstacks.floor.report import Reporter, Task, progress_to
from envstacks.published import oci_layout as oa
from envstacks.published.manifest import parse_manifest
from envstacks.published.sources import FetchedArchive, Source
from envstacks.stages.oci.client import RegistryClient, manifest_json
from envstacks.stages.oci.reference import parse_reference
from envstacks.stages.oci.registry_errors import RegistryError


@dataclass(frozen=True, slots=True, kw_only=True)
class OciSource(Source):
    """A platform's manifest in a registry: archives are downloaded blob by blob."""

    client: RegistryClient
    #: The image manifest's layers by archive file name.
    blobs: Mapping[str, oa.Descriptor] = field(default_factory=dict)

    def archive_location(self, archive_name: str) -> str:
        """``registry/repository@digest`` of the archive's blob."""
        blob = self.blobs.get(archive_name)
        digest = blob.digest if blob is not None else "?"
        return f"{self.client.registry}/{self.client.repository}@{digest} ({archive_name})"

    def holds(self, archive_name: str) -> bool:
        """Whether the image manifest has a blob for the archive (deltas are not pushed)."""
        return archive_name in self.blobs

    def fetch(self, archive_name: str, *, size: int, downloads: Path, task: Task) -> FetchedArchive:
        """Download the archive's blob into ``downloads``, verified while it streams."""
        blob = self.blobs[archive_name]  # open_oci_source checked every archive has one
        downloads.mkdir(parents=True, exist_ok=True)
        final = downloads / archive_name
        part = downloads / f"{archive_name}.part"
        try:
            self.client.download_blob(
                blob.digest, size, part, what=f"download {archive_name}", progress=progress_to(task)
            )
        except VerificationError:
            raise
        except RegistryError as exc:
            raise DeployError(exc.message, hint=exc.hint) from exc
        part.replace(final)
        return FetchedArchive(
            path=final, downloaded=True, sha256=blob.digest.removeprefix("sha256:")
        )


def open_oci_source(
    text: str, *, platform: str | None, reporter: Reporter, insecure: bool = False
) -> OciSource:
    """Resolve ``oci://REGISTRY/REPOSITORY[:TAG|@DIGEST]`` for ``platform`` and read its manifest.

    Raises:
        DeployError: nothing published for ``platform``, not an envstacks artifact, or the
            registry's manifest and the venvstacks metadata disagree.
        RegistryError: the registry refused (401/403/404/429...) or cannot be reached.
    """
    ref = parse_reference(text, what="deploy source")
    client = RegistryClient(ref, push=False, insecure=insecure)
    where = str(ref)
    reporter.debug(f"resolving {where}")
    data, media_type, digest = client.get_manifest(ref.manifest_reference, what=f"read {where}")
    if media_type in (oa.INDEX, oa.DOCKER_LIST):
        if platform is None:
            raise DeployError(f"{where}: an index of platforms, and this machine's is unknown")
        chosen = oa.select_platform(manifest_json(data, where=where), platform, where=where)
        data, media_type, digest = client.get_manifest(
            chosen.digest, what=f"read the {platform} manifest of {where}"
        )
    if media_type != oa.MANIFEST:
        raise DeployError(
            f"{where}: holds {media_type or 'an unknown document'}, not an envstacks artifact",
            hint="deploy a reference that `envstacks publish --to` pushed",
        )
    pinned = ref.with_digest(digest)
    config, layers = oa.parse_image_manifest(manifest_json(data, where=where), where=str(pinned))
    body = client.get_blob(config.digest, config.size, what=f"read the metadata of {pinned}")
    try:
        manifest: Any = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DeployError(f"{pinned}: the metadata blob is not JSON ({exc})") from exc
    blobs = _archive_blobs(manifest, layers, where=str(pinned))
    return OciSource(manifest_location=str(pinned), manifest=manifest, client=client, blobs=blobs)


def _archive_blobs(
    manifest: Any, layers: tuple[oa.Descriptor, ...], *, where: str
) -> dict[str, oa.Descriptor]:
    """The layer descriptor of each archive the metadata lists, checked to agree with it."""
    by_title = {layer.title: layer for layer in layers if layer.title}
    blobs: dict[str, oa.Descriptor] = {}
    for entry in parse_manifest(manifest, where=where):
        blob = by_title.get(entry.archive_name)
        if blob is None:
            raise DeployError(
                f"{where}: archive {entry.archive_name!r} is listed in the metadata but is "
                "not a layer of the image manifest",
                hint="push the stack again with `envstacks publish --to`",
            )
        if blob.digest != f"sha256:{entry.archive_sha256}" or blob.size != entry.archive_size:
            raise VerificationError(
                f"{where}: archive {entry.archive_name!r}: the metadata records sha256 "
                f"{entry.archive_sha256} and {entry.archive_size} bytes, the image manifest "
                f"{blob.digest} and {blob.size} bytes",
                hint="the artifact was modified after it was pushed; push it again",
            )
        blobs[entry.archive_name] = blob
    return blobs
