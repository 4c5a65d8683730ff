"""Whether each layer's lock is valid, computed from the spec and the files (uv is never run).

A lock is valid (reference §3.5.5) when its metadata exists and records the current
requirements (``lock_input_hash``), the current lock file (``requirements_hash``, so a hand
edit invalidates it), the current other inputs (Python feature version, Linux/macOS targets,
lower layers) and, for versioned layers only, the current version inputs (name, app modules).
envstacks also checks what venvstacks does not record, when the metadata has it: the target
platforms and the stack's uv configuration. With an absolute ``exclude-newer`` the recorded
lock time must match it (:func:`envstacks.lock.meta.time_problem`). A layer whose lower layer
needs locking needs locking too, and so on upwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from packaging.requirements import InvalidRequirement, Requirement

from envstacks import layout
from envstacks.errors import LockError
from envstacks.fs import strings_sha256
from envstacks.lock import hashes, meta
from envstacks.lock.pylock import LockedLayer, load_pylock
from envstacks.lock.uvproject import uv_inputs_hash
from envstacks.spec.model import LayerSpec, StackSpec

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
    #: ``layout.install_target(layer, lock_version)``.
    install_target: str
    #: Why the lock is not valid (empty when it is).
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerInputs:
    """The current inputs of a layer's lock, from the spec and its module files."""

    lock_input_hash: str
    other_inputs_hash: str
    version_inputs_hash: str
    platforms: tuple[str, ...]
    uv_inputs_hash: str
    #: The absolute ``exclude-newer`` cut-off, if any.
    cutoff: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LockCheck:
    """The layer's own lock check (lower layers not considered)."""

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
    """Compute a layer's current lock inputs."""
    return LayerInputs(
        lock_input_hash=hashes.lock_input_hash(layer.requirements),
        other_inputs_hash=strings_sha256(hashes.other_inputs(spec, layer)),
        version_inputs_hash=strings_sha256(hashes.version_inputs(layer)),
        platforms=tuple(sorted(layer.platforms)),
        uv_inputs_hash=uv_inputs_hash(spec, layer),
        cutoff=meta.exclude_newer(spec, environ),
    )


def check_lock(
    spec: StackSpec, layer: LayerSpec, inputs: LayerInputs, *, now: datetime | None = None
) -> LockCheck:
    """Check one layer's lock files against its current inputs."""
    now = now or datetime.now().astimezone()
    pylock_path = layout.pylock_path(spec, layer)
    reasons: list[str] = []
    try:
        recorded = meta.read_meta(layout.lock_meta_path(spec, layer))
    except LockError as exc:
        recorded = None
        reasons.append(exc.message)
    if not pylock_path.exists():
        reasons.insert(0, "no lock file")
    elif recorded is None and not reasons:
        reasons.append("no lock metadata")
    locked: LockedLayer | None = None
    version_changed = False
    if recorded is not None:
        if recorded.lock_input_hash != inputs.lock_input_hash:
            reasons.append("requirements changed")
        elif pylock_path.exists():
            try:
                locked = load_pylock(pylock_path, layer=layer.build_name)
            except LockError as exc:
                reasons.append(exc.message)
            else:
                if hashes.requirements_hash(locked) != recorded.requirements_hash:
                    reasons.append("lock file changed since it was locked (edited by hand?)")
                reasons.extend(project_problems(spec, locked))
        if recorded.other_inputs_hash != inputs.other_inputs_hash:
            reasons.append("Python version, Linux/macOS target or lower layers changed")
        if layer.versioned and recorded.version_inputs_hash != inputs.version_inputs_hash:
            version_changed = True
            reasons.append("layer name, versioning or application modules changed")
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
    return LockCheck(
        metadata=recorded,
        locked=locked,
        reasons=tuple(reasons),
        version_only=version_changed and len(reasons) == 1,
    )


def _plain_requirements(requirements: Iterable[str]) -> set[str]:
    """Normalised requirements without the ``extra == ...`` ones (optional dependencies)."""
    result = set()
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            result.add(text)
            continue
        if req.marker is None or "extra" not in str(req.marker):
            result.add(str(req))
    return result


def project_problems(spec: StackSpec, locked: LockedLayer) -> list[str]:
    """Why a lock that ships the project is stale: its static dependencies changed."""
    entry = locked.project
    if entry is None or spec.project_dependencies is None:
        return []
    if _plain_requirements(entry.requires_dist) == _plain_requirements(spec.project_dependencies):
        return []
    return ["the project's [project].dependencies changed since it was locked"]


def _state(layer: LayerSpec, check: LockCheck, lower: tuple[str, ...]) -> LockState:
    recorded = check.metadata
    version = None
    if recorded is not None:
        version = recorded.lock_version if layer.versioned else 1
    reasons = (*check.reasons, *(LOWER_LAYER_REASON.format(name) for name in lower))
    return LockState(
        layer=layer.build_name,
        has_valid_lock=not reasons,
        lock_version=version,
        locked_at=recorded.locked_at if recorded is not None else None,
        requirements_hash=recorded.requirements_hash if recorded is not None else None,
        install_target=layout.install_target(layer, version),
        reasons=reasons,
    )


def check_layers(
    spec: StackSpec, layers: tuple[LayerSpec, ...], environ: Mapping[str, str] | None = None
) -> dict[str, tuple[LockCheck, LockState]]:
    """Check ``layers`` and every layer below them; states include the upward cascade."""
    now = datetime.now().astimezone()
    results: dict[str, tuple[LockCheck, LockState]] = {}

    def visit(layer: LayerSpec) -> LockState:
        name = layer.build_name
        if name not in results:
            lower = tuple(
                dep.build_name for dep in spec.dependencies(layer) if not visit(dep).has_valid_lock
            )
            check = check_lock(spec, layer, layer_inputs(spec, layer, environ), now=now)
            results[name] = (check, _state(layer, check, lower))
        return results[name][1]

    for layer in layers:
        visit(layer)
    return results


def lock_states(spec: StackSpec) -> dict[str, LockState]:
    """The lock state of every enabled layer, in definition order (cascade applied)."""
    checked = check_layers(spec, spec.enabled_layers)
    return {layer.build_name: checked[layer.build_name][1] for layer in spec.enabled_layers}
