"""Deploy published layers into a target folder: fetch, verify, unpack safely, place, postinstall.

:func:`deploy` reads top to bottom: open the source and its manifest, select the layers,
repair what an interrupted run left, sort the selected layers into those deployed before from
the same archive (reused) and those to install (a folder in the way of one refuses the deploy
here, before anything is unpacked, unless refusals are only to be reported), then, as one
dependency-ordered pipeline:

* in parallel, for each layer to install: fetch its archive and unpack it into a work folder
  inside the target, verifying size and sha256 on the way (one read of the archive,
  :mod:`envstacks.published.verified_unpack`; large archives in worker processes,
  :mod:`envstacks.stages.deploying.unpack_workers`); refusals change nothing
  (:mod:`envstacks.stages.deploying.unpack_ahead`);
* meanwhile, as soon as a layer is unpacked and the layers it needs are in place (runtime
  first): place it (:mod:`envstacks.stages.deploying.placement`) and run its postinstall,
  recording each step in ``deployed.json`` (:mod:`envstacks.stages.deploying.deploy_record`),
  while the others go on unpacking.

A layer folder the record does not list (deployed by venvstacks' documented procedure) is
adopted if its files are its archive's, else replaced
(:mod:`envstacks.stages.deploying.adoption`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pluggy

from envstacks.floor.errors import DeployError
from envstacks.floor.fs import discard, remove_tree
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import Reporter
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import Source
from envstacks.published.unpack_limits import require_room
from envstacks.published.variant_table import read_variants
from envstacks.stages.deploying.adoption import (
    same_as_unpacked,
)
from envstacks.stages.deploying.configure import configure_in_advance
from envstacks.stages.deploying.deploy_record import DeployedLayer, Deployment
from envstacks.stages.deploying.deploy_result import DeployResult, LayerTransfer, Refusals
from envstacks.stages.deploying.kept_indexes import index_path, store_index
from envstacks.stages.deploying.layer_step import run_layer_step
from envstacks.stages.deploying.placement import (
    aside_path,
    place_layer,
    postinstall_python,
    recover,
    run_postinstall,
    undo_placement,
)
from envstacks.stages.deploying.transfer import Unpacked
from envstacks.stages.deploying.triage import (
    Triage,
    adopt_by_index,
    select_for_platform,
    triage_layers,
)
from envstacks.stages.deploying.unpack_ahead import DOWNLOADS, UnpackAhead
from envstacks.stages.deploying.variant_choice import (
    SlotLinker,
    VariantChoice,
    arrange_layers,
    check_include,
    choose_variants,
)
from envstacks.stages.deploying.variant_selectors import System


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployOptions:
    """Which layers a deploy installs and how."""

    #: fnmatch patterns of layers to deploy (with what they need); empty: all.
    include: tuple[str, ...] = ()
    #: Archives fetched and unpacked at once (default: one per core).
    jobs: int | None = None
    #: The platform whose layers to deploy (default: this machine's).
    platform: str | None = None
    #: Raise when a layer is refused (otherwise only report it in the result).
    raise_on_refusal: bool = True
    #: Run each layer's ``postinstall.py`` (code from the archive). Without it, layers are
    #: still configured (:mod:`envstacks.stages.deploying.configure`), not byte-compiled.
    postinstall: bool = True
    #: ``{framework: variant}`` chosen by hand (``--variant accel=gpu``), over the selectors.
    variants: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: What the variant selectors look at (tests point it at a fake system tree).
    system: System | None = None


def deploy_layers(
    source: Source,
    target: Path,
    options: DeployOptions = DeployOptions(),
    *,
    pm: pluggy.PluginManager,
    reporter: Reporter,
) -> DeployResult:
    """Install the published layers of ``source`` (and the layers they need) into ``target``.

    The orchestrator opens the source and holds ``target`` for the whole deploy
    (:func:`envstacks.orchestrator.distribution.deploy`).

    Args:
        source: the opened source (a folder, a manifest file, a URL or a registry).
        target: the deployment folder (created if missing); layers go side by side in it.
        options: which layers and how (see :class:`DeployOptions`).
        pm: the plugin manager (archive formats).
        reporter: receives progress and messages.

    Raises:
        VerificationError: (first refusal) an archive's size or sha256 differs from the manifest.
        UnsafeArchiveError: (first refusal) an archive holds an entry that could escape the target.
        DeployError: the manifest, the deployment record or a postinstall failed.
    """
    # Absolute and without `..` (a `../t` made the layers' own paths look as if they left it),
    # but symlinks kept: layers link to each other by relative paths.
    target = Path(os.path.abspath(target))  # noqa: PTH100
    platform = options.platform if options.platform is not None else host_platform()
    refusals = Refusals()
    groups = read_variants(source.manifest, where=source.manifest_location)
    choices = choose_variants(
        groups, options.variants, pm=pm, reporter=reporter, system=options.system
    )
    check_include(options.include, groups, choices)
    placed_choices: list[VariantChoice] = []

    def arrange(layers: tuple[ManifestLayer, ...]) -> tuple[ManifestLayer, ...]:
        arranged, chosen = arrange_layers(layers, choices, groups)
        placed_choices.extend(chosen)
        return arranged

    selected = select_for_platform(source, options.include, platform, arrange=arrange)
    deployment = Deployment.load(target)
    recover(deployment, reporter)
    triage = adopt_by_index(source, target, triage_layers(selected, deployment, refusals), reporter)
    if refusals and options.raise_on_refusal:  # a folder in the way: found before unpacking
        raise refusals.combined()
    require_room(target, (layer.unpacked_size for layer in triage.install))
    placed = _Placed()
    slots = SlotLinker(placed_choices, deployment, reporter)
    try:
        with UnpackAhead(
            source,
            triage.install,
            target,
            pm=pm,
            reporter=reporter,
            jobs=options.jobs,
            records=deployment.records,
        ) as ahead:
            _place_all(
                selected,
                ahead,
                triage,
                deployment,
                placed,
                refusals=refusals,
                slots=slots,
                reporter=reporter,
                scripts=options.postinstall,
            )
    except BaseException:
        staying = _undo(placed.placing, deployment, slots, reporter) if placed.undo else None
        _drop_asides(placed.placing if staying is None else staying, target)
        raise
    _drop_asides(placed.placing, target)  # the deploy succeeded: the versions replaced go
    if not refusals:  # keep partial downloads for the next attempt to resume
        remove_tree(target / DOWNLOADS)
    if refusals and options.raise_on_refusal:
        raise refusals.combined()
    order = {layer.install_target: index for index, layer in enumerate(selected)}
    installed = tuple(sorted(placed.installed, key=order.__getitem__))
    adopted = tuple(sorted(placed.adopted, key=order.__getitem__))
    transfers = placed.transfers
    return DeployResult(
        target=target,
        source=source.manifest_location,
        installed=installed,
        reused=triage.reuse,
        adopted=adopted,
        refused=refusals.entries(),
        variants=tuple(placed_choices),
        transfers=(
            *(transfers[name] for name in installed),
            *(LayerTransfer(install_target=name, method="reused") for name in triage.reuse),
            *(
                LayerTransfer(
                    install_target=name,
                    method="adopted",
                    downloaded_bytes=transfers[name].downloaded_bytes
                    if name in transfers
                    else len(triage.adopt.get(name) or b""),
                )
                for name in adopted
            ),
        ),
    )


@dataclass(slots=True)
class _Placed:
    """What a deploy did so far with the layers it placed (in the order it placed them)."""

    #: Unpacked and placed.
    installed: list[str] = dataclasses.field(default_factory=list)
    #: Found in place, unrecorded, with their archive's files: recorded and configured.
    adopted: list[str] = dataclasses.field(default_factory=list)
    #: What each layer unpacked fetched.
    transfers: dict[str, LayerTransfer] = dataclasses.field(default_factory=dict)
    #: The "installing" record of each layer placed, naming the copy it replaced (kept aside
    #: until the deploy succeeds), to undo the placement if the deploy fails.
    placing: list[DeployedLayer] = dataclasses.field(default_factory=list)
    #: Whether a failure is to undo those placements: the unpacking failed (before layers
    #: were placed while others unpacked, such a failure left nothing placed). A failure of a
    #: placement leaves the layers placed before it, as ever.
    undo: bool = False


def _place_all(
    selected: Sequence[ManifestLayer],
    ahead: UnpackAhead,
    triage: Triage,
    deployment: Deployment,
    placed: _Placed,
    *,
    refusals: Refusals,
    slots: SlotLinker,
    reporter: Reporter,
    scripts: bool,
) -> None:
    """Place (or adopt) each layer once it is unpacked and the layers it needs are in place.

    Reused layers whose folder moved are configured again in the same order. A layer that
    needs a refused one is refused too. Work folders handed over by ``ahead`` are removed.
    A failure of the unpacking (or Ctrl-C while waiting for it) sets ``placed.undo``.
    """
    waiting = list(selected)
    while waiting:
        try:
            layer = _next_ready(waiting, ahead)
            name = layer.install_target
            outcome = ahead.take(name) if ahead.installing(name) else None
        except BaseException:
            placed.undo = True
            raise
        if isinstance(outcome, DeployError):
            refusals.add(name, outcome)
        item = outcome if isinstance(outcome, Unpacked) else None
        try:
            slots.link(layer.depends_on)
            if name in triage.reconfigure:
                _reconfigure(layer, deployment, reporter, scripts=scripts)
            if item is not None or name in triage.adopt:
                _place_ready(
                    layer,
                    item,
                    triage,
                    deployment,
                    placed,
                    refusals=refusals,
                    reporter=reporter,
                    scripts=scripts,
                )
        finally:
            if item is not None:
                remove_tree(item.workdir)
    slots.link(layer.install_target for layer in selected)


def _place_ready(
    layer: ManifestLayer,
    item: Unpacked | None,
    triage: Triage,
    deployment: Deployment,
    placed: _Placed,
    *,
    refusals: Refusals,
    reporter: Reporter,
    scripts: bool,
) -> None:
    """Place (or adopt) one layer, unpacked or found in place (refused if it needs a refused)."""
    name = layer.install_target
    if item is not None:
        placed.transfers[name] = item.transfer
    blocked = [dep for dep in layer.depends_on if dep in refusals]
    if blocked:
        refusals.add(name, DeployError(f"layer {name!r} needs {blocked[0]!r}, which was refused"))
    elif item is None or (
        name in triage.candidates
        and same_as_unpacked(item.workdir / name, deployment.target / name, reporter)
    ):
        index = triage.adopt[name] if item is None else item.index
        _adopt(layer, deployment, reporter, scripts=scripts, index=index)
        placed.adopted.append(name)
    else:
        placed.placing.append(_place(layer, item.workdir, deployment, reporter, scripts=scripts))
        if item.index is not None:  # for the deltas of its next update
            store_index(deployment.target, name, item.index)
        placed.installed.append(name)


def _next_ready(waiting: list[ManifestLayer], ahead: UnpackAhead) -> ManifestLayer:
    """Take the first layer of ``waiting`` that is unpacked and whose lower layers went before.

    Waits for the unpacking of more layers while none is (``waiting`` is in dependency order:
    its first layer only waits for its own unpacking).
    """
    names = {layer.install_target for layer in waiting}
    while True:
        ahead.check()
        for layer in waiting:
            if ahead.done(layer.install_target) and names.isdisjoint(layer.depends_on):
                waiting.remove(layer)
                return layer
        ahead.wait()


def _undo(
    placing: Sequence[DeployedLayer], deployment: Deployment, slots: SlotLinker, reporter: Reporter
) -> Sequence[DeployedLayer]:
    """After the unpacking failed, put back what the layers placed meanwhile replaced (last first).

    A new variant whose slot was linked stays (the variant chosen before may be gone already),
    and so do the layers placed before it. Undoing stops at the first step the file system
    refuses (each step leaves a consistent record). Returns the placements that stay, whose
    replaced copies may go.
    """
    for count in range(len(placing), 0, -1):
        record = placing[count - 1]
        name = record.install_target
        if slots.linked(name):
            return placing[:count]
        try:
            undo_placement(deployment, record)
            index_path(deployment.target, name).unlink(missing_ok=True)  # the undone version's
        except OSError as exc:
            # Its record says "installing" again and names the copy it replaced: that copy is
            # kept (not among the placements returned) for the next deploy to put back.
            reporter.warning(
                f"layer {name!r} could not be undone ({exc}); the next deploy puts its previous "
                "version back"
            )
            return placing[: count - 1]
        reporter.info(f"{name}: undone, as the deploy failed")
    return ()


def _drop_asides(placing: Sequence[DeployedLayer], target: Path) -> None:
    """Remove the copies the placed layers replaced (kept aside until the deploy ended)."""
    for record in placing:
        if record.aside is not None:
            discard(target / record.aside)


def _adopt(
    layer: ManifestLayer,
    deployment: Deployment,
    reporter: Reporter,
    *,
    scripts: bool,
    index: bytes | None,
) -> None:
    """Record a layer found in place with its archive's files, and configure it where it is."""
    name = layer.install_target
    final = deployment.target / name
    _configure(layer, final, final, reporter, scripts=scripts)
    _postinstall(layer, deployment.target, reporter, scripts=scripts)
    deployment.put(_record(layer, final))
    if index is not None:  # for the deltas of its next update
        store_index(deployment.target, name, index)


def _record(layer: ManifestLayer, final: Path) -> DeployedLayer:
    """The record of ``layer`` deployed (and configured) at ``final``."""
    return DeployedLayer(
        path=str(final),
        install_target=layer.install_target,
        layer_name=layer.layer_name,
        archive_name=layer.archive_name,
        archive_sha256=layer.archive_sha256,
        tree_sha256=layer.tree_sha256,
    )


def _place(
    layer: ManifestLayer,
    workdir: Path,
    deployment: Deployment,
    reporter: Reporter,
    *,
    scripts: bool,
) -> DeployedLayer:
    """Place one unpacked layer, recording each step so that a killed run can be undone.

    The layer is configured before its rename; its postinstall (if ``scripts``) runs after.
    The copy it replaced stays aside; returns the "installing" record that names it, which
    :func:`envstacks.stages.deploying.placement.undo_placement` needs to put it back.
    """
    name = layer.install_target
    final = deployment.target / name
    _configure(layer, workdir / name, final, reporter, scripts=scripts)
    aside = aside_path(final)
    before = deployment.get(name)
    new = _record(layer, final)
    placing = dataclasses.replace(
        new,
        state="installing",
        previous=before if aside is not None else None,
        aside=aside.name if aside is not None else None,
    )
    deployment.put(placing)
    try:
        place_layer(
            workdir / name,
            final,
            aside=aside,
            configure=lambda: _postinstall(layer, deployment.target, reporter, scripts=scripts),
            configured=lambda: deployment.put(new),
            keep_aside=True,
        )
    except BaseException:
        if before is not None:
            deployment.put(before)
        else:
            deployment.drop(name)
        raise
    finally:
        remove_tree(workdir)
    return placing


def _reconfigure(
    layer: ManifestLayer, deployment: Deployment, reporter: Reporter, *, scripts: bool
) -> None:
    """Configure a reused layer again: the deployment folder moved since it was configured."""
    name = layer.install_target
    final = deployment.target / name
    reporter.info(f"{name}: the deployment folder moved; configuring it again")
    _configure(layer, final, final, reporter, scripts=scripts)
    _postinstall(layer, deployment.target, reporter, scripts=scripts)
    record = deployment.get(name)
    if record is not None:
        deployment.put(dataclasses.replace(record, path=str(deployment.target / name)))


def _configure(
    layer: ManifestLayer, layer_dir: Path, final: Path, reporter: Reporter, *, scripts: bool
) -> None:
    """Write the layer's final configuration into ``layer_dir`` (the layer will be at ``final``)."""
    what = f"layer {layer.install_target!r}"
    configured = configure_in_advance(layer_dir, final, what=what, error=DeployError)
    if not configured and not scripts:
        reporter.warning(
            f"{what} has no layer config envstacks can read, and --no-postinstall was given: "
            f"it is not configured; run {final / 'postinstall.py'} (runtime layer first)"
        )


def _postinstall(layer: ManifestLayer, target: Path, reporter: Reporter, *, scripts: bool) -> None:
    """Run a placed layer's postinstall with the interpreter of its runtime layer, then its step.

    The step is the layer's own ``postinstall_script``
    (:mod:`envstacks.stages.deploying.layer_step`). Nothing runs without ``scripts``
    (``deploy --no-postinstall``).

    Raises:
        DeployError: the script failed, or a layered env's runtime has no interpreter.
    """
    if not scripts:
        return
    name = layer.install_target
    with reporter.task(name, "postinstall"):
        python = postinstall_python(target, name, layer.runtime_layer)
        if python is None:
            raise DeployError(
                f"layer {name!r}: its runtime {layer.runtime_layer!r} has no "
                "Python interpreter to run postinstall.py with",
                hint="redeploy the runtime layer",
            )
        run_postinstall(
            target / name,
            python=python,
            what=f"layer {name!r}",
            reporter=reporter,
            error=DeployError,
        )
        run_layer_step(
            target / name, label=name, what=f"layer {name!r}", reporter=reporter, error=DeployError
        )
