"""The OCI documents of a published stack: media types, descriptors, manifests and the index.

One published platform is one OCI image manifest (``artifactType``
:data:`ARTIFACT_TYPE`): its config blob is the platform's venvstacks manifest
(``__venvstacks__/venvstacks*.json``, every layer's metadata snippet in it); its layers are
the files that manifest names, one blob each: the layer archives (a media type per archive
format), their delta archives (:data:`DELTA_PREFIX` plus the format) and the file indexes
(:data:`FILE_INDEX`: each layer's, and each delta's base's) and the SBOMs (:data:`SBOM`),
each with its file name as
``org.opencontainers.image.title`` (so ``oras pull`` writes them under their names). A tag
points at an OCI image index listing one manifest per platform. Documents are written as
sorted, compact JSON without timestamps: pushing the same layers twice gives the same digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import DeployError, RegistryError
from envstacks.floor.platforms import PLATFORMS

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
#: Docker's schema 2 types: accepted when reading, to say what a tag holds instead.
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT = ", ".join((INDEX, MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
#: The artifact type of one platform's published layers.
ARTIFACT_TYPE = "application/vnd.envstacks.stack.v1"
#: The config blob: the platform's venvstacks manifest as JSON.
CONFIG = "application/vnd.envstacks.manifest.v1+json"
#: Layer archives: this prefix plus the format (``tar+zstd``, ``tar+xz``, ``zip``).
LAYER_PREFIX = "application/vnd.envstacks.layer.v1."
LAYER_TYPES = {"tar.zst": "tar+zstd", "tar.xz": "tar+xz", "zip": "zip"}
#: Delta archives: this prefix plus the format, as for layers.
DELTA_PREFIX = "application/vnd.envstacks.delta.v1."
#: A layer's file index: gzip-compressed JSON (:mod:`envstacks.published.file_index`).
FILE_INDEX = "application/vnd.envstacks.file-index.v1.json+gzip"
#: A layer's SBOM: CycloneDX JSON (:mod:`envstacks.published.layer_sbom`); deploy ignores it.
SBOM = "application/vnd.cyclonedx+json"
TITLE = "org.opencontainers.image.title"
#: The envstacks platform of a manifest (on index entries and on the manifest itself).
PLATFORM = "dev.envstacks.platform"
INSTALL_TARGET = "dev.envstacks.install-target"
#: Largest manifest, index or config document accepted (the OCI distribution spec's limit).
MAX_DOCUMENT = 4 << 20
#: OCI ``os`` and ``architecture`` values for envstacks' platforms.
_OCI_OS = {"linux": "linux", "darwin": "darwin", "win32": "windows"}
_OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    """An OCI content descriptor: what a manifest says about one blob or manifest."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as OCI JSON."""
        data: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest}
        data["size"] = self.size
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        return data

    @property
    def title(self) -> str | None:
        """The file name the blob was pushed from."""
        return self.annotations.get(TITLE)


def layer_media_type(format_name: str | None) -> str:
    """The media type of a layer archive in ``format_name`` (a plugin's format: its name)."""
    return LAYER_PREFIX + _format_suffix(format_name)


def delta_media_type(format_name: str | None) -> str:
    """The media type of a delta archive in ``format_name``."""
    return DELTA_PREFIX + _format_suffix(format_name)


def _format_suffix(format_name: str | None) -> str:
    name = format_name or "tar.xz"  # venvstacks manifests name no format: theirs is tar.xz
    return LAYER_TYPES.get(name, name.replace(".", "+"))


def document(data: Mapping[str, Any]) -> bytes:
    """A JSON document as pushed: sorted keys, no spaces (the same bytes every time)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def digest_of(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor_of(media_type: str, data: bytes, **annotations: str) -> Descriptor:
    """The descriptor of an in-memory document."""
    return Descriptor(
        media_type=media_type, digest=digest_of(data), size=len(data), annotations=annotations
    )


def oci_platform(platform: str) -> dict[str, str]:
    """The OCI ``platform`` object (``os``, ``architecture``) of an envstacks platform."""
    info = PLATFORMS.get(platform)
    if info is None:
        return {"os": "unknown", "architecture": "unknown"}
    return {"os": _OCI_OS[info.sys_platform], "architecture": _OCI_ARCH[info.uv_arch]}


def image_manifest(config: Descriptor, layers: Sequence[Descriptor], *, platform: str) -> bytes:
    """The OCI image manifest of one platform's layers."""
    return document(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": config.to_json(),
            "layers": [layer.to_json() for layer in layers],
            "annotations": {PLATFORM: platform},
        }
    )


def index_entry(manifest: bytes, platform: str) -> dict[str, Any]:
    """An index's entry for one platform's manifest."""
    entry = descriptor_of(MANIFEST, manifest, **{PLATFORM: platform}).to_json()
    entry["artifactType"] = ARTIFACT_TYPE
    entry["platform"] = oci_platform(platform)
    return entry


def merged_index(
    existing: Sequence[Mapping[str, Any]], entries: Sequence[Mapping[str, Any]]
) -> bytes:
    """An index with ``existing`` entries for other platforms and ``entries`` for their own."""
    platforms = {entry_platform(entry) for entry in entries}
    kept = [e for e in existing if entry_platform(e) not in platforms]
    ordered = sorted([*kept, *map(dict, entries)], key=lambda e: entry_platform(e) or "")
    return document(
        {
            "schemaVersion": 2,
            "mediaType": INDEX,
            "artifactType": ARTIFACT_TYPE,
            "manifests": ordered,
        }
    )


def entry_platform(entry: Mapping[str, Any]) -> str | None:
    """The envstacks platform an index entry (or a manifest) is for, from its annotation."""
    annotations = entry.get("annotations")
    value = annotations.get(PLATFORM) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) else None


def index_entries(index: Mapping[str, Any], *, where: str) -> list[Mapping[str, Any]]:
    """The envstacks entries of an index (entries of other artifacts are left out).

    Raises:
        DeployError: the index is not an object with a ``manifests`` list.
    """
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise DeployError(f"{where}: the image index has no 'manifests' list")
    return [
        e
        for e in entries
        if isinstance(e, Mapping) and entry_platform(e) is not None and _is_digest(e.get("digest"))
    ]


def select_platform(index: Mapping[str, Any], platform: str, *, where: str) -> Descriptor:
    """The index's manifest for ``platform``.

    Raises:
        DeployError: the index lists no envstacks manifest for ``platform`` (naming those it has).
    """
    entries = index_entries(index, where=where)
    for entry in entries:
        if entry_platform(entry) == platform:
            size = entry.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size > MAX_DOCUMENT:
                raise DeployError(
                    f"{where}: the index entry for {platform} has a bad size {size!r}"
                )
            return Descriptor(media_type=MANIFEST, digest=str(entry["digest"]), size=size)
    published = sorted({entry_platform(e) or "" for e in entries})
    raise DeployError(
        f"{where}: nothing published for {platform} (published for: "
        f"{', '.join(published) or 'no envstacks platform'})",
        hint=f"publish the stack on a {platform} machine with --tag-outputs and the same "
        "--to reference, or deploy on a machine of a published platform",
    )


def parse_image_manifest(
    data: Mapping[str, Any], *, where: str
) -> tuple[Descriptor, tuple[Descriptor, ...]]:
    """The config and layer descriptors of an envstacks image manifest.

    Raises:
        DeployError: not an envstacks artifact, or a descriptor is malformed.
    """
    config = _descriptor(data.get("config"), f"{where}: config")
    if config.media_type != CONFIG:
        raise DeployError(
            f"{where}: not an envstacks artifact (config media type {config.media_type!r}, "
            f"expected {CONFIG!r})",
            hint="deploy a reference that `envstacks publish --to` pushed",
        )
    if config.size > MAX_DOCUMENT:
        raise DeployError(f"{where}: the config blob is larger than {MAX_DOCUMENT} bytes")
    raw_layers = data.get("layers")
    if not isinstance(raw_layers, list):
        raise DeployError(f"{where}: the manifest has no 'layers' list")
    layers = tuple(
        _descriptor(item, f"{where}: layers[{index}]") for index, item in enumerate(raw_layers)
    )
    return config, layers


def _is_digest(value: object) -> bool:
    return (
        isinstance(value, str)
        and value.startswith("sha256:")
        and len(value) == 71
        and all(c in "0123456789abcdef" for c in value[7:])
    )


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, Mapping):
        raise DeployError(f"{where}: expected a descriptor object, found {value!r}")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not _is_digest(digest):
        raise DeployError(f"{where}: needs a mediaType and a sha256 digest, found {dict(value)!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise DeployError(f"{where}: size must be a whole number of bytes, found {size!r}")
    annotations = value.get("annotations")
    notes = (
        {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, Mapping) else {}
    )
    return Descriptor(media_type=media_type, digest=str(digest), size=size, annotations=notes)


def manifest_json(data: bytes, *, where: str) -> dict[str, Any]:
    """A manifest or index document as a JSON object (``RegistryError`` when it is not one)."""
    value = bounded_json.loads(data, where=where, max_bytes=MAX_DOCUMENT, error=RegistryError)
    if not isinstance(value, dict):
        raise RegistryError(f"{where}: not a JSON object")
    return value
