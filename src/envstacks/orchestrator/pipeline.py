"""The stack verbs: front-ends turn their options into a StackRequest and call :func:`run`.

A run reads top to bottom: plan the layers, check or relock their locks, build them, then
publish (and push) or export them. It holds the folders it writes for its whole duration and
turns the file system's refusals into clear errors (:func:`envstacks.floor.work_folders.guarded`);
the lifecycle hooks (``envstacks_layer_locked/built/published``) are fired here, for every
caller alike. Each step's options live beside the stage function they configure and pass
through as one value. The verbs on published folders (deploy, merge, push) are
:mod:`envstacks.orchestrator.distribution`'s.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envstacks.floor.errors import LockError
from envstacks.floor.work_folders import WorkFolder, guarded
from envstacks.orchestrator.plan import Op, Plan, Selection
from envstacks.orchestrator.readiness import require_built
from envstacks.orchestrator.session import Session, lock_python

if TYPE_CHECKING:
    from envstacks.floor.report import Reporter
    from envstacks.published.sources import Source
    from envstacks.stages.building import BuildOptions, BuildResult
    from envstacks.stages.deploying import ExportOptions, ExportResult
    from envstacks.stages.locking import LockOptions, LockResult
    from envstacks.stages.oci import PushOptions, PushResult
    from envstacks.stages.packing.publisher import PublishOptions, PublishResult
    from envstacks.stages.stackspec.model import LayerSpec, StackSpec

# The stages are imported by the steps that run them (the lazy imports below): a no-op
# ``build`` never loads the code that writes locks, packs archives or deploys them.

__all__ = [
    "StackRequest",
    "StackResult",
    "builds_up_to_date",
    "clean",
    "layers_up_to_date",
    "run",
    "work_folders",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class StackRequest:
    """Everything one run is asked to do; every front-end builds one of these."""

    #: Which layers, and which operations for them.
    plan: Selection
    #: How layers are locked and built (``None``: the defaults).
    lock: LockOptions | None = None
    build: BuildOptions | None = None
    #: Publish the planned layers (after building them, if the plan builds).
    publish: PublishOptions | None = None
    #: Then push what was published to a registry tag (with ``publish`` only).
    push: PushOptions | None = None
    #: Export the planned layers instead of (or as well as) publishing them.
    export: ExportOptions | None = None
    #: Allow plain HTTP to registries away from this machine (``--delta-from oci://...``).
    insecure: bool = False
    #: When set, layers to build must already have valid locks (Hatch's ``lock = "check"``);
    #: the value names the setting that asked for it, for the error.
    locks_must_be_valid: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StackResult:
    """What a run did, step by step (empty where a step did not run)."""

    plan: Plan
    locked: tuple[LockResult, ...] = ()
    built: tuple[BuildResult, ...] = ()
    published: PublishResult | None = None
    #: The push of the published layers to a registry (:attr:`StackRequest.push`).
    pushed: PushResult | None = None
    exported: tuple[ExportResult, ...] = ()


def run(session: Session, request: StackRequest, plan: Plan | None = None) -> StackResult:
    """Lock, build, then publish (and push) and/or export the layers ``request`` selects.

    ``plan`` is the plan already made for ``request.plan`` (``--show`` prints it first).

    Raises:
        EnvStacksError: a step failed (the subclass says which); earlier steps' work is kept.
    """
    plan = plan if plan is not None else session.plan(request.plan)
    if request.locks_must_be_valid is not None:
        _require_valid_locks(session, plan, setting=request.locks_must_be_valid)
    if not plan.to_lock() and not plan.to_build():
        _require_built(session, plan, request)  # before any folder is made
    verb, folders = work_folders(session.spec, plan, request)
    with guarded(verb, folders, session.reporter):
        locked = tuple(lock(session, plan, request.lock)) if plan.to_lock() else ()
        built = tuple(build(session, plan, request.build)) if plan.to_build() else ()
        _require_built(session, plan, request)
        published = (
            publish(session, plan, request.publish, insecure=request.insecure)
            if request.publish is not None
            else None
        )
        pushed = None
        if published is not None and request.publish is not None and request.push is not None:
            pushed = push(session, published, request.push, tag_outputs=request.publish.tag_outputs)
        exported = (
            tuple(export(session, plan, request.export)) if request.export is not None else ()
        )
    return StackResult(
        plan=plan,
        locked=locked,
        built=built,
        published=published,
        pushed=pushed,
        exported=exported,
    )


def _require_built(session: Session, plan: Plan, request: StackRequest) -> None:
    """Fail unless the layers to publish or export are built from their current locks."""
    if request.publish is None and request.export is None:
        return
    require_built(
        session.spec,
        session.layers([ops.name for ops in plan.to_publish()]),
        session.lock_states(),
        include=request.plan.include,
        verb="publish" if request.publish is not None else "export",
    )


def work_folders(
    spec: StackSpec, plan: Plan, request: StackRequest
) -> tuple[str, list[WorkFolder]]:
    """What a run is called in other runs' messages, and the folders it writes, in lock order.

    The order is the same for every run (requirements, build, output, export folder), so two
    runs never wait for each other in a circle. A dry-run publish writes nothing. The build
    folder holds a lock file; the others are locked as folders, so that nothing is added to
    what users commit (requirements) or ship (output and export folders).
    """
    settings = spec.settings
    publishing = request.publish is not None and not request.publish.dry_run
    folders: dict[Path, WorkFolder] = {}
    if plan.to_lock():
        folders[settings.requirements_dir] = WorkFolder(
            path=settings.requirements_dir, lock_file=None
        )
    if plan.to_lock() or plan.to_build() or publishing or request.export is not None:
        folders.setdefault(settings.build_dir, WorkFolder(path=settings.build_dir))
    if publishing and request.publish is not None:
        output = request.publish.output_dir or settings.output_dir
        folders.setdefault(output, WorkFolder(path=output, lock_file=None))
    if request.export is not None and not request.export.dry_run:
        exported = request.export.output_dir or settings.export_dir
        folders.setdefault(exported, WorkFolder(path=exported, lock_file=None))
    if publishing:
        verb = "publish"
    elif request.export is not None:
        verb = "local-export"
    else:
        verb = "build" if plan.to_build() else "lock"
    return verb, list(folders.values())


def lock(session: Session, plan: Plan, options: LockOptions | None = None) -> list[LockResult]:
    """Lock the planned layers, lowest first (each layer's lock constrains the ones above)."""
    from envstacks.stages.locking import LockOptions, LockRequest, lock_layers  # noqa: PLC0415

    spec = session.spec
    options = options or LockOptions()
    if options.clean:
        _clean_runtimes(session, plan)
    # The session's states are reused (no second check of the layers below) and updated as
    # layers are locked, the cascade to the layers above them included.
    states = dict(session.lock_states())
    results: list[LockResult] = []
    for wheel, planned in session.wheel_groups(plan.to_lock()):
        results += lock_layers(
            spec,
            [
                LockRequest(
                    layer=spec.layer(ops.name),
                    if_needed=ops.lock is Op.IF_NEEDED,
                    reset=ops.reset_lock,
                )
                for ops in planned
            ],
            python_for=functools.partial(lock_python, session),
            options=dataclasses.replace(options, project_wheel=wheel) if wheel else options,
            reporter=session.reporter,
            states=states,
        )
    session.lock_states_changed(states)
    for r in results:
        session.notify_layer(
            "envstacks_layer_locked", r.layer, lock_path=r.pylock_path, changed=r.changed
        )
    return results


def _clean_runtimes(session: Session, plan: Plan) -> None:
    """``lock --clean``: remove the build environments of the runtimes to lock.

    Their build records go too, so that locking provisions them afresh and the next build
    rebuilds them.
    """
    from envstacks.floor.fs import discard  # noqa: PLC0415
    from envstacks.stages.stackspec import stack_paths  # noqa: PLC0415
    from envstacks.stages.stackspec.model import RuntimeSpec  # noqa: PLC0415

    for ops in plan.to_lock():
        layer = session.spec.layer(ops.name)
        if isinstance(layer, RuntimeSpec):
            session.reporter.info(f"{ops.name}: removing its build environment (--clean)")
            stack_paths.last_build_path(session.spec, layer).unlink(missing_ok=True)
            discard(stack_paths.env_path(session.spec, layer))


def build(session: Session, plan: Plan, options: BuildOptions | None = None) -> list[BuildResult]:
    """Build (or update) the planned layer environments; their locks must be valid."""
    from envstacks.stages.building import BuildOptions, LayerToBuild, build_layers  # noqa: PLC0415

    spec = session.spec
    options = options or BuildOptions()
    results: list[BuildResult] = []
    for wheel, planned in session.wheel_groups(plan.to_build()):
        results += build_layers(
            spec,
            [LayerToBuild(spec.layer(ops.name), requested=ops.build is Op.RUN) for ops in planned],
            lock_states=session.lock_states(),
            pm=session.pm,
            reporter=session.reporter,
            options=dataclasses.replace(options, project_wheel=wheel) if wheel else options,
        )
    for result in results:
        session.notify_layer("envstacks_layer_built", result.layer, env_path=result.env_path)
    return results


def publish(
    session: Session, plan: Plan, options: PublishOptions | None = None, *, insecure: bool = False
) -> PublishResult:
    """Archive the planned, built layers with their metadata into the output folder.

    ``oci://`` sources in ``options.delta_from`` are opened here (plain HTTP to a registry
    away from this machine only when ``insecure``).
    """
    from envstacks.stages.packing.publisher import PublishOptions, publish_layers  # noqa: PLC0415

    options = options or PublishOptions()
    if options.delta_from and not options.dry_run:
        opened = _delta_sources(session, options, insecure=insecure)
        options = dataclasses.replace(options, delta_from=opened)
    result = publish_layers(
        session.spec,
        session.layers([ops.name for ops in plan.to_publish()]),
        options,
        lock_states=session.lock_states(),
        pm=session.pm,
        reporter=session.reporter,
    )
    for item in (item for item in result.layers if item.status == "published"):
        path, metadata = item.archive_path, item.metadata
        session.notify_layer(
            "envstacks_layer_published", item.layer, archive_path=path, metadata=metadata
        )
    return result


def _delta_sources(
    session: Session, options: PublishOptions, *, insecure: bool
) -> tuple[str | Path | Source, ...]:
    """The ``delta_from`` sources, ``oci://`` references opened (the other kinds open later)."""
    from envstacks.orchestrator.distribution import open_registry  # noqa: PLC0415

    return tuple(
        open_registry(source, reporter=session.reporter, insecure=insecure)
        if isinstance(source, str) and source[:6].lower() == "oci://"
        else source
        for source in options.delta_from
    )


def push(
    session: Session, published: PublishResult, options: PushOptions, *, tag_outputs: bool
) -> PushResult | None:
    """Push this platform's layers ``published`` left in its folder (not in a dry run).

    The folder is held already (the run holds its output folder); a push of an existing
    folder is :func:`envstacks.orchestrator.distribution.push`.
    """
    if published.dry_run:
        return None
    from envstacks.floor.platforms import require_host_platform  # noqa: PLC0415
    from envstacks.stages.oci import push_publish_folder  # noqa: PLC0415 - the oci extra

    return push_publish_folder(
        published.output_dir,
        options,
        platforms=(require_host_platform("push"),),
        merge=tag_outputs,
        manifest_name=published.manifest_path.name if published.manifest_path else None,
        reporter=session.reporter,
    )


def export(
    session: Session, plan: Plan, options: ExportOptions | None = None
) -> list[ExportResult]:
    """Copy the planned, built layers into a local folder, linked and ready to run."""
    from envstacks.stages.deploying import ExportOptions, export_layers  # noqa: PLC0415

    return export_layers(
        session.spec,
        session.layers([ops.name for ops in plan.to_publish()]),
        options or ExportOptions(),
        lock_states=session.lock_states(),
        reporter=session.reporter,
    )


def layers_up_to_date(session: Session, layers: Sequence[LayerSpec]) -> bool:
    """Whether every layer has a valid lock and a build made from it (nothing would change)."""
    from envstacks.stages.building import needs_build  # noqa: PLC0415

    states = session.lock_states()
    return not any(
        needs_build(session.spec, layer, states[layer.build_name])[0] for layer in layers
    )


def builds_up_to_date(
    session: Session, plan: Plan, options: BuildOptions | None = None
) -> frozenset[str]:
    """The layers whose planned build would change nothing (``--show`` says so).

    Claimed only where that is certain before the run: not for layers that are relocked
    first (unless only if needed, with a valid lock), rebuilt with ``--clean``, or that ship
    the project without a kept, current wheel of it.
    """
    from envstacks.stages.building import needs_build  # noqa: PLC0415
    from envstacks.stages.locking.project_dist import requires_project  # noqa: PLC0415

    states = session.lock_states()
    clean = options is not None and options.clean
    current: set[str] = set()
    for ops in plan.to_build():
        if ops.lock is Op.RUN or ops.reset_lock or (clean and ops.build is Op.RUN):
            continue
        layer = session.spec.layer(ops.name)
        wheel = None
        if session.project_wheel_builder is not None and requires_project(session.spec, layer):
            wheel = session.kept_project_wheel(layer)
            if wheel is None:
                continue
        if not needs_build(session.spec, layer, states[ops.name], project_wheel=wheel)[0]:
            current.add(ops.name)
    return frozenset(current)


def _require_valid_locks(session: Session, plan: Plan, *, setting: str) -> None:
    """Fail unless every layer to build has a current lock (nothing is relocked)."""
    states = session.lock_states()
    stale = [
        f"{ops.name} ({'; '.join(states[ops.name].reasons)})"
        for ops in plan.to_build()
        if not states[ops.name].has_valid_lock
    ]
    if stale:
        raise LockError(
            f"these layers need locking: {', '.join(stale)}; "
            f'`{setting}` is "check", so the build does not relock them',
            hint='run `envstacks lock --if-needed` and commit the locks, or set lock = "if-needed"',
        )


def clean(
    spec: StackSpec,
    *,
    reporter: Reporter,
    published: Path | None = None,
    exported: Path | None = None,
) -> list[Path]:
    """Remove what publish wrote into ``published`` and what export wrote into ``exported``.

    Only what a manifest names (archives, metadata) and the stack's exported layer folders
    go; each folder is held while it is cleaned. Returns what was removed.
    """
    from envstacks.stages.deploying.local_export import remove_exports  # noqa: PLC0415
    from envstacks.stages.packing.removal import remove_published  # noqa: PLC0415

    removed: list[Path] = []
    if published is not None and published.is_dir():
        with guarded("clean", [WorkFolder(path=published, lock_file=None)], reporter):
            removed += remove_published(published)
    if exported is not None and exported.is_dir():
        with guarded("clean", [WorkFolder(path=exported, lock_file=None)], reporter):
            removed += remove_exports(exported, spec.build_names)
    return removed
