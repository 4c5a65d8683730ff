"""The door to a published layer's SBOM (``show --sbom``): found in the stack's publish folder.

The layer is named by its build name; its snippet is looked up as publish names it on this
platform (``--tag-outputs`` first, then untagged), and the SBOM it names is read back and
checked against the recorded size and sha256 (:mod:`envstacks.published.layer_sbom`).
"""

from __future__ import annotations

from pathlib import Path

from envstacks.floor.errors import EnvStacksError, PublishError, SelectionError
from envstacks.floor.platforms import require_host_platform
from envstacks.floor.suggest import did_you_mean
from envstacks.published.folder_manifests import load_manifest_json
from envstacks.published.layer_sbom import read_layer_sbom
from envstacks.published.publish_folder import PublishFolder
from envstacks.stages.stackspec.model import StackSpec

__all__ = ["published_sbom"]


def published_sbom(spec: StackSpec, layer_name: str, *, output_dir: Path | None = None) -> bytes:
    """The SBOM (CycloneDX JSON bytes) publish wrote for ``layer_name`` in the publish folder.

    Raises:
        SelectionError: the stack has no layer of that build name.
        PublishError: the layer is not published there (for this platform), was published
            without an SBOM, or its SBOM is missing or changed.
    """
    names = [layer.build_name for layer in spec.layers]
    if layer_name not in names:
        raise SelectionError(
            f"show --sbom: the stack has no layer {layer_name!r}{did_you_mean(layer_name, names)}",
            hint=f"name a layer by its build name: {', '.join(names)}",
        )
    folder_dir = output_dir or spec.settings.output_dir
    platform = require_host_platform("show --sbom")
    for tagged in (True, False):
        folder = PublishFolder(output_dir=folder_dir, platform=platform, tag_outputs=tagged)
        snippet = folder.snippet_path(layer_name)
        if snippet.is_file():
            try:
                data = load_manifest_json(snippet)
            except (OSError, EnvStacksError) as exc:
                raise PublishError(
                    f"show --sbom: {snippet} cannot be read ({exc})",
                    hint=f"publish layer {layer_name!r} again",
                ) from exc
            if not isinstance(data, dict):
                raise PublishError(f"show --sbom: {snippet} is not a layer's metadata")
            return read_layer_sbom(folder_dir, data, where=str(snippet))
    raise PublishError(
        f"show --sbom: layer {layer_name!r} is not published in {folder_dir} for {platform}",
        hint=f"publish it first (`envstacks publish --include {layer_name}`), or give the "
        "publish folder with --output-dir",
    )
