"""``local-export``: deploy built layers into a local folder, deployed names and all, ready to run.

local-export is a local deploy. Each layer is staged (:func:`envstacks.stages.building.stage_layer`:
hard links to the build folder where the file system allows, names ``name@N`` for versioned
layers) into a temporary folder beside its final place, then placed as deploy places a layer
(:func:`envstacks.stages.deploying.placement.place_layer`): the old copy moved aside, the new one
renamed into place and made runnable by its own ``postinstall.py`` (then its own post-install
step, :mod:`envstacks.stages.deploying.layer_step`), the old copy dropped, or brought back if
either fails. Layers go lowest first, so a layer's postinstall finds the layers below it. Each
postinstall runs with the exported runtime's interpreter, as deploy's do (a runtime's own
with envstacks'), so it byte-compiles what staging regenerated in-process.

Metadata goes where venvstacks puts it: ``<output>/__venvstacks__/env_metadata/<layer>.json``
(the published fields of each layer, without the archive fields, plus ``build_id``: which
build the export was made from) and a ``venvstacks.json`` manifest of every layer currently
exported there. A layer whose metadata is unchanged and whose folder exists is skipped; the
folder checked is the install target, so versioned layers are skipped too (venvstacks
compares the folder with the build name and re-exports them every time). A re-export removes
the layer's metadata first, so an interrupted export is redone next time (and what it left
under temporary names is removed). Older versions of a versioned layer (``name@1`` once
``name@2`` is exported) are left in place for the applications exported with them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstacks.floor import platforms
from envstacks.floor.errors import ExportError
from envstacks.floor.fs import (
    read_json,
    remove_path,
    temporary_name,
    write_json,
)
from envstacks.floor.report import Reporter
from envstacks.published.publish_folder import METADATA_DIR, PublishFolder, manifest
from envstacks.stages.building import stage_layer
from envstacks.stages.building.layer_description import describe_built_layer
from envstacks.stages.deploying.configure import configure_in_advance
from envstacks.stages.deploying.layer_step import run_layer_step
from envstacks.stages.deploying.placement import (
    aside_path,
    place_layer,
    postinstall_python,
    run_postinstall,
)
from envstacks.stages.deploying.variant_choice import VariantChoice, link_slot
from envstacks.stages.locking import LockState
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import FrameworkSpec, LayerSpec, StackSpec
from envstacks.stages.stackspec.variants import slot_name


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportResult:
    """What happened to one layer."""

    layer: str
    install_target: str
    #: The exported layer folder.
    path: Path
    #: False: the export was up to date and left alone (dry run: would be left alone).
    exported: bool
    seconds: float
    #: Nothing was written: ``exported`` says whether the layer would be exported.
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportOptions:
    """Where layers are exported (``None``: the stack's ``export-dir``), and whether all are."""

    output_dir: Path | None = None
    #: Export layers whose export is up to date too.
    force: bool = False
    #: Say which layers would be exported; write nothing (``local-export --dry-run``).
    dry_run: bool = False
    #: Run each layer's ``postinstall.py`` and its own post-install step (its
    #: ``postinstall_script``). Without it, layers are still configured
    #: (:mod:`envstacks.stages.deploying.configure`), not byte-compiled where staging changed
    #: files (``local-export --no-postinstall``).
    postinstall: bool = True


def export_layers(
    spec: StackSpec,
    layers: Sequence[LayerSpec],
    options: ExportOptions = ExportOptions(),
    *,
    lock_states: Mapping[str, LockState],
    reporter: Reporter,
) -> list[ExportResult]:
    """Export built layers into the export folder and make them runnable there.

    Returns one result per layer, in the order given. A dry run checks the same and says
    which layers would be exported, writing nothing.

    Raises:
        ExportError: a layer has no valid lock, needs lower layers that are neither exported
            nor part of this export, or its postinstall failed.
        NotBuiltError: a layer is not built, or was built from another lock.
    """
    output_dir = options.output_dir or spec.settings.export_dir
    force = options.force
    platform = platforms.require_host_platform("local-export")
    folder = PublishFolder(output_dir=output_dir.absolute(), platform=platform)
    order = {layer.build_name: index for index, layer in enumerate(spec.layers)}
    ordered = sorted(layers, key=lambda layer: order[layer.build_name])
    targets = {name: state.install_target for name, state in lock_states.items()}
    wanted = {layer.build_name: _metadata(spec, layer, lock_states, platform) for layer in ordered}
    _check_lower_layers(spec, ordered, folder.output_dir, targets)
    if options.dry_run:
        return [_would_export(layer, folder, wanted[layer.build_name], force) for layer in layers]
    folder.output_dir.mkdir(parents=True, exist_ok=True)
    for stale in folder.remove_stale_temporaries():
        reporter.debug(f"removed {stale}, left by an interrupted export")
    results: dict[str, ExportResult] = {}
    for layer in ordered:
        results[layer.build_name] = _export_one(
            spec,
            layer,
            folder,
            wanted[layer.build_name],
            targets,
            reporter=reporter,
            force=force,
            postinstall=options.postinstall,
        )
        _link_fallback_slot(folder.output_dir, layer, targets)
    _write_manifest(spec, folder)
    return [results[layer.build_name] for layer in layers]


def _metadata(
    spec: StackSpec, layer: LayerSpec, lock_states: Mapping[str, LockState], platform: str
) -> dict[str, Any]:
    """The layer's published fields, plus which build the export is made from."""
    built = describe_built_layer(spec, layer, lock_states, platform=platform, error=ExportError)
    return {**built.metadata, "build_id": built.build.build_id}


def _check_lower_layers(
    spec: StackSpec, ordered: Sequence[LayerSpec], output_dir: Path, targets: Mapping[str, str]
) -> None:
    """Refuse to export a layer whose lower layers are neither exported nor being exported."""
    exporting = {layer.build_name for layer in ordered}
    for layer in ordered:
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
                hint="export the layers it depends on too "
                "(--include them, or --publish-dependencies)",
            )


def _up_to_date(folder: PublishFolder, layer: LayerSpec, metadata: Mapping[str, Any]) -> bool:
    """Whether the layer is exported in ``folder`` from the same build, under the same name."""
    destination = folder.output_dir / str(metadata["install_target"])
    return read_json(folder.snippet_path(layer.build_name)) == dict(metadata) and (
        destination.is_dir()
    )


def _would_export(
    layer: LayerSpec, folder: PublishFolder, metadata: Mapping[str, Any], force: bool
) -> ExportResult:
    """What exporting the layer would do (``local-export --dry-run``)."""
    return ExportResult(
        layer=layer.build_name,
        install_target=str(metadata["install_target"]),
        path=folder.output_dir / str(metadata["install_target"]),
        exported=force or not _up_to_date(folder, layer, metadata),
        seconds=0.0,
        dry_run=True,
    )


def _export_one(
    spec: StackSpec,
    layer: LayerSpec,
    folder: PublishFolder,
    metadata: Mapping[str, Any],
    targets: Mapping[str, str],
    *,
    reporter: Reporter,
    force: bool,
    postinstall: bool = True,
) -> ExportResult:
    """Export one layer unless its export is up to date."""
    started = time.monotonic()
    install_target = str(metadata["install_target"])
    destination = folder.output_dir / install_target
    snippet = folder.snippet_path(layer.build_name)
    exported = force or not _up_to_date(folder, layer, metadata)
    if exported:
        snippet.unlink(missing_ok=True)
        _stage_and_place(
            spec, layer, destination, targets, reporter=reporter, postinstall=postinstall
        )
        write_json(snippet, dict(metadata))
        reporter.debug(f"{layer.build_name}: exported to {destination}")  # the result says it
    else:
        reporter.debug(f"{layer.build_name}: export {destination} is up to date")
    return ExportResult(
        layer=layer.build_name,
        install_target=install_target,
        path=destination,
        exported=exported,
        seconds=time.monotonic() - started,
    )


def _stage_and_place(
    spec: StackSpec,
    layer: LayerSpec,
    destination: Path,
    targets: Mapping[str, str],
    *,
    reporter: Reporter,
    postinstall: bool = True,
) -> None:
    """Stage the built layer beside ``destination``, place it there, run its postinstall and step.

    Without ``postinstall``, neither runs (the layer is configured before it is placed).
    """
    with reporter.task(layer.build_name, "export", total=3) as task:
        task.note("staging")
        staging = destination.parent / temporary_name(destination.name)

        runtime = targets.get(spec.runtime_of(layer).build_name, destination.name)
        # The runtime's interpreter, as deploy does: it byte-compiles in the same process.
        python = postinstall_python(destination.parent, destination.name, runtime)

        def configure() -> None:
            task.advance()
            task.note("postinstall")
            if not postinstall:
                return
            what = f"the exported layer {destination}"
            run_postinstall(
                destination,
                python=python or Path(sys.executable),
                what=what,
                reporter=reporter,
                error=ExportError,
            )
            run_layer_step(
                destination, label=layer.build_name, what=what, reporter=reporter, error=ExportError
            )

        try:
            stage_layer(
                spec, layer, stack_paths.env_path(spec, layer), staging, install_targets=targets
            )
            # Configured before the rename: a layer is never exported unconfigured.
            configure_in_advance(
                staging, destination, what=f"layer {layer.build_name!r}", error=ExportError
            )
            task.advance()
            place_layer(staging, destination, aside=aside_path(destination), configure=configure)
        finally:
            remove_path(staging)
        task.advance()


def _link_fallback_slot(output_dir: Path, layer: LayerSpec, targets: Mapping[str, str]) -> None:
    """Link a framework's slot to its exported fallback variant (unless it names another).

    Layers above a framework with variants reach it through the slot; an export holds the
    fallback (a deploy chooses among the published variants).
    """
    if not isinstance(layer, FrameworkSpec) or not layer.is_fallback or not layer.variant_of:
        return
    slot = output_dir / slot_name(layer.variant_of)
    if slot.is_symlink() and (output_dir / slot.readlink()).is_dir():
        return
    target = targets.get(layer.build_name, layer.build_name)
    link_slot(
        output_dir,
        VariantChoice(
            framework=layer.variant_of,
            variant=layer.variant or "",
            layer_name=layer.build_name,
            install_target=target,
            slot=slot.name,
            reason="the fallback (local-export)",
        ),
    )


def _write_manifest(spec: StackSpec, folder: PublishFolder) -> None:
    """List every layer of the stack currently exported in the folder."""
    present = []
    for layer in spec.layers:
        data = read_json(folder.snippet_path(layer.build_name))
        if data is not None and (folder.output_dir / str(data.get("install_target"))).is_dir():
            present.append(data)
    write_json(folder.manifest_path, manifest(order=spec.build_names, layers=present))


def remove_exports(export_dir: Path, layer_names: Collection[str]) -> list[Path]:
    """Remove the exported folders of the layers ``layer_names`` (build names) and the metadata.

    Folders of other names (``name@N`` counts as ``name``) are left alone.
    """
    removed: list[Path] = []
    if not export_dir.is_dir():
        return removed
    for path in sorted(export_dir.iterdir()):
        if path.is_dir() and path.name.split("@", 1)[0] in layer_names:
            remove_path(path)
            removed.append(path)
    metadata = export_dir / METADATA_DIR
    if metadata.is_dir():
        remove_path(metadata)
        removed.append(metadata)
    return removed
