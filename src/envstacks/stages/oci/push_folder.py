"""Push a publish folder's platforms to a registry tag, as an OCI artifact.

:func:`push_publish_folder` is what ``envstacks push FOLDER --to`` and ``publish --to`` run.
It reads top to bottom:

1. read the manifest of each platform the folder holds (the one ``deploy`` there reads:
   :mod:`envstacks.published.folder_manifests`), every name checked, and check that every
   file each lists (archives, deltas, file indexes) is in the folder with its recorded size;
2. for each file and each platform's config (its venvstacks manifest), in parallel: ``HEAD``
   the blob, which the registry may have already (blobs are named by their sha256: a layer
   pushed before, by this stack or another, is never sent again); else mount it from another
   repository of the registry that holds it (``--mount-from``, and the repositories this
   folder was pushed to before); else check the file's sha256 and upload it;
3. put each platform's image manifest (by digest), then point the tag at an index of them
   (:mod:`envstacks.stages.oci.tag_index`): with ``merge`` (``--tag-outputs`` and merged
   folders) the entries other platforms put there are kept, safely under concurrent pushes;
   without, the index lists this push's platforms only;
4. remember the repository in the folder (``__venvstacks__/pushed.json``), for the mounts of
   a later push elsewhere.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from envstacks.floor.errors import PublishError, ReferenceSyntaxError, RegistryError
from envstacks.floor.report import BYTES, Reporter, plural, progress_to
from envstacks.published import oci_layout as oa
from envstacks.published.folder_manifests import (
    ListedFile,
    PlatformManifest,
    read_folder,
    unique_files,
)
from envstacks.published.push_record import pushed_repositories, record_push
from envstacks.stages.oci.client import RegistryClient
from envstacks.stages.oci.reference import DEFAULT_TAG, Reference, parse_reference
from envstacks.stages.oci.tag_index import update_tag

__all__ = ["PushOptions", "PushResult", "PushedBlob", "push_publish_folder"]

#: Blobs sent at once.
PARALLEL_UPLOADS = 4
#: A manifest write the registry refuses because a blob it names is unknown, although this
#: push has just found or sent every one, is tried again this many times, after checking (and
#: sending again) the blobs. The distribution registry's storage rewrites a repository's link
#: to a blob in place when two pushes send the same blob at once, and a manifest checked in
#: that moment names an "unknown" blob; other registries make a new blob visible late.
BLOB_UNKNOWN_RETRIES = 3
_VERB = "push"
_CHUNK = 1 << 20

BlobKind = Literal["archive", "delta", "file index", "sbom", "config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PushedBlob:
    """One blob of the pushed artifact: an archive, a delta, a file index or a config."""

    #: The file's name (a config: the platform's manifest, ``venvstacks-<platform>.json``).
    name: str
    kind: BlobKind
    digest: str
    size: int
    #: False when the registry had it already or mounted it (nothing was sent).
    uploaded: bool
    #: The repository the registry mounted it from (``None``: not mounted).
    mounted_from: str | None = None

    def describe(self) -> str:
        """``uploaded: name (sha256:...)``, ``in registry: ...`` or ``mounted from REPO: ...``."""
        how = (
            "uploaded"
            if self.uploaded
            else f"mounted from {self.mounted_from}"
            if self.mounted_from
            else "in registry"
        )
        return f"{how}: {self.name} ({self.digest[:19]})"


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    """What a push sent and what the tag holds now."""

    #: The tag pushed to (``oci://registry/repository:tag``).
    reference: str
    #: The image manifest of each platform pushed, by platform.
    manifests: Mapping[str, str]
    #: The index the tag points at now.
    index_digest: str
    blobs: tuple[PushedBlob, ...]
    #: The platforms the tag's index lists now.
    platforms: tuple[str, ...]
    #: Writes of the tag's index (0: it listed these manifests already; more than 1: another
    #: push wrote it meanwhile and this one merged again).
    index_writes: int = 1
    #: Whether the registry honoured a conditional write of the tag (``None``: not asked).
    conditional: bool | None = None

    @property
    def uploaded_bytes(self) -> int:
        """Bytes of the blobs sent (those the registry had or mounted are not counted)."""
        return sum(blob.size for blob in self.blobs if blob.uploaded)

    @property
    def mounted_bytes(self) -> int:
        """Bytes of the blobs the registry mounted from another repository."""
        return sum(blob.size for blob in self.blobs if blob.mounted_from)

    def describe(self) -> list[str]:
        """One line per blob, then the tag and the manifests."""
        lines = [blob.describe() for blob in self.blobs]
        sent = sum(blob.uploaded for blob in self.blobs)
        mounted = sum(bool(blob.mounted_from) for blob in self.blobs)
        lines.append(
            f"pushed: {self.reference} for {', '.join(self.manifests)} ({sent} of "
            f"{plural(len(self.blobs), 'blob')} uploaded, {self.uploaded_bytes} bytes"
            + (f"; {mounted} mounted" if mounted else "")
            + f"; platforms: {', '.join(self.platforms)})"
        )
        lines += [f"manifest ({p}): {d}" for p, d in self.manifests.items()]
        lines.append(f"index: {self.index_digest}")
        return lines


@dataclass(frozen=True, slots=True, kw_only=True)
class PushOptions:
    """Where a push goes and where its blobs may come from."""

    #: ``oci://REGISTRY/REPOSITORY[:TAG]`` (default tag ``latest``).
    target: str
    #: Allow plain HTTP for a registry not on this machine.
    insecure: bool = False
    #: Repositories of the same registry to mount blobs from (``team/base`` or an
    #: ``oci://`` reference); the repositories the folder was pushed to are tried too.
    mount_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Blob:
    """A blob to push: a file of the folder, or a config document."""

    name: str
    kind: BlobKind
    digest: str
    size: int
    source: Path | bytes
    label: str
    #: The sha256 (hex) the file must have (``None``: a document made here).
    sha256: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Platform:
    """One platform's image manifest, and the blobs it references."""

    platform: str
    config: _Blob
    layers: tuple[oa.Descriptor, ...] = field(default=())


def push_publish_folder(
    folder: Path,
    options: PushOptions,
    *,
    reporter: Reporter,
    platforms: Sequence[str] | None = None,
    merge: bool | None = None,
    manifest_name: str | None = None,
    client: RegistryClient | None = None,
) -> PushResult:
    """Push the publish folder ``folder`` to the tag ``options.target`` (module docstring).

    Args:
        folder: a publish folder (``publish``'s output, merged or not).
        options: where to, and where blobs may be mounted from (:class:`PushOptions`).
        reporter: receives per-blob progress.
        platforms: the platforms to push (default: every platform the folder holds).
        merge: keep the tag's entries for other platforms (default: when every platform
            pushed has its own manifest, as after ``--tag-outputs`` or a merge).
        manifest_name: push what this manifest of the folder lists (``publish --to``: the
            one it wrote), not what ``deploy`` would read for each platform.
        client: the registry client (default: one for the target with push access).

    Raises:
        PublishError: the target is not a tag, the folder holds nothing for a platform asked
            for, a name in it is not plain, a listed file is missing or changed, or a
            ``--mount-from`` names another registry.
        RegistryError: the registry refused (names the request and the fix).
    """
    ref = parse_reference(options.target, what="--to")
    if ref.digest is not None:
        raise PublishError(
            f"--to {options.target}: a push goes to a tag, not to a digest",
            hint=f"write it like oci://{ref.registry}/{ref.repository}:TAG",
        )
    tag = ref.tag or DEFAULT_TAG
    found = read_folder(folder, verb=_VERB, manifest_name=manifest_name)
    chosen = _chosen(found, platforms, folder)
    if merge is None:
        merge = all(item.tagged for item in chosen)
    planned = [_plan(item) for item in chosen]
    blobs = _files(chosen, folder)
    for item in planned:
        blobs.setdefault(item.config.digest, item.config)
    mounts = _mount_sources(ref, options.mount_from, folder)
    client = client or RegistryClient(ref, push=True, insecure=options.insecure, mount_from=mounts)
    pushed = _push_blobs(client, list(blobs.values()), mounts, reporter)
    manifests: dict[str, str] = {}
    entries = []
    for item in planned:
        image = oa.image_manifest(
            oa.Descriptor(media_type=oa.CONFIG, digest=item.config.digest, size=item.config.size),
            item.layers,
            platform=item.platform,
        )
        manifests[item.platform] = _put_image(
            client, item, image, blobs=blobs, mounts=mounts, reporter=reporter
        )
        entries.append(oa.index_entry(image, item.platform))
    update = update_tag(client, tag, entries, merge=merge, reporter=reporter)
    reporter.info(f"pushed {ref.registry}/{ref.repository}:{tag} for {', '.join(manifests)}")
    _remember(folder, ref, reporter)
    return PushResult(
        reference=str(Reference(registry=ref.registry, repository=ref.repository, tag=tag)),
        manifests=manifests,
        index_digest=update.digest,
        blobs=pushed,
        platforms=update.platforms,
        index_writes=update.writes,
        conditional=update.conditional,
    )


def _chosen(
    found: Mapping[str, PlatformManifest], platforms: Sequence[str] | None, folder: Path
) -> list[PlatformManifest]:
    """The platform manifests to push; every platform asked for must be in the folder."""
    if platforms is None:
        return list(found.values())
    missing = [platform for platform in platforms if platform not in found]
    if missing:
        raise PublishError(
            f"{_VERB}: {folder} holds no layers published for {', '.join(missing)} "
            f"(it holds: {', '.join(found) or 'none'})",
            hint="publish for that platform into the folder first",
        )
    return [found[platform] for platform in platforms]


def _plan(item: PlatformManifest) -> _Platform:
    """A platform's config blob and the descriptors of the files its manifest lists."""
    config = oa.document(item.data)
    name = f"venvstacks-{item.platform}.json"
    blob = _Blob(
        name=name,
        kind="config",
        digest=oa.digest_of(config),
        size=len(config),
        source=config,
        label=f"{item.platform} config",
    )
    listed = unique_files(item.entries, verb=_VERB)
    ranks = {"archive": 0, "delta": 1, "file index": 2, "sbom": 3}
    ordered = sorted(listed.values(), key=lambda pair: ranks[pair[0].kind])
    return _Platform(
        platform=item.platform,
        config=blob,
        layers=tuple(_descriptor(file) for file, _entry in ordered),
    )


def _descriptor(item: ListedFile) -> oa.Descriptor:
    """The image manifest's descriptor of a listed file."""
    annotations = {oa.TITLE: item.name}
    if item.kind == "file index":
        media_type = oa.FILE_INDEX
    elif item.kind == "sbom":
        media_type = oa.SBOM
    else:
        annotations[oa.INSTALL_TARGET] = item.install_target
        media_type = (
            oa.layer_media_type(item.archive_format)
            if item.kind == "archive"
            else oa.delta_media_type(item.archive_format)
        )
    digest = f"sha256:{item.sha256}"
    return oa.Descriptor(
        media_type=media_type, digest=digest, size=item.size, annotations=annotations
    )


def _files(chosen: Sequence[PlatformManifest], folder: Path) -> dict[str, _Blob]:
    """Every file the chosen platforms list, by digest, checked to be there with its size.

    Raises:
        PublishError: a file is missing, not a regular file, or not its recorded size.
    """
    blobs: dict[str, _Blob] = {}
    for item in chosen:
        for listed, _entry in unique_files(item.entries, verb=_VERB).values():
            path = listed.path_in(folder)
            try:
                info = path.stat()
            except OSError:
                info = None
            size = info.st_size if info is not None and stat.S_ISREG(info.st_mode) else None
            if size != listed.size:
                raise PublishError(
                    f"{path}: the manifest records {listed.size} bytes, found "
                    f"{'no file' if size is None else f'{size} bytes'}",
                    hint="publish again into that folder before pushing",
                )
            digest = f"sha256:{listed.sha256}"
            blobs.setdefault(
                digest,
                _Blob(
                    name=listed.name,
                    kind=listed.kind,
                    digest=digest,
                    size=listed.size,
                    source=path,
                    label=listed.install_target if listed.kind == "archive" else listed.name,
                    sha256=listed.sha256,
                ),
            )
    return blobs


def _mount_sources(ref: Reference, named: Sequence[str], folder: Path) -> tuple[str, ...]:
    """The repositories to mount blobs from: those named, then those the folder was pushed to.

    Raises:
        PublishError: a named one is not a repository, or is in another registry.
    """
    found: list[str] = []
    for text in named:
        reference = text if text.startswith("oci://") else f"oci://{ref.registry}/{text}"
        try:
            other = parse_reference(reference, what="--mount-from")
        except ReferenceSyntaxError as exc:
            raise PublishError(exc.message, hint=exc.hint) from exc
        if other.registry != ref.registry:
            raise PublishError(
                f"--mount-from {text}: in registry {other.registry}, not {ref.registry}: a "
                "registry mounts only blobs it holds itself",
                hint=f"name a repository of {ref.registry}, like --mount-from team/stack",
            )
        found.append(other.repository)
    for location in pushed_repositories(folder):
        registry, _, repository = location.partition("/")
        if registry == ref.registry:
            found.append(repository)
    return tuple(name for name in dict.fromkeys(found) if name != ref.repository)


def _push_blobs(
    client: RegistryClient, blobs: Sequence[_Blob], mounts: Sequence[str], reporter: Reporter
) -> tuple[PushedBlob, ...]:
    """Send the blobs the registry does not have yet (nor can mount), in parallel."""
    workers = max(1, min(PARALLEL_UPLOADS, len(blobs)))
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="push") as pool:
        futures = [pool.submit(_push_blob, client, blob, mounts, reporter) for blob in blobs]
        return tuple(future.result() for future in futures)


def _push_blob(
    client: RegistryClient, blob: _Blob, mounts: Sequence[str], reporter: Reporter
) -> PushedBlob:
    pushed = PushedBlob(
        name=blob.name, kind=blob.kind, digest=blob.digest, size=blob.size, uploaded=False
    )
    with reporter.task(blob.label, "push", total=blob.size, unit=BYTES) as task:
        if client.blob_size(blob.digest) == blob.size:
            task.advance(blob.size)
            return pushed
        for repository in mounts:
            if client.mount_blob(blob.digest, repository):
                task.advance(blob.size)
                return PushedBlob(
                    name=blob.name,
                    kind=blob.kind,
                    digest=blob.digest,
                    size=blob.size,
                    uploaded=False,
                    mounted_from=repository,
                )
        if isinstance(blob.source, Path):
            _check_sha256(blob, blob.source)
        client.upload_blob(blob.source, blob.digest, blob.size, progress_to(task))
    return PushedBlob(
        name=blob.name, kind=blob.kind, digest=blob.digest, size=blob.size, uploaded=True
    )


def _put_image(
    client: RegistryClient,
    item: _Platform,
    image: bytes,
    *,
    blobs: Mapping[str, _Blob],
    mounts: Sequence[str],
    reporter: Reporter,
) -> str:
    """Store a platform's image manifest; its digest (see :data:`BLOB_UNKNOWN_RETRIES`)."""
    digest = oa.digest_of(image)
    what = f"store the {item.platform} manifest"
    for attempt in range(BLOB_UNKNOWN_RETRIES + 1):
        try:
            return client.put_manifest(digest, image, oa.MANIFEST, what=what)
        except RegistryError as exc:
            if attempt == BLOB_UNKNOWN_RETRIES or "MANIFEST_BLOB_UNKNOWN" not in str(exc):
                raise
        reporter.warning(
            f"the registry does not know a blob of the {item.platform} manifest yet (another "
            "push sending the same blob?): checking the blobs and storing it again"
        )
        time.sleep(0.5 * 2**attempt)
        for name in (item.config.digest, *(layer.digest for layer in item.layers)):
            _push_blob(client, blobs[name], mounts, reporter)
    raise AssertionError("unreachable")  # pragma: no cover


def _check_sha256(blob: _Blob, path: Path) -> None:
    """A file about to be uploaded must be what its manifest records (the registry checks too).

    Raises:
        PublishError: it is not.
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != blob.sha256:
        raise PublishError(
            f"{path}: its sha256 is {digest.hexdigest()}, not the {blob.sha256} its manifest "
            "records; it was changed after it was published",
            hint="publish again into that folder before pushing",
        )


def _remember(folder: Path, ref: Reference, reporter: Reporter) -> None:
    """Record the repository in the folder, for the mounts of a later push elsewhere."""
    try:
        record_push(folder, [f"{ref.registry}/{ref.repository}"])
    except OSError as exc:  # a read-only folder (a CI artifact): nothing to remember it in
        reporter.debug(f"{folder}: the push to {ref.repository} is not remembered ({exc})")
