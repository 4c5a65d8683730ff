"""One front-end invocation's work on a stack: the shared inputs and what it computes once.

A :class:`Session` holds the spec, the reporter and the plugin manager, shows the spec's
warnings once, and caches what every step of the invocation shares: the lock states (read
from the files once; a lock step updates those it changes) and the project's wheels (built at
most once per runtime). :func:`with_dirs` applies folder overrides to a spec.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from envstacks.orchestrator.plan import LayerOps, Plan, Selection, make_plan, unmatched_note
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.orchestrator.project_wheel import ProjectWheels, WheelBuilder
from envstacks.stages.stackspec import stack_paths

if TYPE_CHECKING:
    import pluggy

    from envstacks.floor.report import Reporter
    from envstacks.orchestrator.status import StackStatus
    from envstacks.stages.locking import LockState
    from envstacks.stages.stackspec.model import LayerSpec, RuntimeSpec, StackSpec

__all__ = ["Session", "lock_python", "with_dirs"]


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
            spec, project_wheel_builder, reporter, functools.partial(lock_python, self)
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

    def kept_project_wheel(self, layer: LayerSpec) -> Path | None:
        """The project's wheel for ``layer`` if one is kept and current (nothing is built).

        ``None`` also when the layer's runtime is not built yet (nothing is provisioned).
        """
        from envstacks.stages.runtime import runtime_python  # noqa: PLC0415

        env = stack_paths.env_path(self.spec, self.spec.runtime_of(layer))
        if not env.exists():
            return None
        return self._wheels.kept(layer, runtime_python(env))

    def wheel_groups(self, planned: Sequence[LayerOps]) -> list[tuple[Path | None, list[LayerOps]]]:
        """The planned layers in groups sharing one project wheel (one group, usually)."""
        return self._wheels.groups(planned, lambda ops: self.spec.layer(ops.name))

    def plan(self, request: Selection) -> Plan:
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


def lock_python(session: Session, runtime: RuntimeSpec) -> Path:
    """An interpreter for locking against ``runtime``: its build env, provisioned if missing."""
    from envstacks.stages.runtime import provision_runtime, runtime_python  # noqa: PLC0415

    env = stack_paths.env_path(session.spec, runtime)
    if not env.exists():
        provision_runtime(session.spec, runtime, env, pm=session.pm, reporter=session.reporter)
    return runtime_python(env)
