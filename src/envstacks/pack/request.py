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

from envstacks.build.record import require_current_build
from envstacks.errors import PublishError
from envstacks.fs import json_sha256, read_json
from envstacks.pack import metadata as md
from envstacks.pack.archive_base import ArchiveFormat
from envstacks.spec.model import LayerSpec, StackSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishPlan:
    """One layer's build request and where its files go."""

    layer: LayerSpec
    request: dict[str, Any]
    archive: Path
    snippet: Path
    #: The previous snippet, when the layer is skipped.
    unchanged: dict[str, Any] | None = None


def build_inputs_hash(spec: StackSpec, layer: LayerSpec, requirements_hash: object) -> str:
    """``sha256:`` of what the layer's last build was made from (its content, never its paths).

    Raises:
        NotBuiltError: the layer was never built, or was built from another lock.
    """
    record = require_current_build(spec, layer, requirements_hash=requirements_hash)
    return json_sha256(dict(record.inputs))


def plan_layer(
    spec: StackSpec,
    layer: LayerSpec,
    lock_states: Mapping[str, md.LockInfo],
    fmt: ArchiveFormat,
    *,
    platform: str,
    output_dir: Path,
    tag_outputs: bool,
    force: bool,
) -> PublishPlan:
    """The layer's build request, and the previous snippet if nothing changed since."""
    if not layer.targets(platform):
        raise PublishError(
            f"layer {layer.build_name!r} ({layer.toml_path}) does not target {platform} "
            f"(platforms: {', '.join(layer.platforms) or 'none'})",
            hint="publish it on one of its platforms, or add this one to its `platforms`",
        )
    base = md.layer_metadata(spec, layer, lock_states, platform=platform)
    base["build_inputs_hash"] = build_inputs_hash(spec, layer, base["requirements_hash"])
    snippet = md.snippet_path(
        output_dir, layer.build_name, platform=platform, tag_outputs=tag_outputs
    )
    previous = read_json(snippet)
    previous_build = None
    if previous is not None and previous.get("lock_version") == base["lock_version"]:
        build = previous.get("archive_build")
        previous_build = build if isinstance(build, int) and build > 0 else None

    def request(build: int) -> dict[str, Any]:
        name = md.archive_name(
            base["install_target"],
            suffix=fmt.suffix,
            platform=platform,
            build=build,
            tag_outputs=tag_outputs,
        )
        return md.request_metadata(
            base, archive_format=fmt.name, archive_file=name, archive_build=build, platform=platform
        )

    same = request(previous_build or 1)
    if (
        not force
        and previous is not None
        and md.without_outputs(previous) == same
        and md.archive_matches(output_dir / same["archive_name"], previous, check_hash=True)
    ):
        return PublishPlan(
            layer=layer,
            request=same,
            archive=output_dir / same["archive_name"],
            snippet=snippet,
            unchanged=previous,
        )
    new = request(previous_build + 1 if previous_build else 1)
    return PublishPlan(
        layer=layer, request=new, archive=output_dir / new["archive_name"], snippet=snippet
    )
