"""The one orchestrator: runs lock, build, publish, local-export and deploy over a Plan."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from envstacks import layout
from envstacks.build import BuildOptions, BuildResult, build_layers
from envstacks.deploy import DeployResult, ExportResult, export_layers
from envstacks.deploy import deploy as deploy_layers
from envstacks.hooks import get_plugin_manager
from envstacks.lock import LockOptions, LockResult, lock_layer, lock_states
from envstacks.lock.project import requires_project
from envstacks.pack.publish import PublishResult, publish_layers
from envstacks.plan import Op, Plan, Request, make_plan
from envstacks.report import Reporter
from envstacks.runtime.provision import provision_runtime, runtime_python
from envstacks.spec.model import LayerSpec, RuntimeSpec, StackSpec
from envstacks.status import StackStatus, stack_status

#: Builds the project's own wheel: ``(project root, output folder) -> wheel path``. Each
#: front-end has its own (hatchling's builder, PDM's, a PEP 517 build in the CLI).
WheelBuilder = Callable[[Path, Path], Path]


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """What every stage needs: the stack, the plugins, where to report, how to build the project."""

    spec: StackSpec
    pm: pluggy.PluginManager
    reporter: Reporter
    #: Called when a layer requires the project itself.
    project_wheel_builder: WheelBuilder | None = None
    #: Memo of the built project wheel (one build per session).
    _wheel: list[Path] = field(default_factory=list, repr=False)


def open_session(
    spec: StackSpec,
    *,
    reporter: Reporter,
    pm: pluggy.PluginManager | None = None,
    project_wheel_builder: WheelBuilder | None = None,
) -> Session:
    """Start work on a stack: show its spec warnings once and load the plugins."""
    for warning in spec.warnings:
        reporter.warning(warning)
    return Session(
        spec=spec,
        pm=pm if pm is not None else get_plugin_manager(),
        reporter=reporter,
        project_wheel_builder=project_wheel_builder,
    )


def with_dirs(
    spec: StackSpec,
    *,
    build_dir: Path | None = None,
    output_dir: Path | None = None,
    export_dir: Path | None = None,
) -> StackSpec:
    """The spec with command-line folder overrides applied (relative to the current folder)."""
    settings = spec.settings

    def resolved(value: Path | None, current: Path) -> Path:
        return current if value is None else value.expanduser().resolve()

    new = dataclasses.replace(
        settings,
        build_dir=resolved(build_dir, settings.build_dir),
        output_dir=resolved(output_dir, settings.output_dir),
        export_dir=resolved(export_dir, settings.export_dir),
    )
    return spec if new == settings else dataclasses.replace(spec, settings=new)


def status(
    spec: StackSpec, plan: Plan | None = None, *, with_operations: bool = False
) -> StackStatus:
    """The stack status for ``show`` and ``--show`` (lock validity read from disk, no uv)."""
    return stack_status(spec, lock_states(spec), plan, with_operations=with_operations)


def show_plan(spec: StackSpec, include: Sequence[str] = (), *, allow_missing: bool = False) -> Plan:
    """The layers ``show`` prints: with ``include``, lock-mode selection (deps and derived)."""
    return make_plan(spec, Request(lock=Op.RUN, include=include, allow_missing=allow_missing))


def project_wheel(session: Session, layers: Sequence[LayerSpec]) -> Path | None:
    """Build the project's wheel once, if any of ``layers`` needs it and a builder is available."""
    if not any(requires_project(session.spec, layer) for layer in layers):
        return None
    if session._wheel:
        return session._wheel[0]
    if session.project_wheel_builder is None:
        return None
    out = session.spec.settings.build_dir / "project-wheel"
    with session.reporter.task(session.spec.project_name or "project", "build wheel"):
        wheel = session.project_wheel_builder(session.spec.root, out)
    session.reporter.info(f"built the project's wheel {wheel.name}")
    session._wheel.append(wheel)
    return wheel


def lock_python(session: Session, runtime: RuntimeSpec) -> Path:
    """An interpreter for locking against ``runtime``: its build env, provisioned if missing."""
    env = layout.env_path(session.spec, runtime)
    if not env.exists():
        provision_runtime(session.spec, runtime, env, pm=session.pm, reporter=session.reporter)
    return runtime_python(env)


def lock(session: Session, plan: Plan, options: LockOptions | None = None) -> list[LockResult]:
    """Lock the planned layers, lowest first (each layer's lock constrains the ones above)."""
    spec = session.spec
    planned = [spec.layer(ops.name) for ops in plan.to_lock()]
    wheel = project_wheel(session, planned)
    options = options or LockOptions()
    if wheel is not None:
        options = dataclasses.replace(options, project_wheel=wheel)
    results: list[LockResult] = []
    python_for = functools.cache(
        lambda name: lock_python(session, spec.runtime_of(spec.layer(name)))
    )
    for ops in plan.to_lock():
        layer = spec.layer(ops.name)
        result = lock_layer(
            spec,
            layer,
            python=python_for(spec.runtime_of(layer).build_name),
            if_needed=ops.lock is Op.IF_NEEDED,
            reset=ops.reset_lock,
            options=options,
            reporter=session.reporter,
        )
        session.pm.hook.envstacks_layer_locked(
            spec=spec, layer=layer, lock_path=result.pylock_path, changed=result.changed
        )
        results.append(result)
    return results


def build(session: Session, plan: Plan, options: BuildOptions | None = None) -> list[BuildResult]:
    """Build (or update) the planned layer environments; locks must be valid."""
    spec = session.spec
    layers = [(spec.layer(ops.name), ops.build) for ops in plan.to_build()]
    options = options or BuildOptions()
    wheel = project_wheel(session, [layer for layer, _ in layers])
    if wheel is not None:
        options = dataclasses.replace(options, project_wheel=wheel)
    return build_layers(
        spec,
        layers,
        lock_states=lock_states(spec),
        pm=session.pm,
        reporter=session.reporter,
        options=options,
    )


def publish(
    session: Session,
    plan: Plan,
    *,
    output_dir: Path | None = None,
    format_name: str | None = None,
    tag_outputs: bool = False,
    force: bool = False,
    dry_run: bool = False,
) -> PublishResult:
    """Archive the planned, built layers with their metadata into the output folder."""
    spec = session.spec
    return publish_layers(
        spec,
        [spec.layer(ops.name) for ops in plan.to_publish()],
        pm=session.pm,
        reporter=session.reporter,
        output_dir=output_dir or spec.settings.output_dir,
        format_name=format_name or spec.settings.archive_format,
        lock_states=lock_states(spec),
        tag_outputs=tag_outputs,
        force=force,
        dry_run=dry_run,
    )


def local_export(
    session: Session, plan: Plan, *, output_dir: Path | None = None, force: bool = False
) -> list[ExportResult]:
    """Copy the planned, built layers into a local folder, linked and ready to run."""
    spec = session.spec
    return export_layers(
        spec,
        [spec.layer(ops.name) for ops in plan.to_publish()],
        output_dir or spec.settings.export_dir,
        lock_states=lock_states(spec),
        reporter=session.reporter,
        force=force,
    )


def deploy(
    source: str | Path,
    target: Path,
    *,
    include: Sequence[str] = (),
    pm: pluggy.PluginManager,
    reporter: Reporter,
    raise_on_refusal: bool = True,
) -> DeployResult:
    """Install published layers from a folder, manifest or URL into ``target``.

    With ``raise_on_refusal`` false, refused layers are reported in the result (whose ``ok``
    is then false) instead of raising, so a JSON summary can list them.
    """
    return deploy_layers(
        source,
        target,
        include=include,
        pm=pm,
        reporter=reporter,
        raise_on_refusal=raise_on_refusal,
    )
