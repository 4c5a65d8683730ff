"""Deploy published layers into a target folder: fetch, verify, unpack safely, place, postinstall.

:func:`deploy` reads top to bottom: open the source and its manifest, select the layers,
repair what an interrupted run left, sort the selected layers into those deployed before from
the same archive (reused) and those to install (a folder in the way of one refuses the deploy
here, before anything is unpacked, unless refusals are only to be reported), then

1. in parallel, for each layer to install: fetch its archive and unpack it into a work folder
   inside the target, verifying size and sha256 on the way (one read of the archive,
   :mod:`envstacks.published.verified_unpack`; large archives in worker processes,
   :mod:`envstacks.stages.deploying.unpack_workers`); refusals end here and change nothing;
2. in dependency order (runtime first): place it (:mod:`envstacks.stages.deploying.placement`),
   recording each step in ``deployed.json`` (:mod:`envstacks.stages.deploying.deploy_record`).

A layer folder the record does not list (deployed by venvstacks' documented procedure) is
adopted if its files are its archive's, else replaced
(:mod:`envstacks.stages.deploying.adoption`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pluggy

from envstacks.floor.errors import DeployError, VerificationError
from envstacks.floor.fs import remove_tree, temporary_name
from envstacks.floor.platforms import host_platform
from envstacks.floor.report import BYTES, Reporter
from envstacks.floor.workers import Cancellation, run_parallel
from envstacks.published.archive_fetch import fetch_archive
from envstacks.published.archive_formats import format_for_archive
from envstacks.published.manifest import ManifestLayer
from envstacks.published.sources import Source
from envstacks.published.unpack_limits import require_room
from envstacks.published.variant_table import read_variants
from envstacks.published.verified_unpack import UnpackJob
from envstacks.stages.deploying.adoption import (
    same_as_unpacked,
)
from envstacks.stages.deploying.configure import configure_in_advance
from envstacks.stages.deploying.deploy_record import DeployedLayer, Deployment
from envstacks.stages.deploying.deploy_result import DeployResult, LayerTransfer, Refusals
from envstacks.stages.deploying.kept_indexes import store_index
from envstacks.stages.deploying.layer_step import run_layer_step
from envstacks.stages.deploying.placement import (
    aside_path,
    place_layer,
    postinstall_python,
    recover,
    run_postinstall,
)
from envstacks.stages.deploying.transfer import Unpacked, unpack_cheapest
from envstacks.stages.deploying.triage import (
    Triage,
    adopt_by_index,
    select_for_platform,
    triage_layers,
)
from envstacks.stages.deploying.unpack_workers import Unpackers
from envstacks.stages.deploying.variant_choice import (
    SlotLinker,
    VariantChoice,
    arrange_layers,
    check_include,
    choose_variants,
)
from envstacks.stages.deploying.variant_selectors import System

#: Where downloaded archives are kept until their layer is in place.
DOWNLOADS = ".envstacks-downloads"


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
    target = Path.cwd() / target  # absolute, but symlinks kept: layers link by relative paths
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
    unpacked = _unpack_all(
        source,
        triage.install,
        target,
        pm=pm,
        reporter=reporter,
        jobs=options.jobs,
        refusals=refusals,
        records=deployment.records,
    )
    transfers = {name: item.transfer for name, item in unpacked.items()}
    placed = _place_all(
        selected,
        unpacked,
        triage,
        deployment,
        reporter=reporter,
        refusals=refusals,
        scripts=options.postinstall,
        slots=SlotLinker(placed_choices, deployment, reporter),
    )
    if not refusals:  # keep partial downloads for the next attempt to resume
        remove_tree(target / DOWNLOADS)
    if refusals and options.raise_on_refusal:
        raise refusals.combined()
    return DeployResult(
        target=target,
        source=source.manifest_location,
        installed=placed.installed,
        reused=triage.reuse,
        adopted=placed.adopted,
        refused=refusals.entries(),
        variants=tuple(placed_choices),
        transfers=(
            *(transfers[name] for name in placed.installed),
            *(LayerTransfer(install_target=name, method="reused") for name in triage.reuse),
            *(
                LayerTransfer(
                    install_target=name,
                    method="adopted",
                    downloaded_bytes=transfers[name].downloaded_bytes
                    if name in transfers
                    else len(triage.adopt.get(name) or b""),
                )
                for name in placed.adopted
            ),
        ),
    )


def _unpack_all(
    src: Source,
    layers: Sequence[ManifestLayer],
    target: Path,
    *,
    pm: pluggy.PluginManager,
    reporter: Reporter,
    jobs: int | None,
    refusals: Refusals,
    records: Mapping[str, DeployedLayer],
) -> dict[str, Unpacked]:
    """Fetch, verify and unpack ``layers`` in parallel; return their work folders.

    Each layer takes the cheapest path: a delta over an installed version, else its full
    archive (:mod:`envstacks.stages.deploying.transfer`). A layer whose archive is refused
    (verification, unsafe content, missing) joins ``refusals``; any other failure (or Ctrl-C)
    stops the other layers at their next chunk, removes every work folder and propagates.
    """

    def unpack(layer: ManifestLayer, cancellation: Cancellation) -> _Unpacked:
        archive = functools.partial(
            _unpack_one,
            src,
            target=target,
            pm=pm,
            reporter=reporter,
            unpackers=unpackers,
            cancellation=cancellation,
        )
        try:
            return layer.install_target, unpack_cheapest(
                archive, src, layer, target=target, records=records, reporter=reporter
            )
        except DeployError as exc:  # a refusal: the other layers go on
            return layer.install_target, exc

    with Unpackers(layers, jobs=jobs) as unpackers:
        done = run_parallel(
            unpack,
            layers,
            workers=min(jobs or os.cpu_count() or 1, len(layers) or 1),
            name="deploy",
            undo=_drop_work_folder,
        )
    unpacked: dict[str, Unpacked] = {}
    for name, outcome in done:
        if isinstance(outcome, Unpacked):
            unpacked[name] = outcome
        else:
            refusals.add(name, outcome)
    return unpacked


#: A layer's install target and its work folder, or the error that refused it.
_Unpacked = tuple[str, Unpacked | DeployError]


def _drop_work_folder(item: _Unpacked) -> None:
    """Remove the work folder of a layer unpacked before the run failed."""
    if isinstance(item[1], Unpacked):
        remove_tree(item[1].workdir)


def _unpack_one(
    src: Source,
    layer: ManifestLayer,
    target: Path,
    *,
    pm: pluggy.PluginManager,
    reporter: Reporter,
    unpackers: Unpackers,
    cancellation: Cancellation,
) -> Path:
    """Fetch, verify and unpack one layer into a fresh work folder inside ``target``."""
    fmt = format_for_archive(pm, layer.archive_name, declared=layer.archive_format)
    archive = fetch_archive(
        src, layer, downloads=target / DOWNLOADS, reporter=reporter, cancellation=cancellation
    )
    cancellation.check()
    workdir = target / temporary_name(layer.install_target)
    workdir.mkdir()
    try:
        with reporter.task(
            layer.install_target, "unpack", total=layer.archive_size, unit=BYTES
        ) as task:
            # Verified (size, sha256) while unpacking: the archive is read once.
            job = UnpackJob(fmt=fmt, archive=archive, layer=layer, workdir=workdir, target=target)
            unpackers.unpack(job, cancellation.watch(task), cancellation=cancellation)
    except BaseException as exc:
        remove_tree(workdir)
        if isinstance(exc, VerificationError):
            archive.release()  # a bad download must not be reused by the next attempt
        raise
    archive.release()
    return workdir


@dataclass(frozen=True, slots=True, kw_only=True)
class _Placed:
    """The layers a deploy put in place, in the order it did."""

    #: Unpacked and placed.
    installed: tuple[str, ...]
    #: Found in place, unrecorded, with their archive's files: recorded and configured.
    adopted: tuple[str, ...]


def _place_all(
    selected: Sequence[ManifestLayer],
    unpacked: dict[str, Unpacked],
    triage: Triage,
    deployment: Deployment,
    *,
    reporter: Reporter,
    refusals: Refusals,
    scripts: bool,
    slots: SlotLinker,
) -> _Placed:
    """Place (or adopt) the layers in dependency order (runtime first).

    Reused layers whose folder moved are configured again in the same order. A layer that
    needs a refused one is refused too. Work folders not placed are removed in the end.
    """
    installed: list[str] = []
    adopted: list[str] = []
    try:
        for layer in selected:
            name = layer.install_target
            slots.link(layer.depends_on)
            if name in triage.reconfigure:
                _reconfigure(layer, deployment, reporter, scripts=scripts)
            item = unpacked.pop(name, None)
            if item is None and name not in triage.adopt:
                continue
            blocked = [dep for dep in layer.depends_on if dep in refusals]
            if blocked:
                refusals.add(
                    name,
                    DeployError(f"layer {name!r} needs {blocked[0]!r}, which was refused"),
                )
            elif item is None or (
                name in triage.candidates
                and same_as_unpacked(item.workdir / name, deployment.target / name, reporter)
            ):
                index = triage.adopt[name] if item is None else item.index
                _adopt(layer, deployment, reporter, scripts=scripts, index=index)
                adopted.append(name)
            else:
                _place(layer, item.workdir, deployment, reporter, scripts=scripts)
                if item.index is not None:  # for the deltas of its next update
                    store_index(deployment.target, name, item.index)
                installed.append(name)
            if item is not None:
                remove_tree(item.workdir)
        slots.link(layer.install_target for layer in selected)
    finally:
        for left in unpacked.values():
            remove_tree(left.workdir)
    return _Placed(installed=tuple(installed), adopted=tuple(adopted))


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
) -> None:
    """Place one unpacked layer, recording each step so that a killed run can be undone.

    The layer is configured before its rename; its postinstall (if ``scripts``) runs after.
    """
    name = layer.install_target
    final = deployment.target / name
    _configure(layer, workdir / name, final, reporter, scripts=scripts)
    aside = aside_path(final)
    before = deployment.get(name)
    new = _record(layer, final)
    deployment.put(
        dataclasses.replace(
            new,
            state="installing",
            previous=before if aside is not None else None,
            aside=aside.name if aside is not None else None,
        )
    )
    try:
        place_layer(
            workdir / name,
            final,
            aside=aside,
            configure=lambda: _postinstall(layer, deployment.target, reporter, scripts=scripts),
            configured=lambda: deployment.put(new),
        )
    except BaseException:
        if before is not None:
            deployment.put(before)
        else:
            deployment.drop(name)
        raise
    finally:
        remove_tree(workdir)


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
