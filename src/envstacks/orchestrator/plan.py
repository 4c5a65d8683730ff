"""Turn a layer selection (``--include``, ``--reset-lock``...) into a Plan of operations."""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from envstacks.floor.errors import SelectionError
from envstacks.floor.platforms import host_platform
from envstacks.floor.suggest import did_you_mean
from envstacks.stages.stackspec.model import LayerSpec, StackSpec


class Op(enum.IntEnum):
    """How strongly an operation is wanted for a layer (ordered: a merge keeps the stronger)."""

    SKIP = 0
    IF_NEEDED = 1
    RUN = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerOps:
    """The operations planned for one layer."""

    name: str
    lock: Op = Op.SKIP
    build: Op = Op.SKIP
    publish: bool = False
    reset_lock: bool = False
    #: Why the layer is in the plan: ``"selected"``, ``"dependency"`` or ``"derived"``.
    reason: str = "selected"

    @property
    def labels(self) -> tuple[str, ...]:
        """The operations as venvstacks' ``--show`` labels them."""
        labels: list[str] = []
        if self.reset_lock:
            labels.append("reset-lock")
        if self.lock is Op.RUN:
            labels.append("lock")
        elif self.lock is Op.IF_NEEDED:
            labels.append("lock-if-needed")
        if self.build is Op.RUN:
            labels.append("build")
        elif self.build is Op.IF_NEEDED:
            labels.append("build-if-needed")
        if self.publish:
            labels.append("publish")
        return tuple(labels)

    def merged(self, other: LayerOps) -> LayerOps:
        """Combine two plans for the same layer, keeping the stronger of each operation."""
        return LayerOps(
            name=self.name,
            lock=max(self.lock, other.lock),
            build=max(self.build, other.build),
            publish=self.publish or other.publish,
            reset_lock=self.reset_lock or other.reset_lock,
            reason=self.reason if self.reason == "selected" else other.reason,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The layers an operation touches, in definition order (runtimes, frameworks, apps)."""

    layers: tuple[LayerOps, ...] = ()
    #: Patterns that matched no layer (only kept when ``allow_missing`` was given).
    unmatched: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Build names of the planned layers."""
        return tuple(ops.name for ops in self.layers)

    def get(self, name: str) -> LayerOps | None:
        """The operations for a layer, or ``None`` if it is not in the plan."""
        for ops in self.layers:
            if ops.name == name:
                return ops
        return None

    def to_lock(self) -> tuple[LayerOps, ...]:
        """Layers whose lock step runs (always or if needed)."""
        return tuple(ops for ops in self.layers if ops.lock is not Op.SKIP)

    def to_build(self) -> tuple[LayerOps, ...]:
        """Layers whose build step runs (always or if needed)."""
        return tuple(ops for ops in self.layers if ops.build is not Op.SKIP)

    def to_publish(self) -> tuple[LayerOps, ...]:
        """Layers that are published (or exported)."""
        return tuple(ops for ops in self.layers if ops.publish)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which layers a command selects and the operations it asks for them.

    :func:`make_plan` applies it to the stack: the layers it names, their dependencies and
    the layers derived from them, each with its operations.
    """

    lock: Op = Op.SKIP
    build: Op = Op.SKIP
    publish: bool = False
    include: Sequence[str] = ()
    reset_lock: Sequence[str] = ()
    allow_missing: bool = False
    lock_dependencies: bool = False
    build_dependencies: bool = False
    publish_dependencies: bool = False
    build_derived: bool = False
    publish_derived: bool = False
    #: The platform to build and publish for; default: the host's.
    platform: str | None = field(default_factory=host_platform)


def match_layers(
    spec: StackSpec, patterns: Iterable[str]
) -> tuple[tuple[LayerSpec, ...], tuple[str, ...]]:
    """The enabled layers whose build name matches a pattern, and the patterns matching none."""
    patterns = tuple(patterns)
    matched: list[LayerSpec] = []
    unmatched: list[str] = []
    for pattern in patterns:
        hits = [
            layer for layer in spec.enabled_layers if fnmatch.fnmatchcase(layer.build_name, pattern)
        ]
        if not hits:
            unmatched.append(pattern)
        matched.extend(layer for layer in hits if layer not in matched)
    return tuple(matched), tuple(unmatched)


def unmatched_note(spec: StackSpec, pattern: str) -> str:
    """Why a pattern matched nothing, as a parenthesis: a layer's ``name``, or a close name.

    Patterns match build names (``app-stats``), not the ``name`` written in the spec
    (``stats``); a pattern that would match a name gets the build name it meant.
    """
    by_name = [
        layer
        for layer in spec.enabled_layers
        if layer.kind.prefix and fnmatch.fnmatchcase(layer.name, pattern)
    ]
    if by_name:
        meant = ", ".join(repr(layer.kind.prefix + pattern) for layer in by_name)
        what = ", ".join(f"{layer.kind.value} {layer.name!r}" for layer in by_name)
        return f" (that is the name of {what}; patterns match build names: use {meant})"
    return did_you_mean(pattern, [layer.build_name for layer in spec.enabled_layers])


def make_plan(spec: StackSpec, request: Selection) -> Plan:
    """Decide the operations for every layer a request touches.

    Without ``include``, every enabled layer is selected. With it, the matching layers are
    selected; their dependencies are added (locked and built if needed unless
    ``*_dependencies`` asks for more) and so are the layers derived from them (relocked
    when locking; built or published only with ``*_derived``). A layer that is both
    dependency and derived keeps the stronger operation of each kind. Layers that do not
    target the build platform are only ever locked: locks are cross-platform, builds are not.

    Raises:
        SelectionError: a pattern matched no layer and ``allow_missing`` is false.
    """
    reset_hits, reset_missing = match_layers(spec, request.reset_lock)
    if request.include:
        selected, missing = match_layers(spec, request.include)
    else:
        selected, missing = spec.enabled_layers, ()
    unmatched = (*reset_missing, *missing)
    if unmatched and not request.allow_missing:
        raise SelectionError(
            "No matching layers found for: "
            + ", ".join(f"{p!r}{unmatched_note(spec, p)}" for p in unmatched),
            hint="check the pattern against `envstacks show` (patterns match build names such as "
            "'app-*' or 'framework-x'), or pass --allow-missing to make this a warning",
        )
    planned = _selected_ops(spec, request, selected)
    reset = {layer.build_name for layer in reset_hits}
    layers = tuple(
        _for_platform(
            layer, planned[layer.build_name], request.platform, reset=layer.build_name in reset
        )
        for layer in spec.enabled_layers
        if layer.build_name in planned
    )
    return Plan(layers=layers, unmatched=unmatched)


def _selected_ops(
    spec: StackSpec, request: Selection, selected: Sequence[LayerSpec]
) -> dict[str, LayerOps]:
    """The operations of the selected layers and (with ``include``) their relatives, merged."""
    planned: dict[str, LayerOps] = {}

    def add(ops: LayerOps) -> None:
        planned[ops.name] = planned[ops.name].merged(ops) if ops.name in planned else ops

    for layer in selected:
        add(
            LayerOps(
                name=layer.build_name,
                lock=request.lock,
                build=request.build,
                publish=request.publish,
            )
        )
    if not request.include:
        return planned
    for layer in selected:
        for dep in spec.dependencies(layer):
            add(
                LayerOps(
                    name=dep.build_name,
                    lock=_dependency_op(request.lock, request.lock_dependencies),
                    build=_dependency_op(request.build, request.build_dependencies),
                    publish=request.publish and request.publish_dependencies,
                    reason="dependency",
                )
            )
        for derived in spec.derived(layer):
            if derived.enabled:
                add(
                    LayerOps(
                        name=derived.build_name,
                        lock=request.lock,
                        build=request.build if request.build_derived else Op.SKIP,
                        publish=request.publish and request.publish_derived,
                        reason="derived",
                    )
                )
    return planned


def _for_platform(
    layer: LayerSpec, ops: LayerOps, platform: str | None, *, reset: bool
) -> LayerOps:
    """``ops`` limited to locking off the build platform, with ``reset_lock`` where it applies."""
    if platform is None or not layer.targets(platform):
        # Locks are cross-platform; environments and archives are made on their platform.
        ops = dataclasses.replace(ops, build=Op.SKIP, publish=False)
    if reset and ops.lock is not Op.SKIP:
        ops = dataclasses.replace(ops, reset_lock=True)
    return ops


def _dependency_op(requested: Op, always: bool) -> Op:
    if requested is Op.SKIP:
        return Op.SKIP
    return Op.RUN if always else Op.IF_NEEDED
