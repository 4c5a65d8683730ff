"""The stack status: which layers exist, their deployed names, lock validity and dependencies.

``envstacks show`` prints it as a tree or as venvstacks' status JSON; the operation commands
print it with the planned operations for ``--show``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envstacks.floor.layer_kinds import LayerKind
from envstacks.orchestrator.plan import Plan
from envstacks.stages.locking import LockState
from envstacks.stages.stackspec.model import FrameworkSpec, LayerSpec, StackSpec
from envstacks.stages.stackspec.stack_paths import install_target


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerStatus:
    """One layer as ``show`` reports it."""

    name: str
    install_target: str
    has_valid_lock: bool
    #: Planned operation labels (``lock``, ``build-if-needed``...); ``None`` when not asked for.
    selected_operations: tuple[str, ...] | None = None
    #: Lower layers in ``sys.path`` order; ``None`` for runtimes.
    dependencies: tuple[LayerStatus, ...] | None = None
    #: Why the lock is not valid (empty when it is); not in venvstacks' JSON.
    lock_problem: str = ""
    #: A variant layer's framework, variant name and selectors (``None``: not a variant).
    variant: tuple[str, str, tuple[str, ...]] | None = None

    @property
    def variant_note(self) -> str:
        """``variant 'gpu' of 'accel', select nvidia`` (empty for other layers)."""
        if self.variant is None:
            return ""
        framework, name, select = self.variant
        chosen = f"select {' and '.join(select)}" if select else "fallback"
        return f"variant {name!r} of {framework!r}, {chosen}"

    def to_json(self) -> dict[str, Any]:
        """The venvstacks ``LayerStatus`` JSON object."""
        data: dict[str, Any] = {
            "name": self.name,
            "install_target": self.install_target,
            "has_valid_lock": self.has_valid_lock,
            "selected_operations": (
                list(self.selected_operations) if self.selected_operations is not None else None
            ),
        }
        if self.dependencies is not None:
            data["dependencies"] = [dep.to_json() for dep in self.dependencies]
        if self.variant is not None:  # envstacks' own key, only in stacks with variants
            framework, name, select = self.variant
            data["variant"] = {"framework": framework, "name": name, "select": list(select)}
        return data


@dataclass(frozen=True, slots=True, kw_only=True)
class StackStatus:
    """Every shown layer, grouped by kind, in definition order."""

    spec_name: str
    runtimes: tuple[LayerStatus, ...] = ()
    frameworks: tuple[LayerStatus, ...] = ()
    applications: tuple[LayerStatus, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Venvstacks' stack status JSON (``show --json``)."""
        return {
            "spec_name": self.spec_name,
            "runtimes": [layer.to_json() for layer in self.runtimes],
            "frameworks": [layer.to_json() for layer in self.frameworks],
            "applications": [layer.to_json() for layer in self.applications],
        }


def stack_status(
    spec: StackSpec,
    lock_states: Mapping[str, LockState],
    plan: Plan | None = None,
    *,
    with_operations: bool = False,
) -> StackStatus:
    """The status of the layers in ``plan`` (every enabled layer when there is no plan).

    ``with_operations`` (``--show``) gives each layer its planned operations and no
    dependencies; otherwise (``show``) each layer lists its dependencies.
    """
    names = (
        set(plan.names) if plan is not None else {layer.build_name for layer in spec.enabled_layers}
    )

    def entry(layer: LayerSpec, *, ops: bool) -> LayerStatus:
        state = lock_states.get(layer.build_name)
        operations = None
        if ops and with_operations and plan is not None:
            planned = plan.get(layer.build_name)
            operations = planned.labels if planned is not None else ()
        deps = None
        if ops and not with_operations and layer.kind is not LayerKind.RUNTIME:
            # ``show`` lists dependencies one level deep; ``--show`` lists operations instead
            # (venvstacks' include_deps and report_ops).
            deps = tuple(entry(dep, ops=False) for dep in spec.dependencies(layer))
        return LayerStatus(
            name=layer.build_name,
            install_target=state.install_target if state else install_target(layer, None),
            has_valid_lock=bool(state and state.has_valid_lock),
            selected_operations=operations,
            dependencies=deps,
            lock_problem=lock_problem(state) if state is not None else "no lock state",
            variant=(layer.variant_of, layer.variant or "", layer.select)
            if isinstance(layer, FrameworkSpec) and layer.variant_of
            else None,
        )

    shown = [layer for layer in spec.enabled_layers if layer.build_name in names]
    return StackStatus(
        spec_name=str(spec.spec_path),
        runtimes=tuple(entry(x, ops=True) for x in shown if x.kind is LayerKind.RUNTIME),
        frameworks=tuple(entry(x, ops=True) for x in shown if x.kind is LayerKind.FRAMEWORK),
        applications=tuple(entry(x, ops=True) for x in shown if x.kind is LayerKind.APPLICATION),
    )


def lock_problem(state: LockState) -> str:
    """Why a layer's lock is not valid, in a few words (empty when it is valid).

    The layer's own reasons (the same the build gives: ``requirements changed``, ``no lock
    file``...) come first; the lower layers that need locking are named only when the layer
    has no reason of its own, so a stack locked for the first time reads ``no lock file``.
    """
    if state.has_valid_lock:
        return ""
    own = state.reasons[: len(state.reasons) - len(state.invalid_lower)]
    if own:
        return "; ".join(own)
    names = ", ".join(repr(name) for name in state.invalid_lower)
    lower = len(state.invalid_lower)
    return f"lower layer{'s' if lower > 1 else ''} {names} need{'' if lower > 1 else 's'} locking"


def stale_locks(status: StackStatus) -> list[str]:
    """One line per reason for the layers without a valid lock: ``a, b: requirements changed``."""
    by_problem: dict[str, list[str]] = {}
    for layer in (*status.runtimes, *status.frameworks, *status.applications):
        if not layer.has_valid_lock:
            by_problem.setdefault(layer.lock_problem, []).append(layer.name)
    return [f"{', '.join(names)}: {problem}" for problem, names in by_problem.items()]


def _label(layer: LayerStatus, up_to_date: frozenset[str]) -> str:
    mark = "" if layer.has_valid_lock else "*"
    text = mark + layer.name
    if layer.install_target != layer.name:
        text += f" -> {layer.install_target}"
    if layer.selected_operations:
        operations = [
            "up to date" if op in _BUILDS and layer.name in up_to_date else op
            for op in layer.selected_operations
        ]
        text += f" ({', '.join(operations)})"
    if layer.variant is not None:
        text += f" [{layer.variant_note}]"
    return text


#: The operation labels of a build, which ``--show`` replaces when it would change nothing.
_BUILDS = frozenset({"build", "build-if-needed"})


def render_tree(status: StackStatus, up_to_date: frozenset[str] = frozenset()) -> str:
    """The status as venvstacks' ``show`` tree (``*`` marks a layer without a valid lock).

    Layers in ``up_to_date`` (``--show``: their build would change nothing) show ``up to
    date`` instead of their build operation.
    """
    lines = [status.spec_name]
    groups = [
        ("Runtimes", status.runtimes),
        ("Frameworks", status.frameworks),
        ("Applications", status.applications),
    ]
    groups = [(title, layers) for title, layers in groups if layers]
    for group_index, (title, layers) in enumerate(groups):
        last_group = group_index == len(groups) - 1
        lines.append(("└── " if last_group else "├── ") + title)
        group_pad = "    " if last_group else "│   "
        for layer_index, layer in enumerate(layers):
            last_layer = layer_index == len(layers) - 1
            lines.append(group_pad + ("└── " if last_layer else "├── ") + _label(layer, up_to_date))
            layer_pad = group_pad + ("    " if last_layer else "│   ")
            deps = layer.dependencies or ()
            for dep_index, dep in enumerate(deps):
                last_dep = dep_index == len(deps) - 1
                lines.append(layer_pad + ("└── " if last_dep else "├── ") + _label(dep, up_to_date))
    return "\n".join(lines) + "\n"
