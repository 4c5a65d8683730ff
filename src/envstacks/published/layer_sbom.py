"""A layer's SBOM in a publish folder: its file name, the snippet field naming it, reading it back.

Publish writes one CycloneDX 1.6 JSON document per layer archive
(:mod:`envstacks.stages.packing.sbom_writer` makes it) as
``__venvstacks__/sbom/<archive name>.cdx.json`` and names it in the layer's snippet and manifest
entry as ``sbom``: ``{"name": ..., "size": ..., "sha256": ...}``, the shape of ``file_index``.
It lives in its own folder, not in ``env_metadata``, whose ``*.json`` files are snippets to
venvstacks' readers. Merge and push carry it like every file an entry names
(:mod:`envstacks.published.folder_manifests`); deploy does not need it and ignores the field.
Each document's ``serialNumber`` is derived from the layer's deployed name and what its build
was made from (:func:`serial_number`), so an upper layer's SBOM links to the SBOMs of the
layers below it (``urn:cdx:<serial>/1``) without reading them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envstacks.floor.errors import PublishError
from envstacks.published.publish_folder import METADATA_DIR, SBOM_DIR

__all__ = [
    "FIELD",
    "MEDIA_TYPE",
    "SBOM_SUFFIX",
    "SPEC_VERSION",
    "bom_link",
    "read_layer_sbom",
    "sbom_name",
    "serial_number",
]

#: Suffix of a layer's SBOM after its archive's name (CycloneDX's recommended ``.cdx.json``).
SBOM_SUFFIX = ".cdx.json"
#: The snippet and manifest field naming the SBOM.
FIELD = "sbom"
#: The CycloneDX version written.
SPEC_VERSION = "1.6"
#: CycloneDX JSON's media type (for the OCI descriptor of a pushed SBOM).
MEDIA_TYPE = "application/vnd.cyclonedx+json"
#: Largest SBOM read back (one entry per distribution: kilobytes in practice).
MAX_SBOM = 64 << 20
#: Namespace of the serial numbers (a fixed UUID: the same layer build gives the same one).
_NAMESPACE = uuid.UUID("6f0a3c1e-9a4b-5c2d-8e7f-0b1c2d3e4f50")


def sbom_name(archive_name: str) -> str:
    """The file name of a layer's SBOM: ``<archive name>.cdx.json``."""
    return f"{archive_name}{SBOM_SUFFIX}"


def serial_number(install_target: str, build_inputs_hash: str) -> str:
    """The ``serialNumber`` of a layer build's SBOM: ``urn:uuid:`` + a name-based UUID."""
    return uuid.uuid5(_NAMESPACE, f"{install_target}\0{build_inputs_hash}").urn


def bom_link(serial: str, ref: str | None = None) -> str:
    """A CycloneDX BOM link to version 1 of the SBOM ``serial`` (and to ``ref`` in it)."""
    link = f"urn:cdx:{serial.removeprefix('urn:uuid:')}/1"
    return f"{link}#{ref}" if ref else link


def read_layer_sbom(output_dir: Path, snippet: Mapping[str, Any], *, where: str) -> bytes:
    """The SBOM a layer's snippet (or manifest entry) names, checked against its size and sha256.

    Raises:
        PublishError: the entry names no SBOM (published before envstacks wrote them), the
            field is malformed, or the file is missing or not the recorded one.
    """
    recorded = snippet.get(FIELD)
    layer = snippet.get("layer_name", "?")
    if recorded is None:
        raise PublishError(
            f"{where}: layer {layer!r} was published without an SBOM",
            hint="publish it again with this envstacks (`envstacks publish --force`)",
        )
    name = recorded.get("name") if isinstance(recorded, Mapping) else None
    if (
        not isinstance(name, str)
        or "/" in name
        or "\\" in name
        or name in ("", ".", "..")
        or not name.endswith(SBOM_SUFFIX)
    ):
        raise PublishError(f"{where}: layer {layer!r}: malformed {FIELD} field {recorded!r}")
    path = output_dir / METADATA_DIR / SBOM_DIR / name
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_SBOM + 1)
    except OSError as exc:
        raise PublishError(
            f"{where}: the SBOM of layer {layer!r} cannot be read ({path}: {exc.strerror})",
            hint="publish the layer again",
        ) from exc
    sha = hashlib.sha256(data).hexdigest()
    if (len(data), sha) != (recorded.get("size"), recorded.get("sha256")):
        raise PublishError(
            f"{where}: {path} is not the SBOM the metadata of layer {layer!r} records "
            f"({len(data)} bytes, sha256 {sha[:16]}...)",
            hint="it was changed after it was published; publish the layer again",
        )
    return data
