"""The lock step: lock the planned layers lowest first, running uv only where a lock must change.

Files written for a layer (``<requirements-dir>/<layer>/``): ``pylock.<layer>.toml`` (the
post-processed PEP 751 lock), ``pylock.<layer>.meta.json`` (hashes, version, lock time),
``requirements-<layer>.in`` (declared requirements) and ``packages-<layer>.txt`` (summary).
The lock and its metadata are replaced atomically and flushed to disk; the ``.in`` file is
written only with them, so a failed lock leaves the four files as they were.

The stack is checked once per call (:func:`envstacks.stages.locking.validity.check_layers`), or not
at all when the session's lock states are passed in; each layer's state is brought up to date as
soon as it is locked, so the layers above see it.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from envstacks.floor.errors import LockError
from envstacks.floor.fs import remove_stale_temporaries, write_text
from envstacks.floor.report import Reporter, plural
from envstacks.stages.locking import hashes
from envstacks.stages.locking import lock_meta as meta
from envstacks.stages.locking import package_list as summary
from envstacks.stages.locking.project_dist import requires_project, wheel_requires_dist
from envstacks.stages.locking.pylock import (
    LockedLayer,
    parse_pylock,
    read_lock,
    same_lock_data,
)
from envstacks.stages.locking.requirements import same_requirements
from envstacks.stages.locking.resolve import LockOptions, python_version, resolve_layer
from envstacks.stages.locking.validity import (
    LockCheck,
    LockState,
    check_layers,
    check_lock,
    record_check,
)
from envstacks.stages.locking.variant_check import check_over_variants, variant_checks
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import LayerSpec, RuntimeSpec, StackSpec

#: Gives an interpreter of a runtime's Python feature version (asked once per runtime).
PythonFor = Callable[[RuntimeSpec], Path]
#: The interpreter to lock a layer with and its full Python version.
_Interpreter = Callable[[LayerSpec], tuple[Path, str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class LockRequest:
    """One layer to lock, and how."""

    layer: LayerSpec
    #: Run uv only if the lock is not valid (a versioned layer whose only change is its
    #: version inputs gets a new version without uv).
    if_needed: bool = False
    #: Delete the existing lock file first (the version history is kept).
    reset: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LockResult:
    """What the lock step did for one layer."""

    layer: str
    pylock_path: Path
    #: uv was run (``False``: the existing lock was valid, or only its version was bumped).
    ran_uv: bool
    #: The lock or its version or lock time changed.
    changed: bool
    #: The layer's lock state afterwards.
    state: LockState


def lock_layers(
    spec: StackSpec,
    requests: Sequence[LockRequest],
    *,
    python_for: PythonFor,
    options: LockOptions,
    reporter: Reporter,
    states: MutableMapping[str, LockState] | None = None,
) -> list[LockResult]:
    """Lock the requested layers, lowest first; results come in that order.

    Args:
        spec: the stack.
        requests: the layers to lock, in any order.
        python_for: an interpreter of a runtime's Python feature version; asked only when uv
            runs, once per runtime.
        options: command-line choices.
        reporter: receives progress and messages.
        states: the session's lock states (:func:`envstacks.stages.locking.lock_states`): reused
        rather
            than computed again, and updated in place as layers are locked.

    Raises:
        LockError: a layer targets no platform, a lower layer is not locked, uv found no
            solution, or a package lacks wheels for a target platform.
    """
    position = {layer.build_name: index for index, layer in enumerate(spec.layers)}
    ordered = sorted(requests, key=lambda request: position[request.layer.build_name])
    for request in ordered:
        _require_enabled(request.layer)
    states = {} if states is None else states
    checks = check_layers(spec, [request.layer for request in ordered], states)
    interpreter = _interpreters(spec, python_for, reporter)
    results: list[LockResult] = []
    for request in ordered:
        layer = request.layer
        _require_lower_locks(spec, layer, states)
        check = checks[layer.build_name]
        ran_uv, changed = _lock(
            spec, request, check, interpreter=interpreter, options=options, reporter=reporter
        )
        state = states[layer.build_name]
        if ran_uv or changed:
            state = record_check(spec, states, layer, check_lock(spec, layer, check.inputs))
        results.append(
            LockResult(
                layer=layer.build_name,
                pylock_path=stack_paths.pylock_path(spec, layer),
                ran_uv=ran_uv,
                changed=changed,
                state=state,
            )
        )
    _check_variants(
        spec, ordered, states, interpreter=interpreter, options=options, reporter=reporter
    )
    return results


def _check_variants(
    spec: StackSpec,
    ordered: Sequence[LockRequest],
    states: MutableMapping[str, LockState],
    *,
    interpreter: _Interpreter,
    options: LockOptions,
    reporter: Reporter,
) -> None:
    """Check the locked layers above frameworks with variants over every variant.

    The layers checked are those just locked and those whose variants were just locked.
    """
    locked = {request.layer.build_name for request in ordered}
    for layer in spec.enabled_layers:
        pairs = variant_checks(spec, layer)
        touched = layer.build_name in locked or any(
            other.build_name in locked for _, other in pairs
        )
        state = states.get(layer.build_name)
        if not pairs or not touched or state is None or not state.has_valid_lock:
            continue
        python, full_version = interpreter(layer)
        check_over_variants(
            spec,
            layer,
            python=python,
            full_version=full_version,
            options=options,
            reporter=reporter,
        )


def lock_layer(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    python: Path,
    if_needed: bool,
    reset: bool,
    options: LockOptions,
    reporter: Reporter,
) -> LockResult:
    """Lock one layer whose lower layers have valid locks (see :func:`lock_layers`)."""
    (result,) = lock_layers(
        spec,
        [LockRequest(layer=layer, if_needed=if_needed, reset=reset)],
        python_for=lambda _runtime: python,
        options=options,
        reporter=reporter,
    )
    return result


def _require_enabled(layer: LayerSpec) -> None:
    if not layer.enabled:
        raise LockError(
            f"Layer {layer.build_name!r} targets no platform ({layer.toml_path}.platforms is "
            "empty), so it is never locked",
            hint=f"give {layer.toml_path} some platforms, or leave it out of the selection",
        )


def _require_lower_locks(
    spec: StackSpec, layer: LayerSpec, states: MutableMapping[str, LockState]
) -> None:
    name = layer.build_name
    unlocked = [
        dep.build_name
        for dep in spec.dependencies(layer)
        if not states[dep.build_name].has_valid_lock
    ]
    if unlocked:
        raise LockError(
            f"Layer {name!r}: cannot lock with unlocked lower layers: {unlocked}",
            hint=f"lock them first (`envstacks lock --include {name} --lock-dependencies`)",
        )


def _interpreters(spec: StackSpec, python_for: PythonFor, reporter: Reporter) -> _Interpreter:
    """Find and check each runtime's interpreter once, when a layer on it first needs uv."""
    found: dict[str, tuple[Path, str]] = {}

    def interpreter(layer: LayerSpec) -> tuple[Path, str]:
        runtime = spec.runtime_of(layer)
        if runtime.build_name not in found:
            python = python_for(runtime)
            found[runtime.build_name] = (python, python_version(python, spec, layer, reporter))
        return found[runtime.build_name]

    return interpreter


def _lock(
    spec: StackSpec,
    request: LockRequest,
    check: LockCheck,
    *,
    interpreter: _Interpreter,
    options: LockOptions,
    reporter: Reporter,
) -> tuple[bool, bool]:
    """Lock one layer; returns whether uv ran and whether the lock files changed."""
    layer = request.layer
    project_requires = _project_requires(spec, layer, options)
    if (
        request.if_needed
        and not request.reset
        and not _project_stale(check, project_requires, options.project_wheel)
    ):
        if not check.reasons:
            summary.write_requirements_in(spec, layer)
            summary.write_summary(spec, layer, check.locked or read_lock(spec, layer))
            reporter.debug(
                f"{layer.build_name}: lock is valid ({stack_paths.pylock_path(spec, layer)})"
            )
            return False, False
        if check.version_only and check.metadata is not None and check.locked is not None:
            _bump_version(
                spec, layer, check, old=check.metadata, locked=check.locked, reporter=reporter
            )
            return False, True
    if project_requires is not None and options.project_wheel is None:
        raise LockError(
            f"Layer {layer.build_name!r} requires the project's own distribution "
            f"({spec.project_name!r}), but no wheel of the project was given to lock it with",
            hint="lock through a front-end that builds the project's wheel (the envstacks CLI, "
            "`pdm venvstacks lock` or the Hatch plugin), or pass LockOptions.project_wheel",
        )
    pylock_path = stack_paths.pylock_path(spec, layer)
    if request.reset and pylock_path.exists():
        reporter.info(f"{layer.build_name}: resetting the lock (removing {pylock_path})")
        pylock_path.unlink()
    python, full_version = interpreter(layer)
    text = resolve_layer(
        spec,
        layer,
        python=python,
        full_version=full_version,
        options=options,
        project_requires=project_requires,
        reporter=reporter,
    )
    return True, _write_lock(spec, layer, check, text, reporter)


def _project_requires(
    spec: StackSpec, layer: LayerSpec, options: LockOptions
) -> tuple[str, ...] | None:
    """The project wheel's dependencies if the layer requires the project (else ``None``)."""
    if not requires_project(spec, layer):
        return None
    if options.project_wheel is None:
        return ()
    return wheel_requires_dist(options.project_wheel)


def _project_stale(check: LockCheck, wanted: tuple[str, ...] | None, wheel: Path | None) -> bool:
    """Whether the project's wheel no longer has the dependencies its lock entry records."""
    if wanted is None or wheel is None or check.locked is None:
        return False
    entry = check.locked.project
    return entry is None or not same_requirements(entry.requires_dist, wanted)


def _version_inputs_hash(layer: LayerSpec, check: LockCheck) -> str:
    """The layer's version inputs hash (checks skip it for unversioned layers)."""
    recorded = check.inputs.version_inputs_hash
    return recorded if recorded is not None else hashes.version_inputs_hash(layer)


def _bump_version(
    spec: StackSpec,
    layer: LayerSpec,
    check: LockCheck,
    *,
    old: meta.LockMeta,
    locked: LockedLayer,
    reporter: Reporter,
) -> None:
    """Give a versioned layer whose modules changed a new version, keeping its lock."""
    new = replace(
        old,
        version_inputs_hash=_version_inputs_hash(layer, check),
        lock_version=old.lock_version + 1,
    )
    meta.write_meta(stack_paths.lock_meta_path(spec, layer), new)
    summary.write_requirements_in(spec, layer)
    summary.write_summary(spec, layer, locked)
    reporter.info(f"{layer.build_name}: new layer version {new.lock_version} (lock unchanged)")


def _write_lock(
    spec: StackSpec, layer: LayerSpec, check: LockCheck, text: str, reporter: Reporter
) -> bool:
    """Write a fresh resolution and its metadata; returns whether the lock changed."""
    pylock_path = stack_paths.pylock_path(spec, layer)
    locked = parse_pylock(text, layer=layer.build_name, path=pylock_path)
    remove_stale_temporaries(pylock_path.parent)  # what a killed lock left while writing
    old = check.metadata
    new = _new_meta(layer, check, hashes.requirements_hash(locked), datetime.now().astimezone())
    if not _holds(pylock_path, text):
        write_text(pylock_path, text, durable=True)
    meta.write_meta(stack_paths.lock_meta_path(spec, layer), new)
    # The declared requirements only with the lock made from them (a failed lock keeps both).
    summary.write_requirements_in(spec, layer)
    summary.write_summary(spec, layer, locked)
    changed = old is None or (old.requirements_hash, old.lock_version, old.locked_at) != (
        new.requirements_hash,
        new.lock_version,
        new.locked_at,
    )
    reporter.info(
        f"{layer.build_name}: {'locked' if changed else 'lock unchanged'}: "
        f"{plural(len(locked.installed), 'package')}"
        + (f", {len(locked.shared)} from lower layers" if locked.shared else "")
    )
    return changed


def _holds(path: Path, text: str) -> bool:
    """Whether the lock file already says what ``text`` says (its header comments aside)."""
    try:
        old = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return old == text or same_lock_data(old, text)


def _new_meta(
    layer: LayerSpec, check: LockCheck, requirements_hash: str, now: datetime
) -> meta.LockMeta:
    """The metadata for a fresh resolution: new time and version only if the lock changed."""
    inputs, old = check.inputs, check.metadata
    version_hash = _version_inputs_hash(layer, check)
    new_time = meta.format_time(meta.lock_time(now, inputs.cutoff, meta.source_date_epoch()))
    if old is None:
        locked_at, version = new_time, 1
    elif (
        old.requirements_hash == requirements_hash
        and old.lock_input_hash == inputs.lock_input_hash
        and old.other_inputs_hash == inputs.other_inputs_hash
        and (not layer.versioned or old.version_inputs_hash == version_hash)
    ):
        stale = meta.time_problem(old.locked_time, inputs.cutoff, now)
        locked_at, version = (new_time if stale else old.locked_at), old.lock_version
    else:
        locked_at, version = new_time, (old.lock_version + 1 if layer.versioned else 1)
    return meta.LockMeta(
        lock_input_hash=inputs.lock_input_hash,
        requirements_hash=requirements_hash,
        other_inputs_hash=inputs.other_inputs_hash,
        version_inputs_hash=version_hash,
        lock_version=version,
        locked_at=locked_at,
        platforms=inputs.platforms,
        uv_inputs_hash=inputs.uv_inputs_hash,
    )
