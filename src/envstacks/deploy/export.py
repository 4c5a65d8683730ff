"""``local-export``: copy built layers into a folder, deployed names and all, ready to run.

Each layer is staged (:func:`envstacks.build.stage.stage_layer`: hard links to the build
folder where the file system allows, names ``name@N`` for versioned layers) into a temporary
folder beside its final place, renamed into place, and made runnable by its own
``postinstall.py`` run with envstacks' interpreter (any Python 3 can run it). Layers go
lowest first, so a layer's postinstall finds the layers below it.

Metadata goes where venvstacks puts it: ``<output>/__venvstacks__/env_metadata/<layer>.json``
(the published fields of each layer, without the archive fields, plus ``build_id``: which
build the export was made from) and a ``venvstacks.json`` manifest of every layer currently
exported there. A layer whose metadata is unchanged and whose folder exists is skipped; the
folder checked is the install target, so versioned layers are skipped too (venvstacks
compares the folder with the build name and re-exports them every time). A re-export removes
the layer's metadata first, so an interrupted export is redone next time. Older versions of a
versioned layer (``name@1`` once ``name@2`` is exported) are left in place for the
applications exported with them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks import layout, platforms, proc
from envstacks.build import stage_layer
from envstacks.build.record import require_current_build
from envstacks.errors import ExportError, PublishError
from envstacks.fs import (
    read_json,
    remove_path,
    remove_stale_temporaries,
    temporary_name,
    write_json,
)
from envstacks.lock import LockState
from envstacks.pack import metadata as md
from envstacks.report import Reporter
from envstacks.spec.model import LayerSpec, StackSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportResult:
    """What happened to one layer."""

    layer: str
    install_target: str
    #: The exported layer folder.
    path: Path
    #: False: the export was up to date and left alone.
    exported: bool
    seconds: float


def _layer_metadata(
    spec: StackSpec, layer: LayerSpec, lock_states: Mapping[str, LockState], platform: str
) -> dict[str, Any]:
    try:
        data = md.layer_metadata(spec, layer, lock_states, platform=platform)
    except PublishError as exc:
        raise ExportError(exc.message, hint=exc.hint) from exc
    record = require_current_build(spec, layer, requirements_hash=data["requirements_hash"])
    data["build_id"] = record.build_id
    return data


def _check_lower_layers(
    spec: StackSpec,
    layer: LayerSpec,
    output_dir: Path,
    targets: Mapping[str, str],
    exporting: set[str],
) -> None:
    missing = [
        targets.get(dep.build_name, dep.build_name)
        for dep in spec.dependencies(layer)
        if dep.build_name not in exporting
        and not (output_dir / targets.get(dep.build_name, dep.build_name)).is_dir()
    ]
    if missing:
        raise ExportError(
            f"layer '{layer.build_name}' needs {', '.join(repr(name) for name in missing)} "
            f"beside it in {output_dir}, which this export does not provide",
            hint="export the layers it depends on too (--include them, or --publish-dependencies)",
        )


def export_layers(
    spec: StackSpec,
    layers: Sequence[LayerSpec],
    output_dir: Path,
    *,
    lock_states: Mapping[str, LockState],
    reporter: Reporter,
    force: bool = False,
) -> list[ExportResult]:
    """Export built layers into ``output_dir`` and make them runnable there.

    Returns one result per layer, in the order given.

    Raises:
        ExportError: a layer is not built, was built from another lock, needs lower layers
            that are neither exported nor part of this export, or its postinstall failed.
    """
    output_dir = output_dir.absolute()
    platform = platforms.require_host_platform("local-export")
    order = {layer.build_name: index for index, layer in enumerate(spec.layers)}
    ordered = sorted(layers, key=lambda layer: order[layer.build_name])
    targets = {name: state.install_target for name, state in lock_states.items()}
    exporting = {layer.build_name for layer in ordered}
    wanted = {
        layer.build_name: _layer_metadata(spec, layer, lock_states, platform) for layer in ordered
    }
    for layer in ordered:
        _check_lower_layers(spec, layer, output_dir, targets, exporting)
    output_dir.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temporaries(output_dir):
        reporter.debug(f"removed {stale}, left by an interrupted export")
    results: dict[str, ExportResult] = {}
    for layer in ordered:
        results[layer.build_name] = _export_one(
            spec,
            layer,
            output_dir=output_dir,
            metadata=wanted[layer.build_name],
            targets=targets,
            reporter=reporter,
            force=force,
        )
    _write_manifest(spec, output_dir)
    return [results[layer.build_name] for layer in layers]


def _snippet(output_dir: Path, layer: LayerSpec) -> Path:
    return md.metadata_dir(output_dir) / md.SNIPPET_DIR / f"{layer.build_name}.json"


def _export_one(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    output_dir: Path,
    metadata: Mapping[str, Any],
    targets: Mapping[str, str],
    reporter: Reporter,
    force: bool,
) -> ExportResult:
    started = time.monotonic()
    target = str(metadata["install_target"])
    destination = output_dir / target
    snippet = _snippet(output_dir, layer)
    if not force and read_json(snippet) == dict(metadata) and destination.is_dir():
        reporter.debug(f"{layer.build_name}: export {destination} is up to date")
        return ExportResult(
            layer=layer.build_name,
            install_target=target,
            path=destination,
            exported=False,
            seconds=time.monotonic() - started,
        )
    snippet.unlink(missing_ok=True)
    with reporter.task(layer.build_name, "export", total=3) as task:
        task.note("staging")
        staging = output_dir / temporary_name(target)
        try:
            stage_layer(spec, layer, layout.env_path(spec, layer), staging, install_targets=targets)
            task.advance()
            remove_path(destination)
            staging.rename(destination)
        finally:
            remove_path(staging)
        task.advance()
        task.note("postinstall")
        proc.run(
            # Any Python 3 runs postinstall.py; ours is at hand. -I: ignore PYTHON* settings.
            [sys.executable, "-X", "utf8", "-I", destination / layout.POSTINSTALL],
            reporter=reporter,
            what=f"run the postinstall script of the exported layer {destination}",
            error=ExportError,
        )
        task.advance()
    write_json(snippet, dict(metadata))
    reporter.info(f"{layer.build_name}: exported to {destination}")
    return ExportResult(
        layer=layer.build_name,
        install_target=target,
        path=destination,
        exported=True,
        seconds=time.monotonic() - started,
    )


def _write_manifest(spec: StackSpec, output_dir: Path) -> None:
    """List every layer of the stack currently exported in ``output_dir``."""
    present = []
    for layer in spec.layers:
        data = read_json(_snippet(output_dir, layer))
        if data is not None and (output_dir / str(data.get("install_target"))).is_dir():
            present.append(data)
    write_json(md.metadata_dir(output_dir) / "venvstacks.json", md.manifest(spec, present))
