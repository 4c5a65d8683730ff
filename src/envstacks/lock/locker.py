"""The lock step for one layer: decide whether to run uv, run it, and write the lock files.

Files written for a layer (``<requirements-dir>/<layer>/``): ``pylock.<layer>.toml`` (the
post-processed PEP 751 lock), ``pylock.<layer>.meta.json`` (hashes, version, lock time),
``requirements-<layer>.in`` (declared requirements) and ``packages-<layer>.txt`` (summary).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from envstacks import layout, proc
from envstacks.errors import LockError
from envstacks.lock import hashes, markers, meta, postprocess, resolve, summary, uvproject
from envstacks.lock.project import project_key, requires_project, wheel_requires_dist
from envstacks.lock.pylock import LockedLayer, load_pylock, parse_pylock
from envstacks.lock.validity import LayerInputs, LockCheck, LockState, check_layers, layer_inputs
from envstacks.report import Reporter
from envstacks.spec.model import LayerSpec, StackSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class LockOptions:
    """Command-line choices for the lock step (never recorded as lock inputs)."""

    #: ``False`` = ``--no-index``: only find-links and local wheels.
    index: bool = True
    #: ``--local-wheels`` folders (extra find-links); the lock records paths relative to it.
    local_wheels: tuple[Path, ...] = ()
    #: The project's freshly built wheel, for layers that require the project itself.
    project_wheel: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockResult:
    """What the lock step did for one layer."""

    layer: str
    pylock_path: Path
    #: uv was run (``False``: the existing lock was valid, or only its version was bumped).
    ran_uv: bool
    #: The lock or its version or lock time changed.
    changed: bool
    state: LockState


def _python_version(python: Path, spec: StackSpec, layer: LayerSpec, reporter: Reporter) -> str:
    """The full Python version to evaluate markers with, after checking the interpreter."""
    runtime = spec.runtime_of(layer)
    result = proc.run(
        [python, "-I", "-c", "import platform; print(platform.python_version())"],
        reporter=reporter,
        what=f"ask the interpreter {python} for its version",
        error=LockError,
    )
    found = result.stdout.strip()
    if ".".join(found.split(".")[:2]) != runtime.py_version:
        raise LockError(
            f"Layer {layer.build_name!r}: cannot lock with {python}: it is Python {found}, "
            f"but runtime {runtime.build_name!r} is Python {runtime.py_version}",
            hint=f"pass an interpreter of Python {runtime.py_version} (the runtime layer's own)",
        )
    # The spec's full version makes markers independent of the machine that locks.
    return runtime.python_version if runtime.python_version.count(".") >= 2 else found


def _write_pylock(path: Path, text: str) -> bool:
    """Write the lock file atomically if its text changed; True if it was written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8", newline="\n")
    temporary.replace(path)
    return True


def _new_meta(
    layer: LayerSpec,
    inputs: LayerInputs,
    old: meta.LockMeta | None,
    requirements_hash: str,
    now: datetime,
) -> meta.LockMeta:
    """The metadata for a fresh resolution: new time and version only if the lock changed."""
    same = (
        old is not None
        and old.requirements_hash == requirements_hash
        and old.lock_input_hash == inputs.lock_input_hash
        and old.other_inputs_hash == inputs.other_inputs_hash
        and (not layer.versioned or old.version_inputs_hash == inputs.version_inputs_hash)
    )
    if old is not None and same:
        locked_at = old.locked_at
        if meta.time_problem(old.locked_time, inputs.cutoff, now):
            locked_at = meta.format_time(meta.lock_time(now, inputs.cutoff))
        version = old.lock_version
    else:
        locked_at = meta.format_time(meta.lock_time(now, inputs.cutoff))
        version = old.lock_version + 1 if layer.versioned and old is not None else 1
    return meta.LockMeta(
        lock_input_hash=inputs.lock_input_hash,
        requirements_hash=requirements_hash,
        other_inputs_hash=inputs.other_inputs_hash,
        version_inputs_hash=inputs.version_inputs_hash,
        lock_version=version,
        locked_at=locked_at,
        platforms=inputs.platforms,
        uv_inputs_hash=inputs.uv_inputs_hash,
    )


def _changed(old: meta.LockMeta | None, new: meta.LockMeta) -> bool:
    return old is None or (old.requirements_hash, old.lock_version, old.locked_at) != (
        new.requirements_hash,
        new.lock_version,
        new.locked_at,
    )


def _lower_locks(spec: StackSpec, layer: LayerSpec) -> dict[str, LockedLayer]:
    return {
        dep.build_name: load_pylock(layout.pylock_path(spec, dep), layer=dep.build_name)
        for dep in spec.dependencies(layer)
    }


def _resolve(
    spec: StackSpec,
    layer: LayerSpec,
    *,
    python: Path,
    options: LockOptions,
    project_requires: tuple[str, ...] | None,
    reporter: Reporter,
) -> str:
    """Run uv for the layer and return the post-processed lock text."""
    name = layer.build_name
    full_version = _python_version(python, spec, layer, reporter)
    with reporter.task(name, "lock", total=4) as task:
        task.note("writing the uv project")
        project = uvproject.write_project(
            spec,
            layer,
            locks=_lower_locks(spec, layer),
            python_version=full_version,
            index=options.index,
            find_links=options.local_wheels,
            project_wheel=options.project_wheel if project_requires is not None else None,
        )
        reporter.debug(
            f"{name}: uv project {project.pyproject}:\n" + project.pyproject.read_text("utf-8")
        )
        task.advance()
        task.note("resolving (uv lock)")
        resolve.uv_lock(project, python=python, layer=layer, reporter=reporter)
        task.advance()
        task.note("exporting (uv export)")
        exported = resolve.uv_export(project, python=python, layer=layer, reporter=reporter)
        task.advance()
        task.note("checking markers, shared packages and wheels")
        runtime = spec.runtime_of(layer)
        context = postprocess.Context(
            layer=layer,
            environments=markers.environments(
                layer.platforms,
                implementation=runtime.implementation,
                python_full_version=full_version,
            ),
            pins=project.pins,
            lock_dir=layout.requirements_dir(spec, layer),
            export_dir=project.directory,
            project=project_key(spec) if project_requires is not None else None,
            project_requires=project_requires or (),
        )
        data = postprocess.postprocess(tomllib.loads(exported.read_text("utf-8")), context)
        task.advance()
    return postprocess.render(data, name)


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
    if wanted is None or wheel is None or check.locked is None:
        return False
    entry = check.locked.project
    return entry is None or sorted(entry.requires_dist) != sorted(wanted)


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
    """Lock one layer (its lower layers must already have valid locks).

    Args:
        spec: the stack.
        layer: the layer to lock.
        python: an interpreter of the runtime's Python feature version.
        if_needed: run uv only if the lock is not valid (a versioned layer whose only change
            is its version inputs gets a new version without uv).
        reset: delete the existing lock file first (the version history is kept).
        options: command-line choices.
        reporter: receives progress and messages.

    Raises:
        LockError: a lower layer is not locked, uv found no solution, or a package lacks
            wheels for a target platform.
    """
    name = layer.build_name
    if not layer.enabled:
        raise LockError(
            f"Layer {name!r} targets no platform ({layer.toml_path}.platforms is empty), "
            "so it is never locked",
            hint=f"give {layer.toml_path} some platforms, or leave it out of the selection",
        )
    checked = check_layers(spec, (layer,))
    unlocked = [
        dep.build_name
        for dep in spec.dependencies(layer)
        if not checked[dep.build_name][1].has_valid_lock
    ]
    if unlocked:
        raise LockError(
            f"Layer {name!r}: cannot lock with unlocked lower layers: {unlocked}",
            hint=f"lock them first (`envstacks lock --include {name} --lock-dependencies`)",
        )
    check, state = checked[name]
    pylock_path = layout.pylock_path(spec, layer)
    meta_path = layout.lock_meta_path(spec, layer)
    summary.write_requirements_in(spec, layer)
    project_requires = _project_requires(spec, layer, options)
    project_stale = _project_stale(check, project_requires, options.project_wheel)
    inputs = layer_inputs(spec, layer)

    if if_needed and not reset and not project_stale:
        if state.has_valid_lock:
            summary.write_summary(spec, layer, check.locked or read_lock(spec, layer))
            reporter.debug(f"{name}: lock is valid ({pylock_path})")
            return LockResult(
                layer=name, pylock_path=pylock_path, ran_uv=False, changed=False, state=state
            )
        if check.version_only and check.metadata is not None and check.locked is not None:
            old = check.metadata
            new = meta.LockMeta(
                lock_input_hash=old.lock_input_hash,
                requirements_hash=old.requirements_hash,
                other_inputs_hash=old.other_inputs_hash,
                version_inputs_hash=inputs.version_inputs_hash,
                lock_version=old.lock_version + 1,
                locked_at=old.locked_at,
                platforms=old.platforms,
                uv_inputs_hash=old.uv_inputs_hash,
            )
            meta.write_meta(meta_path, new)
            summary.write_summary(spec, layer, check.locked)
            reporter.info(f"{name}: new layer version {new.lock_version} (lock unchanged)")
            return LockResult(
                layer=name,
                pylock_path=pylock_path,
                ran_uv=False,
                changed=True,
                state=check_layers(spec, (layer,))[name][1],
            )

    if project_requires is not None and options.project_wheel is None:
        raise LockError(
            f"Layer {name!r} requires the project's own distribution ({spec.project_name!r}), "
            "but no wheel of the project was given to lock it with",
            hint="lock through a front-end that builds the project's wheel (the envstacks CLI, "
            "`pdm venvstacks lock` or the Hatch plugin), or pass LockOptions.project_wheel",
        )
    if reset and pylock_path.exists():
        reporter.info(f"{name}: resetting the lock (removing {pylock_path})")
        pylock_path.unlink()
    text = _resolve(
        spec,
        layer,
        python=python,
        options=options,
        project_requires=project_requires,
        reporter=reporter,
    )
    locked = parse_pylock(text, layer=name, path=pylock_path)
    now = datetime.now().astimezone()
    new = _new_meta(layer, inputs, check.metadata, hashes.requirements_hash(locked), now)
    _write_pylock(pylock_path, text)
    meta.write_meta(meta_path, new)
    summary.write_summary(spec, layer, locked)
    changed = _changed(check.metadata, new)
    reporter.info(
        f"{name}: {'locked' if changed else 'lock unchanged'}: {len(locked.installed)} packages"
        + (f", {len(locked.shared)} from lower layers" if locked.shared else "")
    )
    return LockResult(
        layer=name,
        pylock_path=pylock_path,
        ran_uv=True,
        changed=changed,
        state=check_layers(spec, (layer,))[name][1],
    )


def read_lock(spec: StackSpec, layer: LayerSpec) -> LockedLayer:
    """The parsed lock of a layer (for summaries, the build step and publish metadata).

    Raises:
        LockError: the layer has no lock file, or it cannot be parsed.
    """
    return load_pylock(layout.pylock_path(spec, layer), layer=layer.build_name)
