"""The build request of a layer to publish, and whether it changed since the last publish.

A layer's request is its metadata minus what only the archive tells (size, hashes). When it
equals the snippet of the last publish in the same folder and that archive is still there
with the recorded size and sha256, the layer is skipped without staging or packing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor.errors import PublishError
from envstacks.floor.fs import json_sha256, read_json
from envstacks.published.archive_protocol import ArchiveFormat
from envstacks.published.publish_folder import (
    METADATA_DIR,
    SBOM_DIR,
    PublishFolder,
    archive_matches,
    request_metadata,
    without_outputs,
)
from envstacks.stages.building.layer_description import LockInfo, describe_built_layer
from envstacks.stages.packing.hashcache import ArchiveHashes
from envstacks.stages.stackspec.model import LayerSpec, StackSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishPlan:
    """One layer's build request and where its files go."""

    layer: LayerSpec
    request: dict[str, Any]
    archive: Path
    snippet: Path
    #: The previous snippet, when the layer is skipped.
    unchanged: dict[str, Any] | None = None


def plan_layer(
    spec: StackSpec,
    layer: LayerSpec,
    lock_states: Mapping[str, LockInfo],
    fmt: ArchiveFormat,
    folder: PublishFolder,
    *,
    force: bool,
    hashes: ArchiveHashes | None = None,
    compression: str | None = None,
) -> PublishPlan:
    """The layer's build request, and the previous snippet if nothing changed since.

    The previous archive's sha256 is checked through ``hashes`` (a fresh cache by default).
    ``compression``, when not the format's default, is recorded (``archive_compression``): a
    publish at another level writes the layer again, and readers can tell what it used.

    Raises:
        PublishError: the layer does not target ``platform``, or has no valid lock.
        NotBuiltError: the layer is not built from its current lock.
    """
    platform, output_dir = folder.platform, folder.output_dir
    if not layer.targets(platform):
        raise PublishError(
            f"layer {layer.build_name!r} ({layer.toml_path}) does not target {platform} "
            f"(platforms: {', '.join(layer.platforms) or 'none'})",
            hint="publish it on one of its platforms, or add this one to its `platforms`",
        )
    built = describe_built_layer(spec, layer, lock_states, platform=platform)
    # What the build was made from (its content, never its paths): a rebuild that changed
    # the environment without changing the lock is republished.
    base = {**built.metadata, "build_inputs_hash": json_sha256(dict(built.build.inputs))}
    if compression is not None:
        base["archive_compression"] = compression
    snippet = folder.snippet_path(layer.build_name)
    previous = read_json(snippet)
    last_build = _last_archive_build(previous, lock_version=base["lock_version"])

    def request(build: int) -> dict[str, Any]:
        name = folder.archive_name(base["install_target"], suffix=fmt.suffix, build=build)
        return request_metadata(
            base, archive_format=fmt.name, archive_file=name, archive_build=build, platform=platform
        )

    same = request(last_build or 1)
    hashes = hashes if hashes is not None else ArchiveHashes(output_dir, None)
    if not force and previous is not None and _still_published(previous, same, hashes):
        return PublishPlan(
            layer=layer,
            request=same,
            archive=output_dir / same["archive_name"],
            snippet=snippet,
            unchanged=previous,
        )
    new = request(last_build + 1 if last_build else 1)
    return PublishPlan(
        layer=layer, request=new, archive=output_dir / new["archive_name"], snippet=snippet
    )


def _last_archive_build(previous: Mapping[str, Any] | None, *, lock_version: object) -> int | None:
    """The ``archive_build`` of the last publish of the same lock version, if any."""
    if previous is None or previous.get("lock_version") != lock_version:
        return None
    build = previous.get("archive_build")
    return build if isinstance(build, int) and build > 0 else None


def _still_published(
    previous: Mapping[str, Any], request: Mapping[str, Any], hashes: ArchiveHashes
) -> bool:
    """Whether the last publish had this request and its archive is intact (size and sha256).

    A layer published without an SBOM (by an earlier envstacks), or whose SBOM is gone, is
    published again.
    """
    sbom = previous.get("sbom")
    if not isinstance(sbom, Mapping):
        return False
    sbom_file = hashes.output_dir / METADATA_DIR / SBOM_DIR / str(sbom.get("name"))
    return (
        without_outputs(previous) == request
        and archive_matches(sbom_file, {"archive_size": sbom.get("size")}, hashes=None)
        and archive_matches(hashes.output_dir / request["archive_name"], previous, hashes=hashes)
    )
