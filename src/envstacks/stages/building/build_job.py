"""The values of a layer build and the decision of what it must do (before anything runs).

:class:`BuildOptions` and :class:`BuildResult` are public (``envstacks.stages.building``);
:class:`LayerBuild` bundles what one layer's build needs. :func:`decide` compares the layer's
current inputs with its last build record (:mod:`envstacks.stages.building.build_record`) and, for
a requested layer, also compares the environment with its lock
(:func:`envstacks.stages.building.layer_checks.drift`); its
:class:`LayerWork` says what the build does and with which inputs and project wheel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from envstacks.floor.errors import BuildError
from envstacks.floor.report import Reporter
from envstacks.stages.building.build_record import (
    Action,
    Decision,
    build_inputs,
    decide_from_record,
    link_inputs,
    read_record,
)
from envstacks.stages.building.chain import layer_config_for
from envstacks.stages.building.layer_checks import applies, drift
from envstacks.stages.locking import LockedLayer, LockState
from envstacks.stages.locking.project_dist import wheel_requires_dist
from envstacks.stages.locking.requirements import normalized
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, StackSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildOptions:
    """How layers are built."""

    #: Delete and remake the requested layers (``--clean``); layers only needed by them are
    #: still rebuilt only if outdated.
    clean: bool = False
    #: How many independent layers are built at the same time.
    jobs: int = 2
    #: The project's freshly built wheel, installed where a lock has the project's entry.
    project_wheel: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult:
    """What happened to one layer."""

    layer: str
    env_path: Path
    #: False: the layer was up to date and nothing was done.
    built: bool
    seconds: float
    #: ``none``, ``relink``, ``update`` or ``clean``.
    action: str = "none"
    #: Why that action was needed.
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LayerToBuild:
    """A layer a build is asked for.

    A ``requested`` layer (one the selection names) is brought up to date and checked against
    its lock, drift repaired; one only needed by a layer above it is built if missing or
    outdated.
    """

    layer: LayerSpec
    requested: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerBuild:
    """Everything one layer's build needs to know."""

    spec: StackSpec
    layer: LayerSpec
    #: Named by the selection (brought up to date, drift repaired), not only needed below one.
    requested: bool
    lock_state: LockState
    pm: pluggy.PluginManager
    reporter: Reporter
    options: BuildOptions
    platform: str


def check_lock(layer: LayerSpec, lock_state: LockState | None) -> LockState:
    """The layer's lock state, which must be valid.

    Raises:
        BuildError: the layer has no valid lock (says how to lock it).
    """
    if lock_state is not None and lock_state.has_valid_lock:
        return lock_state
    reasons = "; ".join(lock_state.reasons) if lock_state is not None else "no lock state"
    raise BuildError(
        f"layer '{layer.build_name}' cannot be built: its lock is not valid ({reasons})",
        hint=f"run `envstacks lock --include {layer.build_name}` first, or build with "
        "--lock-if-needed",
    )


def project_wheel_for(
    spec: StackSpec,
    layer: LayerSpec,
    locked: LockedLayer,
    *,
    wheel: Path | None,
    platform: str,
    python_version: str,
) -> Path | None:
    """The project wheel to install into ``layer``, or ``None`` if its lock has no project entry.

    Raises:
        BuildError: the lock needs the project but no wheel was given, or the wheel's
            dependencies are no longer the ones locked.
    """
    project = locked.project
    runtime = spec.runtime_of(layer)
    if project is None or not applies(
        project,
        platform=platform,
        implementation=runtime.implementation,
        python_version=python_version,
    ):
        return None
    if wheel is None:
        raise BuildError(
            f"layer '{layer.build_name}' requires the project's own distribution "
            f"{project.name!r}, but no project wheel was built for this build",
            hint="build through the envstacks CLI, `hatch build -t venvstacks` or "
            "`pdm venvstacks build` in the project folder",
        )
    if (got := normalized(wheel_requires_dist(wheel))) != (
        want := normalized(project.requires_dist)
    ):
        raise BuildError(
            f"layer '{layer.build_name}': the dependencies of {wheel.name} ({list(got)}) are not "
            f"the ones its lock was made with ({list(want)})",
            hint=f"relock the layer: `envstacks lock --include {layer.build_name}`",
        )
    return wheel


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerWork:
    """What one layer's build does, decided before anything runs."""

    decision: Decision
    #: The inputs the build record keeps when the build succeeds.
    inputs: Mapping[str, Any]
    #: The project's wheel to install (only where the layer's lock has the project's entry).
    project_wheel: Path | None = None


def decide(job: LayerBuild, locked: LockedLayer) -> LayerWork:
    """What the build must do to the layer, with the inputs to record if it runs."""
    spec, layer = job.spec, job.layer
    runtime_record = read_record(spec, spec.runtime_of(layer))
    version = runtime_record.runtime_version if runtime_record is not None else ""
    wheel = project_wheel_for(
        spec,
        layer,
        locked,
        wheel=job.options.project_wheel,
        platform=job.platform,
        python_version=version or spec.runtime_of(layer).python_version,
    )
    inputs = build_inputs(
        spec,
        layer,
        requirements_hash=job.lock_state.requirements_hash,
        platform=job.platform,
        project_wheel=wheel,
    )
    if job.options.clean and job.requested:
        decision = Decision(action=Action.CLEAN, reason="--clean")
    else:
        decision = decide_from_record(spec, layer, inputs=inputs, links=link_inputs(spec, layer))
    if decision.action is Action.NONE and job.requested:
        problems = _drift(job, locked, version, wheel)
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            reason = "the environment changed since it was built: " + "; ".join(problems[:3]) + more
            decision = Decision(action=Action.UPDATE, reason=reason)
    return LayerWork(decision=decision, inputs=inputs, project_wheel=wheel)


def _drift(job: LayerBuild, locked: LockedLayer, version: str, wheel: Path | None) -> list[str]:
    """How the layer's environment differs from its lock and build record."""
    spec, layer = job.spec, job.layer
    record = read_record(spec, layer)
    return drift(
        stack_paths.env_path(spec, layer),
        layer_config_for(spec, layer, py_version=version),
        locked,
        platform=job.platform,
        implementation=spec.runtime_of(layer).implementation,
        modules=record.modules if record is not None else (),
        expect_project=locked.project.name if wheel is not None and locked.project else None,
    )
