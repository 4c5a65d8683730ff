"""What a deploy does with each layer it selects: reuse it, install it, adopt it, or refuse it.

The manifest's layers are selected for the platform (a merged index lists several), then
sorted against the deployment record: layers deployed before from the same archive (or the
same tree) are reused; folders the record does not list are adopted when their files are the
published ones (:mod:`envstacks.stages.deploying.adoption`), installed over when they are
layers, refused when they are not; everything else is installed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envstacks.floor.errors import DeployError
from envstacks.floor.report import Reporter
from envstacks.published.layer_config import LAYER_CONFIG
from envstacks.published.manifest import ManifestLayer, parse_manifest, select_layers
from envstacks.published.publish_folder import METADATA_DIR
from envstacks.published.sources import Source
from envstacks.stages.deploying.adoption import is_layer_folder, matching_indexes
from envstacks.stages.deploying.deploy_record import DeployedLayer, Deployment
from envstacks.stages.deploying.deploy_result import Refusals

__all__ = ["Triage", "adopt_by_index", "same_archive", "select_for_platform", "triage_layers"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Triage:
    """What to do with each selected layer, told from the deployment record."""

    #: Deployed before from the same archive (or tree): left as they are.
    reuse: tuple[str, ...]
    #: Reused layers whose folder moved since their postinstall ran: run it again.
    reconfigure: frozenset[str]
    #: To fetch, unpack and place.
    install: tuple[ManifestLayer, ...]
    #: Layers to install whose folder is there, unrecorded (deployed by venvstacks' procedure):
    #: adopted if the unpacked archive shows the same files, else replaced.
    candidates: frozenset[str] = frozenset()
    #: Unrecorded folders found to hold their published file index's files: adopted as they
    #: are, without unpacking (the index kept, for deltas).
    adopt: Mapping[str, bytes] = dataclasses.field(default_factory=dict)


def select_for_platform(
    src: Source,
    include: Sequence[str],
    platform: str | None,
    *,
    arrange: Callable[[tuple[ManifestLayer, ...]], tuple[ManifestLayer, ...]] | None = None,
) -> tuple[ManifestLayer, ...]:
    """The manifest's layers ``include`` selects, dependencies first; all for ``platform``.

    A manifest of several platforms (``envstacks merge``'s index) gives its ``platform`` ones.
    ``arrange`` rewrites the platform's layers before selection (one variant per framework).
    """
    where = src.manifest_location
    layers = parse_manifest(src.manifest, where=where)
    if any(layer.target_platform == platform for layer in layers):
        layers = tuple(layer for layer in layers if layer.target_platform in (platform, None))
    others = sorted(
        {layer.target_platform for layer in layers if layer.target_platform} - {platform}
    )
    if platform is not None and others:
        raise DeployError(
            f"{where}: published for {', '.join(others)}, but this machine is {platform}",
            hint="deploy the archives published on (or for) this platform",
        )
    if arrange is not None:
        layers = arrange(layers)
    return select_layers(layers, include, where=where)


def triage_layers(
    selected: Sequence[ManifestLayer], deployment: Deployment, refusals: Refusals
) -> Triage:
    """Reuse what is deployed from the same archive; refuse folders that are not layers."""
    target = deployment.target
    reuse: list[str] = []
    reconfigure: set[str] = set()
    install: list[ManifestLayer] = []
    candidates: set[str] = set()
    for layer in selected:
        name = layer.install_target
        record = deployment.get(name)
        if record is not None and same_archive(record, layer) and (target / name).is_dir():
            reuse.append(name)
            if record.path != str(target / name):
                reconfigure.add(name)
        elif record is None and os.path.lexists(target / name):
            if is_layer_folder(target / name):
                candidates.add(name)
                install.append(layer)
                continue
            refusals.add(
                name,
                DeployError(
                    f"{target / name} exists, is not a layer (no {LAYER_CONFIG}) and was not "
                    f"deployed by envstacks (no record in {METADATA_DIR}/deployed.json); it was "
                    "left untouched",
                    hint="move it away or deploy into another folder",
                ),
            )
        else:
            install.append(layer)
    return Triage(
        reuse=tuple(reuse),
        reconfigure=frozenset(reconfigure),
        install=tuple(install),
        candidates=frozenset(candidates),
    )


def adopt_by_index(src: Source, target: Path, triage: Triage, reporter: Reporter) -> Triage:
    """The triage with the candidates whose files are their published index's set to adopt.

    The others stay to install: the deployer compares their archive once it is unpacked.
    """
    layers = [layer for layer in triage.install if layer.install_target in triage.candidates]
    adopt = matching_indexes(src, layers, target, reporter)
    if not adopt:
        return triage
    return dataclasses.replace(
        triage,
        install=tuple(layer for layer in triage.install if layer.install_target not in adopt),
        candidates=triage.candidates - set(adopt),
        adopt=adopt,
    )


def same_archive(record: DeployedLayer, layer: ManifestLayer) -> bool:
    """Whether a deployed layer came from this archive (or the same tree, recompressed)."""
    if record.state != "installed":
        return False
    if record.archive_sha256 == layer.archive_sha256:
        return True
    return record.tree_sha256 is not None and record.tree_sha256 == layer.tree_sha256
