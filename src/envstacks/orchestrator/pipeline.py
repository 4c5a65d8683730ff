"""The one orchestrator: front-ends turn their options into a StackRequest and call :func:`run`.

A run reads top to bottom: plan the layers, check or relock their locks, build them, then
publish or export them. Lock states are computed once per session (a lock step updates
those it changes); the project's wheel is built at most once; the lifecycle hooks
(``envstacks_layer_locked/built/published/deployed``) are fired here, for every caller alike.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from envstacks.floor.errors import LockError
from envstacks.floor.work_folders import WorkFolder, guarded
from envstacks.orchestrator.plan import LayerOps, Op, Plan, Request, make_plan, unmatched_note
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.orchestrator.project_wheel import ProjectWheels, WheelBuilder
from envstacks.orchestrator.readiness import require_built
from envstacks.stages.stackspec import stack_paths as layout

if TYPE_CHECKING:
    import pluggy

    from envstacks.floor.report import Reporter
    from envstacks.orchestrator.status import StackStatus
    from envstacks.published.sources import Source
    from envstacks.stages.building import BuildOptions, BuildResult
    from envstacks.stages.deploying import DeployResult, ExportResult
    from envstacks.stages.locking import LockOptions, LockResult, LockState
    from envstacks.stages.oci.push_folder import PushResult
    from envstacks.stages.packing.publisher import PublishResult
    from envstacks.stages.stackspec.model import LayerSpec, RuntimeSpec, StackSpec

# The stages are imported by the steps that run them (the lazy imports below): a no-op
# ``build`` never loads the code that writes locks, packs archives or deploys them.


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishOptions:
    """Where and how layers are published (``None`` fields take the stack's settings)."""

    output_dir: Path | None = None
    format_name: str | None = None
    tag_outputs: bool = False
    #: Republish unchanged layers too.
    force: bool = False
    #: Compute what would be published; write nothing.
    dry_run: bool = False
    #: Then push the published layers to this ``oci://`` registry tag.
    push_to: str | None = None
    #: Allow plain HTTP for a registry not on this machine.
    insecure: bool = False
    #: Read every archive in the output folder again to check its sha256.
    verify: bool = False
    #: Earlier publishes (folders, manifests, URLs, ``oci://`` references): deltas from the
    #: versions they list are published with each layer packed now.
    delta_from: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportOptions:
    """Where layers are exported (``None``: the stack's ``export-dir``)."""

    output_dir: Path | None = None
    #: Export layers whose export is up to date too.
    force: bool = False
    #: Say what would be exported; write nothing.
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StackRequest:
    """Everything one run is asked to do; every front-end builds one of these."""

    #: Which layers, and which operations for them.
    plan: Request
    #: How layers are locked and built (``None``: the defaults).
    lock: LockOptions | None = None
    build: BuildOptions | None = None
    #: Publish the planned layers (after building them, if the plan builds).
    publish: PublishOptions | None = None
    #: Export the planned layers instead of (or as well as) publishing them.
    export: ExportOptions | None = None
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
    #: The push of the published layers to a registry (``PublishOptions.push_to``).
    pushed: PushResult | None = None
    exported: tuple[ExportResult, ...] = ()


class Session:
    """One front-end invocation's work on a stack: the shared inputs and what it computed once.

    The caches are explicit attributes, not hidden state: :meth:`lock_states` is computed on
    first use and updated by a lock step, :meth:`project_wheels` builds each wheel at most
    once.
    """

    def __init__(
        self,
        spec: StackSpec,
        *,
        reporter: Reporter,
        pm: pluggy.PluginManager | None = None,
        project_wheel_builder: WheelBuilder | None = None,
    ) -> None:
        for warning in spec.warnings:
            reporter.warning(warning)
        self.spec = spec
        self.reporter = reporter
        self.pm = pm if pm is not None else get_plugin_manager()
        self.project_wheel_builder = project_wheel_builder
        self._lock_states: Mapping[str, LockState] | None = None
        self._wheels = ProjectWheels(
            spec, project_wheel_builder, reporter, functools.partial(_lock_python, self)
        )

    def lock_states(self) -> Mapping[str, LockState]:
        """The lock state of every enabled layer (read from the files once; uv never runs)."""
        if self._lock_states is None:
            from envstacks.stages.locking import lock_states  # noqa: PLC0415

            self._lock_states = lock_states(self.spec)
        return self._lock_states

    def project_wheels(self, layers: Sequence[LayerSpec]) -> dict[str, Path]:
        """The project's wheel for the runtime of each of ``layers`` that ships the project.

        Keyed by the runtime's build name; each is built once per session, with the
        runtime's own interpreter (see :mod:`envstacks.orchestrator.project_wheel`).
        """
        return self._wheels.for_layers(layers)

    def wheel_groups(self, planned: Sequence[LayerOps]) -> list[tuple[Path | None, list[LayerOps]]]:
        """The planned layers in groups sharing one project wheel (one group, usually)."""
        return self._wheels.groups(planned, lambda ops: self.spec.layer(ops.name))

    def plan(self, request: Request) -> Plan:
        """The plan for ``request``; patterns that matched nothing are warned about."""
        plan = make_plan(self.spec, request)
        for pattern in plan.unmatched:
            self.reporter.warning(
                f"no layer matches {pattern!r}{unmatched_note(self.spec, pattern)}"
            )
        return plan

    def status(self, plan: Plan | None = None, *, with_operations: bool = False) -> StackStatus:
        """The stack status for ``show`` and ``--show`` (lock validity read from disk, no uv)."""
        from envstacks.orchestrator.status import stack_status  # noqa: PLC0415

        return stack_status(self.spec, self.lock_states(), plan, with_operations=with_operations)

    def layers(self, names: Sequence[str]) -> list[LayerSpec]:
        """The layers of the stack with these build names, in the given order."""
        return [self.spec.layer(name) for name in names]

    def notify_layer(self, hook: str, layer: str, **arguments: object) -> None:
        """Call the lifecycle hook ``hook`` for the layer with build name ``layer``."""
        getattr(self.pm.hook, hook)(spec=self.spec, layer=self.spec.layer(layer), **arguments)

    def lock_states_changed(self, states: Mapping[str, LockState]) -> None:
        """Take the states a lock step left (it updated those of the layers it touched)."""
        self._lock_states = dict(states)


def with_dirs(
    spec: StackSpec,
    *,
    build_dir: Path | None = None,
    output_dir: Path | None = None,
    export_dir: Path | None = None,
) -> StackSpec:
    """The spec with folder overrides applied (relative paths start at the spec's folder).

    As venvstacks resolves ``--build-dir`` and ``--output-dir``: against the spec's folder,
    ``~`` expanded, ``..`` folded without following symlinks.
    """
    settings = spec.settings

    def resolved(value: Path | None, current: Path) -> Path:
        if value is None:
            return current
        return Path(os.path.normpath(spec.root / value.expanduser()))

    new = dataclasses.replace(
        settings,
        build_dir=resolved(build_dir, settings.build_dir),
        output_dir=resolved(output_dir, settings.output_dir),
        export_dir=resolved(export_dir, settings.export_dir),
    )
    return spec if new == settings else dataclasses.replace(spec, settings=new)


def run(session: Session, request: StackRequest, plan: Plan | None = None) -> StackResult:
    """Lock, build, then publish and/or export the layers ``request`` selects.

    ``plan`` is the plan already made for ``request.plan`` (``--show`` prints it first).

    Raises:
        EnvStacksError: a step failed (the subclass says which); earlier steps' work is kept.
    """
    plan = plan if plan is not None else session.plan(request.plan)
    if request.locks_must_be_valid is not None:
        _require_valid_locks(session, plan, setting=request.locks_must_be_valid)
    verb, folders = work_folders(session.spec, plan, request)
    with guarded(verb, folders, session.reporter):
        locked = tuple(lock(session, plan, request.lock)) if plan.to_lock() else ()
        built = tuple(build(session, plan, request.build)) if plan.to_build() else ()
        if request.publish is not None or request.export is not None:
            require_built(
                session.spec,
                session.layers([ops.name for ops in plan.to_publish()]),
                session.lock_states(),
                include=request.plan.include,
                verb="publish" if request.publish is not None else "export",
            )
        published = publish(session, plan, request.publish) if request.publish is not None else None
        pushed = None
        if published is not None and request.publish is not None and request.publish.push_to:
            pushed = push(session, published, request.publish)
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
            python_for=functools.partial(_lock_python, session),
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


def build(session: Session, plan: Plan, options: BuildOptions | None = None) -> list[BuildResult]:
    """Build (or update) the planned layer environments; their locks must be valid."""
    from envstacks.stages.building import BuildOptions, build_layers  # noqa: PLC0415

    spec = session.spec
    options = options or BuildOptions()
    results: list[BuildResult] = []
    for wheel, planned in session.wheel_groups(plan.to_build()):
        results += build_layers(
            spec,
            [(spec.layer(ops.name), ops.build) for ops in planned],
            lock_states=session.lock_states(),
            pm=session.pm,
            reporter=session.reporter,
            options=dataclasses.replace(options, project_wheel=wheel) if wheel else options,
        )
    for result in results:
        session.notify_layer("envstacks_layer_built", result.layer, env_path=result.env_path)
    return results


def publish(session: Session, plan: Plan, options: PublishOptions | None = None) -> PublishResult:
    """Archive the planned, built layers with their metadata into the output folder."""
    from envstacks.stages.packing.publisher import publish_layers  # noqa: PLC0415

    spec = session.spec
    options = options or PublishOptions()
    result = publish_layers(
        spec,
        session.layers([ops.name for ops in plan.to_publish()]),
        pm=session.pm,
        reporter=session.reporter,
        output_dir=options.output_dir or spec.settings.output_dir,
        format_name=options.format_name or spec.settings.archive_format,
        lock_states=session.lock_states(),
        tag_outputs=options.tag_outputs,
        force=options.force,
        dry_run=options.dry_run,
        verify=options.verify,
        delta_from=_delta_sources(session, options),
    )
    for item in (item for item in result.layers if item.status == "published"):
        path, metadata = item.archive_path, item.metadata
        session.notify_layer(
            "envstacks_layer_published", item.layer, archive_path=path, metadata=metadata
        )
    return result


def _delta_sources(session: Session, options: PublishOptions) -> list[str | Path | Source]:
    """The ``delta_from`` sources, ``oci://`` references resolved (the other kinds open later)."""
    if options.dry_run:
        return []
    return [_resolve_oci(s, session.reporter, options.insecure) for s in options.delta_from]


def _resolve_oci(
    source: str | Path | Source, reporter: Reporter, insecure: bool
) -> str | Path | Source:
    """An ``oci://`` reference opened for this machine's platform; anything else as it is."""
    if not (isinstance(source, str) and source[:6].lower() == "oci://"):
        return source
    from envstacks.floor.platforms import host_platform  # noqa: PLC0415
    from envstacks.stages.oci.registry_source import open_oci_source  # noqa: PLC0415 - the oci extra

    return open_oci_source(source, platform=host_platform(), reporter=reporter, insecure=insecure)


def push(session: Session, published: PublishResult, options: PublishOptions) -> PushResult | None:
    """Push what ``published`` left in its folder to ``options.push_to`` (not in a dry run)."""
    if options.dry_run or options.push_to is None:
        return None
    from envstacks.floor.platforms import require_host_platform  # noqa: PLC0415
    from envstacks.stages.oci.push_folder import push_published  # noqa: PLC0415

    return push_published(
        published.manifest,
        published.output_dir,
        options.push_to,
        platform=require_host_platform("push"),
        merge=options.tag_outputs,
        reporter=session.reporter,
        insecure=options.insecure,
    )


def export(
    session: Session, plan: Plan, options: ExportOptions | None = None
) -> list[ExportResult]:
    """Copy the planned, built layers into a local folder, linked and ready to run."""
    from envstacks.stages.deploying import export_layers  # noqa: PLC0415

    spec = session.spec
    options = options or ExportOptions()
    return export_layers(
        spec,
        session.layers([ops.name for ops in plan.to_publish()]),
        options.output_dir or spec.settings.export_dir,
        lock_states=session.lock_states(),
        reporter=session.reporter,
        force=options.force,
        dry_run=options.dry_run,
    )


def deploy(
    source: str | Path,
    target: Path,
    *,
    reporter: Reporter,
    include: Sequence[str] = (),
    pm: pluggy.PluginManager | None = None,
    raise_on_refusal: bool = True,
    insecure: bool = False,
    postinstall: bool = True,
) -> DeployResult:
    """Install published layers from a folder, manifest, URL or registry into ``target``.

    An ``oci://`` reference is resolved here
    (:func:`envstacks.stages.oci.registry_source.open_oci_source`), with plain HTTP for a registry
    away from this machine only when ``insecure``.

    With ``raise_on_refusal`` false, refused layers are reported in the result (whose ``ok``
    is then false) instead of raising, so a JSON summary can list them. Without
    ``postinstall``, no code from the archives runs (layers are configured, not compiled).
    """
    from envstacks.stages.deploying import deploy as deploy_archives  # noqa: PLC0415

    pm = pm if pm is not None else get_plugin_manager()
    opened = _resolve_oci(source, reporter, insecure)
    result = deploy_archives(
        opened,
        target,
        include=include,
        pm=pm,
        reporter=reporter,
        raise_on_refusal=raise_on_refusal,
        postinstall=postinstall,
    )
    for name in result.installed:
        pm.hook.envstacks_layer_deployed(install_target=name, path=target / name, reused=False)
    for name in (*result.reused, *result.adopted):
        pm.hook.envstacks_layer_deployed(install_target=name, path=target / name, reused=True)
    return result


def layers_up_to_date(session: Session, layers: Sequence[LayerSpec]) -> bool:
    """Whether every layer has a valid lock and a build made from it (nothing would change)."""
    from envstacks.stages.building import needs_build  # noqa: PLC0415

    states = session.lock_states()
    return not any(
        needs_build(session.spec, layer, states[layer.build_name])[0] for layer in layers
    )


def _clean_runtimes(session: Session, plan: Plan) -> None:
    """``lock --clean``: remove the build environments of the runtimes to lock.

    Their build records go too, so that locking provisions them afresh and the next build
    rebuilds them.
    """
    from envstacks.floor.fs import discard  # noqa: PLC0415
    from envstacks.stages.stackspec.model import RuntimeSpec  # noqa: PLC0415

    for ops in plan.to_lock():
        layer = session.spec.layer(ops.name)
        if isinstance(layer, RuntimeSpec):
            session.reporter.info(f"{ops.name}: removing its build environment (--clean)")
            layout.last_build_path(session.spec, layer).unlink(missing_ok=True)
            discard(layout.env_path(session.spec, layer))


def _lock_python(session: Session, runtime: RuntimeSpec) -> Path:
    """An interpreter for locking against ``runtime``: its build env, provisioned if missing."""
    from envstacks.stages.runtime import provision_runtime, runtime_python  # noqa: PLC0415

    env = layout.env_path(session.spec, runtime)
    if not env.exists():
        provision_runtime(session.spec, runtime, env, pm=session.pm, reporter=session.reporter)
    return runtime_python(env)


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
