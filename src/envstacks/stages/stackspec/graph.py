"""The layer graph: check framework references (unknown, later, cyclic) and linearise them with C3.

Frameworks form a DAG. As in venvstacks, a framework may only depend on frameworks defined
above it in the spec (file order), which also rules out cycles; a cycle is still reported
as a cycle, since that is the real problem. The ``sys.path`` order of a layer's frameworks
is their C3 linearisation, the algorithm Python uses for its method resolution order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from envstacks.floor.errors import SpecError
from envstacks.floor.layer_kinds import LayerKind
from envstacks.floor.suggest import did_you_mean
from envstacks.stages.stackspec.fields import TomlPath, quoted_list, spec_error


class DepNode(Protocol):
    """What the graph needs to know about a layer."""

    @property
    def kind(self) -> LayerKind:
        """The layer kind."""

    @property
    def name(self) -> str:
        """The name as written in the spec."""

    @property
    def where(self) -> TomlPath:
        """The TOML path of the layer's table."""

    @property
    def runtime(self) -> str | None:
        """The runtime named directly, if any."""

    @property
    def frameworks(self) -> tuple[str, ...] | None:
        """The frameworks named, in order, if any."""

    @property
    def label(self) -> str:
        """The layer in messages: ``framework 'x'``."""


def check_references(
    runtimes: Sequence[DepNode], frameworks: Sequence[DepNode], applications: Sequence[DepNode]
) -> None:
    """Fail on the first bad reference: unknown or wrong-kind names, duplicates, cycles, forward.

    Checks run in that order, each over the whole spec in file order, so a cycle is reported
    as a cycle rather than as the forward reference it also contains.
    """
    runtime_names = [node.name for node in runtimes]
    framework_names = [node.name for node in frameworks]
    app_names = [node.name for node in applications]
    for node in (*frameworks, *applications):
        if node.runtime is not None:
            _check_runtime_name(node, runtime_names, framework_names)
        for i, dep in enumerate(node.frameworks or ()):
            at = node.where.key("frameworks").item(i)
            if dep in (node.frameworks or ())[:i]:
                raise spec_error(
                    at, f"{node.label} lists framework {dep!r} twice", "list each framework once"
                )
            if node.kind is LayerKind.FRAMEWORK and dep == node.name:
                raise spec_error(
                    at,
                    f"{node.label} depends on itself",
                    "remove it from its own frameworks list",
                )
            if dep not in framework_names:
                raise _unknown_framework(
                    node,
                    dep=dep,
                    at=at,
                    runtimes=runtime_names,
                    frameworks=framework_names,
                    applications=app_names,
                )
    position = {name: i for i, name in enumerate(framework_names)}
    cycle = _find_cycle(frameworks)
    if cycle:
        first = frameworks[position[cycle[0]]]
        raise spec_error(
            first.where.key("frameworks"),
            "framework dependency cycle: " + " -> ".join(repr(name) for name in cycle),
            "a framework cannot depend on itself, directly or through other frameworks; remove "
            "one of these dependencies",
        )
    for node in frameworks:
        own = position[node.name]
        for i, dep in enumerate(node.frameworks or ()):
            if position[dep] > own:
                table = node.where.text.rpartition("[")[0]
                raise spec_error(
                    node.where.key("frameworks").item(i),
                    f"{node.label} references unknown framework {dep!r} (it is only defined "
                    f"later, at {frameworks[position[dep]].where})",
                    f"move the [[{table}]] table of {dep!r} above the one of {node.name!r}: a "
                    "framework can only depend on frameworks defined before it",
                )


def _check_runtime_name(node: DepNode, runtimes: list[str], frameworks: list[str]) -> None:
    runtime = node.runtime
    assert runtime is not None
    if runtime in runtimes:
        return
    at = node.where.key("runtime")
    if runtime in frameworks:
        raise spec_error(
            at,
            f"{runtime!r} is a framework, not a runtime, for {node.label}",
            f"write frameworks = [{runtime!r}] instead of runtime = {runtime!r}",
        )
    prefix = node.where.text.rpartition("[")[0].rpartition(".")[0]
    table = f"{prefix}.runtimes" if prefix else "runtimes"
    raise spec_error(
        at,
        f"unknown runtime {runtime!r} for {node.label}{did_you_mean(runtime, runtimes)} "
        f"(defined runtimes: {quoted_list(runtimes)})",
        f"name one of the defined runtimes, or add a [[{table}]] table named {runtime!r}",
    )


def _unknown_framework(
    node: DepNode,
    *,
    dep: str,
    at: TomlPath,
    runtimes: list[str],
    frameworks: list[str],
    applications: list[str],
) -> SpecError:
    if dep in runtimes:
        return spec_error(
            at,
            f"{dep!r} is a runtime, not a framework, for {node.label}",
            f"write runtime = {dep!r} instead (or name frameworks only)",
        )
    if dep in applications:
        return spec_error(
            at,
            f"{dep!r} is an application, which {node.label} cannot depend on",
            "depend on frameworks; move shared packages of the application into a framework",
        )
    return spec_error(
        at,
        f"unknown framework {dep!r} for {node.label}{did_you_mean(dep, frameworks)} "
        f"(defined frameworks: {quoted_list(frameworks)})",
        "name one of the defined frameworks or define the missing one",
    )


def _find_cycle(frameworks: Sequence[DepNode]) -> list[str] | None:
    """A dependency cycle as a list of names starting and ending with the same one, or None."""
    edges = {node.name: tuple(node.frameworks or ()) for node in frameworks}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in edges.get(name, ()):
            if dep == name:
                continue  # self-references are reported on their own
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for node in frameworks:
        if node.name not in state:
            found = visit(node.name)
            if found:
                return found
    return None


def linearize(node: DepNode, linearized: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The C3 linearisation of ``node``'s frameworks (names, ``sys.path`` order; itself excluded).

    ``linearized`` holds the result for every framework ``node`` depends on. The sequences
    merged are ``[dep, *linearized[dep]]`` for each declared dependency, then the declared
    list itself; a head is taken when it appears in no other sequence's tail.
    """
    declared = tuple(node.frameworks or ())
    sources = [*(f"framework {dep!r}" for dep in declared), f"{node.label} itself"]
    sequences = [[dep, *linearized[dep]] for dep in declared]
    sequences.append(list(declared))
    result: list[str] = []
    while any(sequences):
        for sequence in sequences:
            if not sequence:
                continue
            head = sequence[0]
            if not any(head in other[1:] for other in sequences):
                break
        else:
            conflicts = " and ".join(
                f"{source} needs {seq}"
                for source, seq in zip(sources, sequences, strict=True)
                if seq
            )
            raise spec_error(
                node.where.key("frameworks"),
                f"dependency linearization failed for {node.label}: no sys.path order satisfies "
                f"every framework's own order ({conflicts})",
                "make the frameworks lists agree on the order of the frameworks they share",
            )
        result.append(head)
        sequences = [seq[1:] if seq and seq[0] == head else seq for seq in sequences]
    return tuple(result)
