"""A deploy source in a registry: this platform's manifest of an artifact, archives as blobs.

An artifact ``publish --to`` or ``push`` pushed (:mod:`envstacks.published.oci_layout`) is an
image index with one image manifest per platform; each image manifest's config blob is the
venvstacks manifest of that platform and its layers are the archives, deltas and file
indexes that manifest names. :func:`open_registry_source` resolves a tag or digest to this
platform's image manifest, reads the venvstacks manifest and checks that each archive it
lists is one of the image manifest's layers with the same digest and size. Deltas and file
indexes are optional (an artifact pushed before they were pushed has none): those that are
layers with the recorded digest and size are offered, any other is left out, so the deploy
takes the full archive. :class:`RegistrySource` then downloads only the blobs the deployer
asks for (a delta or the full archive of each layer not deployed yet, the file indexes it
keeps), checked while they stream; the deployer unpacks, places and records them exactly as
from a folder.

Speaking to the registry (HTTP, credentials, retries) is the registry client's
(:mod:`envstacks.stages.oci`), which hands this module a :class:`BlobStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from envstacks.floor import bounded_json
from envstacks.floor.errors import DeployError, RegistryError, VerificationError
from envstacks.floor.report import Reporter, Task, progress_to
from envstacks.published import oci_layout as oa
from envstacks.published.delta_recipe import offers
from envstacks.published.manifest import ManifestLayer, parse_manifest
from envstacks.published.sources import MAX_METADATA_FILE, FetchedArchive, Source

__all__ = ["BlobStore", "RegistrySource", "open_registry_source"]


class BlobStore(Protocol):
    """One repository of a registry, as a deploy reads it."""

    @property
    def location(self) -> str:
        """``registry/repository``, for messages."""
        ...

    def get_manifest(self, reference: str, *, what: str) -> tuple[bytes, str, str]:
        """A manifest or index by tag or digest: ``(bytes, media type, digest)``."""
        ...

    def get_blob(self, digest: str, size: int, *, what: str) -> bytes:
        """A small blob read into memory, checked against ``digest`` and ``size``."""
        ...

    def download_blob(
        self, digest: str, size: int, part: Path, *, what: str, progress: Callable[[int], None]
    ) -> None:
        """Download a blob into ``part`` (resuming what is there), checking size and sha256."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySource(Source):
    """A platform's manifest in a registry: archives are downloaded blob by blob."""

    store: BlobStore
    #: The image manifest's layers by archive file name: full archives and deltas.
    blobs: Mapping[str, oa.Descriptor] = field(default_factory=dict)
    #: The file indexes it holds, by file name (``env_metadata`` of a publish folder).
    indexes: Mapping[str, oa.Descriptor] = field(default_factory=dict)

    def archive_location(self, archive_name: str) -> str:
        """``registry/repository@digest`` of the archive's blob."""
        blob = self.blobs.get(archive_name)
        digest = blob.digest if blob is not None else "?"
        return f"{self.store.location}@{digest} ({archive_name})"

    def holds(self, archive_name: str) -> bool:
        """Whether the image manifest has a blob for the archive or delta."""
        return archive_name in self.blobs

    def _metadata_file(self, name: str) -> bytes | None:
        """A file index the image manifest holds, read into memory, checked against its digest.

        Raises:
            DeployError: the registry refused or sent other bytes.
        """
        blob = self.indexes.get(name)
        if blob is None or blob.size > MAX_METADATA_FILE:
            return None
        try:
            return self.store.get_blob(blob.digest, blob.size, what=f"read the file index {name}")
        except VerificationError:
            raise
        except RegistryError as exc:
            raise DeployError(exc.message, hint=exc.hint) from exc

    def fetch(self, archive_name: str, *, size: int, downloads: Path, task: Task) -> FetchedArchive:
        """Download the archive's blob into ``downloads``, verified while it streams."""
        blob = self.blobs[archive_name]  # deploy asks only for archives it holds
        downloads.mkdir(parents=True, exist_ok=True)
        final = downloads / archive_name
        part = downloads / f"{archive_name}.part"
        try:
            self.store.download_blob(
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


def open_registry_source(
    store: BlobStore,
    reference: str,
    *,
    where: str,
    pinned: Callable[[str], str],
    platform: str | None,
    reporter: Reporter,
) -> RegistrySource:
    """Resolve a tag or digest of ``store`` for ``platform`` and read its venvstacks manifest.

    Args:
        store: the repository.
        reference: the tag or digest to resolve.
        where: the reference as the user wrote it, for messages.
        pinned: the reference pinned to a manifest digest (for messages and the source's name).
        platform: this machine's platform (needed when the reference is an index).
        reporter: receives progress and messages.

    Raises:
        DeployError: nothing published for ``platform``, not an envstacks artifact, or the
            registry's manifest and the venvstacks metadata disagree.
        RegistryError: the registry refused (401/403/404/429...) or cannot be reached.
    """
    reporter.debug(f"resolving {where}")
    data, media_type, digest = store.get_manifest(reference, what=f"read {where}")
    if media_type in (oa.INDEX, oa.DOCKER_LIST):
        if platform is None:
            raise DeployError(f"{where}: an index of platforms, and this machine's is unknown")
        chosen = oa.select_platform(oa.manifest_json(data, where=where), platform, where=where)
        data, media_type, digest = store.get_manifest(
            chosen.digest, what=f"read the {platform} manifest of {where}"
        )
    if media_type != oa.MANIFEST:
        raise DeployError(
            f"{where}: holds {media_type or 'an unknown document'}, not an envstacks artifact",
            hint="deploy a reference that `envstacks publish --to` pushed",
        )
    name = pinned(digest)
    config, layers = oa.parse_image_manifest(oa.manifest_json(data, where=where), where=name)
    body = store.get_blob(config.digest, config.size, what=f"read the metadata of {name}")
    manifest: Any = bounded_json.loads(
        body, where=f"{name}: the metadata blob", max_bytes=oa.MAX_DOCUMENT, error=DeployError
    )
    entries = parse_manifest(manifest, where=name)
    by_title = {layer.title: layer for layer in layers if layer.title}
    blobs = {**_archive_blobs(entries, by_title, where=name), **_delta_blobs(entries, by_title)}
    return RegistrySource(
        manifest_location=name,
        manifest=manifest,
        store=store,
        blobs=blobs,
        indexes=_index_blobs(entries, by_title),
    )


def _archive_blobs(
    entries: tuple[ManifestLayer, ...], by_title: Mapping[str, oa.Descriptor], *, where: str
) -> dict[str, oa.Descriptor]:
    """The layer descriptor of each archive the metadata lists, checked to agree with it."""
    blobs: dict[str, oa.Descriptor] = {}
    for entry in entries:
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


def _delta_blobs(
    entries: tuple[ManifestLayer, ...], by_title: Mapping[str, oa.Descriptor]
) -> dict[str, oa.Descriptor]:
    """The deltas the metadata offers that are blobs with the recorded digest and size."""
    return {
        offer.archive_name: blob
        for entry in entries
        for offer in offers(entry)
        if (blob := by_title.get(offer.archive_name)) is not None
        and blob.media_type.startswith(oa.DELTA_PREFIX)
        and (blob.digest, blob.size) == (f"sha256:{offer.archive_sha256}", offer.archive_size)
    }


def _index_blobs(
    entries: tuple[ManifestLayer, ...], by_title: Mapping[str, oa.Descriptor]
) -> dict[str, oa.Descriptor]:
    """The file indexes the metadata names that are blobs with the recorded digest and size."""
    recorded = [entry.metadata.get("file_index") for entry in entries]
    recorded += [offer.base_index for entry in entries for offer in offers(entry)]
    found: dict[str, oa.Descriptor] = {}
    for item in recorded:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        blob = by_title.get(item["name"])
        if (
            blob is not None
            and blob.media_type == oa.FILE_INDEX
            and blob.size == item.get("size")
            and blob.digest == f"sha256:{item.get('sha256')}"
        ):
            found[item["name"]] = blob
    return found
