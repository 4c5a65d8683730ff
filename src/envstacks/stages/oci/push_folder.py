"""Push a publish folder's layers for one platform to a registry tag, as an OCI artifact.

:func:`push_published` reads top to bottom:

1. check the published manifest and that each archive it lists is in the folder, whole;
2. for each archive and the config (the manifest itself), in parallel: ``HEAD`` the blob and
   upload it only when the registry does not have it (blobs are named by their sha256, so a
   layer pushed before, by this stack or another, is never sent again);
3. put the platform's image manifest (by digest), then the tag's image index: with ``merge``
   (``--tag-outputs`` builds) the entries of other platforms already at the tag are kept and
   this platform's entry added or replaced; without, the index lists this platform only.
   After a merge the tag is read back: a CI job on another machine that wrote the tag in the
   meantime makes the merge run again.
"""

from __future__ import annotations

import concurrent.futures
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor.errors import PublishError, RegistryNotFoundError
from envstacks.floor.report import Reporter, progress_to
from envstacks.published import oci_layout as oa
from envstacks.published.manifest import ManifestLayer, parse_manifest
from envstacks.stages.oci.client import ATTEMPTS, RegistryClient
from envstacks.stages.oci.reference import DEFAULT_TAG, Reference, parse_reference

#: Blobs uploaded at once.
PARALLEL_UPLOADS = 4
_CONFIG = "config"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushedBlob:
    """One blob of the pushed artifact: a layer archive or the config."""

    #: The archive's file name, or ``config``.
    name: str
    digest: str
    size: int
    #: False when the registry already had it (nothing was sent).
    uploaded: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """What a push sent and where the platform's manifest is now."""

    #: The tag pushed to (``oci://registry/repository:tag``).
    reference: str
    platform: str
    #: The platform's image manifest, and the index the tag points at now.
    manifest_digest: str
    index_digest: str
    blobs: tuple[PushedBlob, ...]
    #: The platforms the tag's index lists now.
    platforms: tuple[str, ...]

    @property
    def uploaded_bytes(self) -> int:
        """Bytes of the blobs sent (those the registry had are not counted)."""
        return sum(blob.size for blob in self.blobs if blob.uploaded)

    def describe(self) -> list[str]:
        """One line per blob, then the manifest and the index."""
        lines = [
            f"{'uploaded' if blob.uploaded else 'in registry'}: {blob.name} ({blob.digest[:19]})"
            for blob in self.blobs
        ]
        sent = sum(blob.uploaded for blob in self.blobs)
        lines.append(
            f"pushed: {self.reference} for {self.platform} ({sent} of {len(self.blobs)} blobs "
            f"uploaded, {self.uploaded_bytes} bytes; platforms: {', '.join(self.platforms)})"
        )
        lines.append(f"manifest: {self.manifest_digest}; index: {self.index_digest}")
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class PushOptions:
    """Where a push goes."""

    #: ``oci://REGISTRY/REPOSITORY[:TAG]`` (default tag ``latest``).
    target: str
    #: Allow plain HTTP for a registry not on this machine.
    insecure: bool = False


def push_published(
    manifest: Mapping[str, Any],
    folder: Path,
    options: PushOptions,
    *,
    platform: str,
    merge: bool,
    reporter: Reporter,
    client: RegistryClient | None = None,
) -> PushResult:
    """Push the layers ``manifest`` lists (archives in ``folder``) to the tag ``options.target``.

    Args:
        manifest: the published manifest for ``platform`` (as ``publish`` wrote it).
        folder: the publish folder holding the archives.
        options: where to (see :class:`PushOptions`).
        platform: the platform the layers were published for.
        merge: keep other platforms' entries in the tag's index (``--tag-outputs``).
        reporter: receives per-blob progress.
        client: the registry client (default: one for the target with push access).

    Raises:
        PublishError: the target is not a tag, or an archive is missing or changed.
        RegistryError: the registry refused (names the request and the fix).
    """
    target, insecure = options.target, options.insecure
    ref = parse_reference(target, what="--to")
    if ref.digest is not None:
        raise PublishError(
            f"--to {target}: a push goes to a tag, not to a digest",
            hint=f"write it like oci://{ref.registry}/{ref.repository}:TAG",
        )
    tag = ref.tag or DEFAULT_TAG
    where = f"manifest of {folder}"
    layers = parse_manifest(manifest, where=where)
    _check_archives(layers, folder, platform)
    client = client or RegistryClient(ref, push=True, insecure=insecure)
    config = oa.document(manifest)
    blobs = _push_blobs(client, layers, folder, config, reporter)
    config_blob = next(blob for blob in blobs if blob.name == _CONFIG)
    descriptors = [_layer_descriptor(layer) for layer in layers]
    image = oa.image_manifest(
        oa.Descriptor(media_type=oa.CONFIG, digest=config_blob.digest, size=config_blob.size),
        descriptors,
        platform=platform,
    )
    manifest_digest = client.put_manifest(
        oa.digest_of(image), image, oa.MANIFEST, what=f"store the {platform} manifest"
    )
    index, platforms = _put_index(client, ref, tag, oa.index_entry(image, platform), merge=merge)
    reporter.info(f"pushed {ref.registry}/{ref.repository}:{tag} for {platform}")
    return PushResult(
        reference=str(Reference(registry=ref.registry, repository=ref.repository, tag=tag)),
        platform=platform,
        manifest_digest=manifest_digest,
        index_digest=oa.digest_of(index),
        blobs=blobs,
        platforms=platforms,
    )


def _check_archives(layers: Sequence[ManifestLayer], folder: Path, platform: str) -> None:
    """Every listed archive is in ``folder`` with its recorded size, for ``platform``."""
    for layer in layers:
        if layer.target_platform not in (None, platform):
            raise PublishError(
                f"{folder}: layer {layer.install_target!r} is published for "
                f"{layer.target_platform}, not {platform}"
            )
        path = folder / layer.archive_name
        try:
            size = path.stat().st_size
        except OSError:
            size = None
        if size != layer.archive_size:
            raise PublishError(
                f"{path}: the manifest records {layer.archive_size} bytes, found "
                f"{'no file' if size is None else f'{size} bytes'}",
                hint="publish again into that folder before pushing",
            )


def _layer_descriptor(layer: ManifestLayer) -> oa.Descriptor:
    return oa.Descriptor(
        media_type=oa.layer_media_type(layer.archive_format),
        digest=f"sha256:{layer.archive_sha256}",
        size=layer.archive_size,
        annotations={oa.TITLE: layer.archive_name, oa.INSTALL_TARGET: layer.install_target},
    )


def _push_blobs(
    client: RegistryClient,
    layers: Sequence[ManifestLayer],
    folder: Path,
    config: bytes,
    reporter: Reporter,
) -> tuple[PushedBlob, ...]:
    """Upload the archives and the config the registry does not have yet, in parallel."""
    jobs: list[tuple[str, str, Path | bytes, int, str]] = [
        (
            layer.install_target,
            layer.archive_name,
            folder / layer.archive_name,
            layer.archive_size,
            f"sha256:{layer.archive_sha256}",
        )
        for layer in layers
    ]
    jobs.append((_CONFIG, _CONFIG, config, len(config), oa.digest_of(config)))
    workers = max(1, min(PARALLEL_UPLOADS, len(jobs)))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="push") as pool:
        futures = [pool.submit(_push_blob, client, job, reporter) for job in jobs]
        return tuple(future.result() for future in futures)


def _push_blob(
    client: RegistryClient, job: tuple[str, str, Path | bytes, int, str], reporter: Reporter
) -> PushedBlob:
    label, name, source, size, digest = job
    with reporter.task(label, "push", total=size) as task:
        if client.blob_size(digest) == size:
            task.advance(size)
            return PushedBlob(name=name, digest=digest, size=size, uploaded=False)
        client.upload_blob(source, digest, size, progress_to(task))
    return PushedBlob(name=name, digest=digest, size=size, uploaded=True)


def _put_index(
    client: RegistryClient, ref: Reference, tag: str, entry: Mapping[str, Any], *, merge: bool
) -> tuple[bytes, tuple[str, ...]]:
    """Point ``tag`` at an index holding ``entry`` (and, with ``merge``, the other platforms)."""
    for attempt in range(1, ATTEMPTS + 1):
        existing = _existing_entries(client, ref, tag) if merge else []
        index = oa.merged_index(existing, entry)
        client.put_manifest(tag, index, oa.INDEX, what=f"store the index of tag {tag!r}")
        if not merge or entry["digest"] in _entry_digests(client, ref, tag):
            entries = oa.manifest_json(index, where="index")["manifests"]
            return index, tuple(p for p in map(oa.entry_platform, entries) if p)
        # Another machine wrote the tag between our read and our write: merge again.
        time.sleep(random.uniform(0.1, 0.5) * attempt)  # noqa: S311 - jitter, not security
    raise PublishError(
        f"{ref}: tag {tag!r} kept changing while this platform's entry was added "
        f"({ATTEMPTS} attempts)",
        hint="other jobs push to the same tag at this moment; run this push again after them",
    )


def _existing_entries(client: RegistryClient, ref: Reference, tag: str) -> list[dict[str, Any]]:
    """The entries of the index at ``tag`` (empty when the tag does not exist yet).

    Raises:
        PublishError: the tag holds something other than an envstacks index or manifest.
    """
    where = f"{ref.registry}/{ref.repository}:{tag}"
    try:
        data, media_type, digest = client.get_manifest(tag, what=f"read tag {tag!r}")
    except RegistryNotFoundError:
        return []
    document = oa.manifest_json(data, where=where)
    if media_type == oa.INDEX:
        entries = document.get("manifests")
        return (
            [dict(e) for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
        )
    platform = oa.entry_platform(document)
    if media_type == oa.MANIFEST and document.get("artifactType") == oa.ARTIFACT_TYPE and platform:
        entry = oa.index_entry(data, platform)
        return [{**entry, "digest": digest}]
    raise PublishError(
        f"{where} holds {media_type or 'an unknown document'}, not envstacks layers; "
        "merging this platform into it would damage it",
        hint="push to another tag, or delete that tag first",
    )


def _entry_digests(client: RegistryClient, ref: Reference, tag: str) -> set[str]:
    return {str(e.get("digest")) for e in _existing_entries(client, ref, tag)}
