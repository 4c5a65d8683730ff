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
from envstacks.stages.stackspec.model import FrameworkSpec, LayerSpec, StackSpec


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


class Step(enum.Enum):
    """A step of a run that works on layers before publishing or exporting them."""

    LOCK = "lock"
    BUILD = "build"


#: Every step (what a front-end that just wants its layers ready asks for).
ALL_STEPS = frozenset(Step)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The layers an operation touches, in definition order (runtimes, frameworks, apps)."""

    layers: tuple[LayerOps, ...] = ()
    #: Patterns that matched no layer (only kept when ``allow_missing`` was given).
    unmatched: tuple[str, ...] = ()
    #: The steps the command runs: a layer's lock and build operations only happen in them.
    steps: frozenset[Step] = ALL_STEPS

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
        if Step.LOCK not in self.steps:
            return ()
        return tuple(ops for ops in self.layers if ops.lock is not Op.SKIP)

    def to_build(self) -> tuple[LayerOps, ...]:
        """Layers whose build step runs (always or if needed)."""
        if Step.BUILD not in self.steps:
            return ()
        return tuple(ops for ops in self.layers if ops.build is not Op.SKIP)

    def to_publish(self) -> tuple[LayerOps, ...]:
        """Layers that are published (or exported)."""
        return tuple(ops for ops in self.layers if ops.publish)


@dataclass(frozen=True, slots=True, kw_only=True)
class Selection:
    """Which layers a command selects and the operations it asks for them.

    :func:`make_plan` applies it to the stack: the layers it names, their dependencies and
    the layers derived from them, each with its operations. The fields are venvstacks'
    ``select_layers`` arguments (``Op.RUN`` is its ``True``,
    ``Op.IF_NEEDED`` its ``None``, ``Op.SKIP`` its ``False``), so a command line venvstacks
    accepts selects the same operations.
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
    #: The steps the command runs (venvstacks' ``publish`` and ``local-export`` neither lock
    #: nor build, whatever operations their selection shows for the layers below).
    steps: frozenset[Step] = ALL_STEPS


def match_layers(
    spec: StackSpec, patterns: Iterable[str]
) -> tuple[tuple[LayerSpec, ...], tuple[str, ...]]:
    """The enabled layers whose build name matches a pattern, and the patterns matching none."""
    patterns = tuple(patterns)
    matched: list[LayerSpec] = []
    unmatched: list[str] = []
    for pattern in patterns:
        # A framework with variants is also matched by its own build name (all its variants).
        hits = [
            layer
            for layer in spec.enabled_layers
            if fnmatch.fnmatchcase(layer.build_name, pattern)
            or (
                isinstance(layer, FrameworkSpec)
                and layer.variant_of is not None
                and fnmatch.fnmatchcase(layer.kind.prefix + layer.variant_of, pattern)
            )
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
    """Decide the operations for every layer a request touches, as venvstacks 0.8 does.

    Without ``include`` or ``reset_lock``, every enabled layer gets the requested operations.
    Otherwise the matching layers (every layer without ``include``) get them, and
    :func:`_related_ops` adds their dependencies (locked and built if needed, unless
    ``*_dependencies`` asks for more) and the layers derived from them (relocked when
    locking; built or published only with ``*_derived``). Layers that do not target the build
    platform are only ever locked: locks are cross-platform, builds are not.

    Raises:
        SelectionError: a pattern matched no layer and ``allow_missing`` is false, or a layer
            is both a dependency and a derived layer of the selection with different
            operations (venvstacks refuses such "conflicting instructions" too).
    """
    reset_hits, reset_missing = match_layers(spec, request.reset_lock)
    if request.include:
        selected, missing = match_layers(spec, request.include)
    else:
        selected, missing = spec.enabled_layers, ()
    unmatched = (*missing, *reset_missing)
    if unmatched and not request.allow_missing:
        raise SelectionError(
            "No matching layers found for: "
            + ", ".join(f"{p!r}{unmatched_note(spec, p)}" for p in unmatched),
            hint="check the pattern against `envstacks show` (patterns match build names such as "
            "'app-*' or 'framework-x'), or pass --allow-missing to make this a warning",
        )
    reset = {layer.build_name for layer in reset_hits}
    planned = {
        layer.build_name: LayerOps(
            name=layer.build_name,
            lock=request.lock,
            build=request.build,
            publish=request.publish,
            reset_lock=layer.build_name in reset,
        )
        for layer in selected
    }
    if request.include or request.reset_lock:
        planned.update(_related_ops(spec, request, selected, reset))
    layers = tuple(
        _for_platform(layer, planned[layer.build_name], request.platform)
        for layer in spec.enabled_layers
        if layer.build_name in planned
    )
    return Plan(layers=layers, unmatched=unmatched, steps=request.steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Related:
    """The operations of the layers related to the selection (venvstacks' flag rules applied)."""

    lock_dependencies: bool
    build_dependencies: bool
    publish_dependencies: bool
    lock_derived: bool
    build_derived: bool
    publish_derived: bool

    @classmethod
    def of(cls, request: Selection) -> _Related:
        """Dependencies and derived layers do no step the selected layers skip (venvstacks)."""
        lock_dependencies, build_dependencies = (
            request.lock_dependencies,
            request.build_dependencies,
        )
        publish_dependencies = request.publish_dependencies
        build_derived, publish_derived = request.build_derived, request.publish_derived
        # Only a full lock relocks derived layers ("if needed" is not a request to lock).
        lock_derived = request.lock is Op.RUN
        if lock_derived and not lock_dependencies:
            build_dependencies = publish_dependencies = False
        elif not lock_derived:
            lock_dependencies = False
        if request.build is Op.RUN:
            # Layers that are not built are not published.
            publish_dependencies = publish_dependencies and build_dependencies
            publish_derived = publish_derived and build_derived
        else:
            build_derived = build_dependencies = False
        if not request.publish:
            publish_derived = publish_dependencies = False
        return cls(
            lock_dependencies=lock_dependencies,
            build_dependencies=build_dependencies,
            publish_dependencies=publish_dependencies,
            lock_derived=lock_derived,
            build_derived=build_derived,
            publish_derived=publish_derived,
        )

    @property
    def any_derived(self) -> bool:
        """Whether derived layers take part at all."""
        return self.lock_derived or self.build_derived or self.publish_derived

    def conflict(self) -> str | None:
        """The operation a layer both dependency and derived would get twice, differently."""
        for what, dependency, derived in (
            ("lock", self.lock_dependencies, self.lock_derived),
            ("build", self.build_dependencies, self.build_derived),
            ("publication", self.publish_dependencies, self.publish_derived),
        ):
            if dependency != derived:
                return what
        return None


#: How to settle each kind of conflicting instruction.
_CONFLICT_FIXES = {
    "lock": "--lock-dependencies (dependencies are then relocked, as derived layers are)",
    "build": "--build-dependencies, or leave out --build-derived",
    "publication": "--publish-dependencies, or leave out --publish-derived",
}


def _with_variants(spec: StackSpec, below: Sequence[LayerSpec]) -> list[LayerSpec]:
    """``below`` and, for each variant in it, the other variants of its framework.

    A layer above a framework with variants is checked over every variant, so they are its
    dependencies too (locked, built and published with it).
    """
    result = list(below)
    seen = {layer.build_name for layer in below}
    for layer in below:
        if isinstance(layer, FrameworkSpec) and layer.variant_of is not None:
            for other in spec.variants_of(layer.variant_of):
                if other.build_name not in seen and other.enabled:
                    seen.add(other.build_name)
                    result.append(other)
    return result


def _related_ops(
    spec: StackSpec, request: Selection, selected: Sequence[LayerSpec], reset: set[str]
) -> dict[str, LayerOps]:
    """The dependencies and derived layers of ``selected`` that are not selected themselves."""
    rules = _Related.of(request)
    names = {layer.build_name for layer in selected}
    dependencies: list[str] = []
    derived: list[str] = []
    for layer in spec.enabled_layers:
        below = _with_variants(spec, spec.dependencies(layer))
        if layer.build_name in names:
            dependencies += [d.build_name for d in below if d.build_name not in names]
        elif rules.any_derived and any(d.build_name in names for d in below):
            derived.append(layer.build_name)
    both = sorted(set(dependencies) & set(derived))
    cause = rules.conflict() if both else None
    if cause is not None:
        raise SelectionError(
            f"Conflicting {cause} instructions for {both}: each is a dependency of a selected "
            f"layer and built on another selected layer, and the two get different operations",
            hint=f"pass {_CONFLICT_FIXES[cause]}, or --include {' '.join(both)} as well",
        )
    related = {
        name: _related_layer(
            name,
            lock=rules.lock_derived,
            build=rules.build_derived,
            publish=rules.publish_derived,
            reset=name in reset,
            reason="derived",
        )
        for name in derived
    }
    related.update(
        (
            name,
            _related_layer(
                name,
                lock=rules.lock_dependencies,
                build=rules.build_dependencies,
                publish=rules.publish_dependencies,
                reset=name in reset,
                reason="dependency",
            ),
        )
        for name in dependencies
    )
    return related


def _related_layer(
    name: str, *, lock: bool, build: bool, publish: bool, reset: bool, reason: str
) -> LayerOps:
    """A related layer's operations: what is asked of it, else (dependencies) if needed.

    Dependencies are always locked and built if needed (in the steps that run); derived
    layers only do what is asked of them. A lock reset applies to a layer fully relocked.
    """
    otherwise = Op.IF_NEEDED if reason == "dependency" else Op.SKIP
    return LayerOps(
        name=name,
        lock=Op.RUN if lock else otherwise,
        build=Op.RUN if build else otherwise,
        publish=publish,
        reset_lock=lock and reset,
        reason=reason,
    )


def _for_platform(layer: LayerSpec, ops: LayerOps, platform: str | None) -> LayerOps:
    """``ops`` limited to locking off the build platform."""
    if platform is None or not layer.targets(platform):
        # Locks are cross-platform; environments and archives are made on their platform.
        return dataclasses.replace(ops, build=Op.SKIP, publish=False)
    return ops
