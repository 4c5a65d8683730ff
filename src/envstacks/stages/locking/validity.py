"""Whether each layer's lock is valid, computed from the spec and the files (uv is never run).

A lock is valid (reference §3.5.5) when its metadata exists and records the current
requirements (``lock_input_hash``), the current lock file (``requirements_hash``, so a hand
edit invalidates it), the current other inputs (Python feature version, Linux/macOS targets,
lower layers) and, for versioned layers only, the current version inputs (name, app modules).
envstacks also checks what venvstacks does not record, when the metadata has it: the target
platforms and the stack's uv configuration. With an absolute ``exclude-newer`` the recorded
lock time must match it (:func:`envstacks.stages.locking.lock_meta.time_problem`). A layer whose
lower layer needs locking needs locking too, and so on upwards.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from envstacks.floor.errors import LockError
from envstacks.stages.locking import hashes
from envstacks.stages.locking import lock_meta as meta
from envstacks.stages.locking.pylock import LockedLayer, load_pylock
from envstacks.stages.locking.requirements import same_requirements
from envstacks.stages.locking.uvproject import uv_inputs_hash
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, StackSpec

#: The reason given for a layer that depends on an unlocked layer (format with the name).
LOWER_LAYER_REASON = "lower layer {!r} needs locking"


@dataclass(frozen=True, slots=True, kw_only=True)
class LockState:
    """What ``show`` and ``build`` need to know about a layer's lock, computed without uv."""

    #: Build name of the layer.
    layer: str
    has_valid_lock: bool
    #: The recorded version (always 1 for unversioned layers); ``None`` without metadata.
    lock_version: int | None
    #: UTC ISO 8601 time recorded in the metadata; ``None`` without metadata.
    locked_at: str | None
    #: The recorded hash of the lock file; ``None`` without metadata.
    requirements_hash: str | None
    #: ``stack_paths.install_target(layer, lock_version)``.
    install_target: str
    #: Why the lock is not valid (empty when it is).
    reasons: tuple[str, ...] = ()
    #: Lower layers whose locks are not valid; the last reasons name them.
    invalid_lower: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerInputs:
    """The current inputs of a layer's lock, from the spec and its module files."""

    lock_input_hash: str
    other_inputs_hash: str
    #: ``None`` for an unversioned layer: its modules are only hashed to write a new lock.
    version_inputs_hash: str | None
    platforms: tuple[str, ...]
    uv_inputs_hash: str
    #: The absolute ``exclude-newer`` cut-off, if any.
    cutoff: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockCheck:
    """The layer's own lock check (lower layers not considered)."""

    #: What the lock was checked against.
    inputs: LayerInputs
    metadata: meta.LockMeta | None
    #: The parsed lock file, when it was read.
    locked: LockedLayer | None
    reasons: tuple[str, ...]
    #: The only problem is a change of version inputs (a versioned layer needs a new version,
    #: not a new resolution).
    version_only: bool = False


def layer_inputs(
    spec: StackSpec, layer: LayerSpec, environ: Mapping[str, str] | None = None
) -> LayerInputs:
    """Compute a layer's current lock inputs (application modules: versioned layers only)."""
    return LayerInputs(
        lock_input_hash=hashes.lock_input_hash(layer.requirements),
        other_inputs_hash=hashes.other_inputs_hash(spec, layer),
        version_inputs_hash=hashes.version_inputs_hash(layer) if layer.versioned else None,
        platforms=tuple(sorted(layer.platforms)),
        uv_inputs_hash=uv_inputs_hash(spec, layer),
        cutoff=meta.exclude_newer(spec, environ),
    )


def _read_files(
    spec: StackSpec, layer: LayerSpec, inputs: LayerInputs
) -> tuple[meta.LockMeta | None, LockedLayer | None, list[str]]:
    """The layer's metadata and parsed lock (when its requirements are unchanged), and problems."""
    pylock_path = stack_paths.pylock_path(spec, layer)
    reasons: list[str] = []
    try:
        recorded = meta.read_meta(stack_paths.lock_meta_path(spec, layer))
    except LockError as exc:
        recorded = None
        reasons.append(exc.message)
    if not pylock_path.exists():
        reasons.insert(0, "no lock file")
    elif recorded is None and not reasons:
        reasons.append("no lock metadata")
    if recorded is None:
        return None, None, reasons
    if recorded.lock_input_hash != inputs.lock_input_hash:
        reasons.append("requirements changed")
        return recorded, None, reasons
    if not pylock_path.exists():
        return recorded, None, reasons
    try:
        locked = load_pylock(pylock_path, layer=layer.build_name)
    except LockError as exc:
        reasons.append(exc.message)
        return recorded, None, reasons
    if hashes.requirements_hash(locked) != recorded.requirements_hash:
        reasons.append("lock file changed since it was locked (edited by hand?)")
    reasons.extend(project_problems(spec, locked))
    return recorded, locked, reasons


#: The reason given when a versioned layer's name, versioning or modules changed.
VERSION_REASON = "layer name, versioning or application modules changed"


def _changed_inputs(
    layer: LayerSpec, recorded: meta.LockMeta, inputs: LayerInputs, now: datetime
) -> list[str]:
    """Which recorded inputs (other than the requirements) differ from the current ones."""
    reasons: list[str] = []
    if recorded.other_inputs_hash != inputs.other_inputs_hash:
        reasons.append("Python version, Linux/macOS target or lower layers changed")
    if layer.versioned and recorded.version_inputs_hash != inputs.version_inputs_hash:
        reasons.append(VERSION_REASON)
    if recorded.platforms is not None and recorded.platforms != inputs.platforms:
        reasons.append(
            f"target platforms changed (locked for {list(recorded.platforms)}, "
            f"now {list(inputs.platforms)})"
        )
    if recorded.uv_inputs_hash is not None and recorded.uv_inputs_hash != inputs.uv_inputs_hash:
        reasons.append("uv settings, indexes or sources changed")
    problem = meta.time_problem(recorded.locked_time, inputs.cutoff, now)
    if problem:
        reasons.append(problem)
    return reasons


def check_lock(
    spec: StackSpec,
    layer: LayerSpec,
    inputs: LayerInputs | None = None,
    *,
    now: datetime | None = None,
) -> LockCheck:
    """Check one layer's lock files against its current inputs (computed if not given)."""
    inputs = inputs or layer_inputs(spec, layer)
    recorded, locked, reasons = _read_files(spec, layer, inputs)
    if recorded is not None:
        reasons += _changed_inputs(layer, recorded, inputs, now or datetime.now().astimezone())
    return LockCheck(
        inputs=inputs,
        metadata=recorded,
        locked=locked,
        reasons=tuple(reasons),
        version_only=reasons == [VERSION_REASON],
    )


def project_problems(spec: StackSpec, locked: LockedLayer) -> list[str]:
    """Why a lock that ships the project is stale: its static dependencies changed."""
    entry = locked.project
    if entry is None or spec.project_dependencies is None:
        return []
    if same_requirements(entry.requires_dist, spec.project_dependencies, without_extras=True):
        return []
    return ["the project's [project].dependencies changed since it was locked"]


def _own_state(layer: LayerSpec, check: LockCheck) -> LockState:
    recorded = check.metadata
    version = None
    if recorded is not None:
        version = recorded.lock_version if layer.versioned else 1
    return LockState(
        layer=layer.build_name,
        has_valid_lock=not check.reasons,
        lock_version=version,
        locked_at=recorded.locked_at if recorded is not None else None,
        requirements_hash=recorded.requirements_hash if recorded is not None else None,
        install_target=stack_paths.install_target(layer, version),
        reasons=check.reasons,
    )


def _cascaded(
    spec: StackSpec, layer: LayerSpec, state: LockState, states: Mapping[str, LockState]
) -> LockState:
    """``state`` with its lower-layer reasons made current from the lower layers' ``states``."""
    own = state.reasons[: len(state.reasons) - len(state.invalid_lower)]
    lower = tuple(
        dep.build_name
        for dep in spec.dependencies(layer)
        if not states[dep.build_name].has_valid_lock
    )
    reasons = (*own, *(LOWER_LAYER_REASON.format(name) for name in lower))
    return replace(state, has_valid_lock=not reasons, reasons=reasons, invalid_lower=lower)


def record_check(
    spec: StackSpec, states: MutableMapping[str, LockState], layer: LayerSpec, check: LockCheck
) -> LockState:
    """Put a layer's fresh check into ``states`` and carry it up to the layers above it there.

    Every layer below ``layer`` must have a state in ``states``. Returns the layer's state.
    """
    states[layer.build_name] = _cascaded(spec, layer, _own_state(layer, check), states)
    for upper in spec.derived(layer):
        if (old := states.get(upper.build_name)) is not None:
            states[upper.build_name] = _cascaded(spec, upper, old, states)
    return states[layer.build_name]


def check_layers(
    spec: StackSpec,
    layers: Sequence[LayerSpec],
    states: MutableMapping[str, LockState],
    environ: Mapping[str, str] | None = None,
) -> dict[str, LockCheck]:
    """Check the own locks of ``layers``; complete ``states`` for them and every layer below.

    States already in ``states`` (from earlier in the session) are kept for the layers below;
    those of ``layers`` are replaced. Returns the checks of ``layers`` by build name.
    """
    now = datetime.now().astimezone()
    wanted = {layer.build_name for layer in layers}
    checks: dict[str, LockCheck] = {}

    def visit(layer: LayerSpec) -> None:
        name = layer.build_name
        if name in checks or (name in states and name not in wanted):
            return
        for dep in spec.dependencies(layer):
            visit(dep)
        checks[name] = check_lock(spec, layer, layer_inputs(spec, layer, environ), now=now)
        record_check(spec, states, layer, checks[name])

    for layer in layers:
        visit(layer)
    return {name: check for name, check in checks.items() if name in wanted}


def lock_states(spec: StackSpec, environ: Mapping[str, str] | None = None) -> dict[str, LockState]:
    """The lock state of every enabled layer, in definition order (cascade applied).

    Only files are read (uv never runs) and only versioned applications have their modules
    hashed. A session computes it once and passes it on: the lock step updates it in place.
    """
    states: dict[str, LockState] = {}
    check_layers(spec, spec.enabled_layers, states, environ)
    return {layer.build_name: states[layer.build_name] for layer in spec.enabled_layers}
