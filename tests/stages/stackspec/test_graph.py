"""C3 linearisation and reference checks of spec.graph, with Python's own MRO as the oracle."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from envstacks.floor.errors import SpecError
from envstacks.floor.layer_kinds import LayerKind
from envstacks.stages.stackspec.fields import TomlPath
from envstacks.stages.stackspec.graph import check_references, linearize


@dataclass(frozen=True)
class Node:
    name: str
    kind: LayerKind = LayerKind.FRAMEWORK
    runtime: str | None = None
    frameworks: tuple[str, ...] | None = None
    index: int = 0

    @property
    def where(self) -> TomlPath:
        return TomlPath(self.kind.table).item(self.index)

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.name!r}"


def _stack(deps: dict[str, tuple[str, ...]]) -> list[Node]:
    return [
        Node(name, runtime=None if d else "rt", frameworks=d or None, index=i)
        for i, (name, d) in enumerate(deps.items())
    ]


def _linearize_all(nodes: list[Node]) -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    for node in nodes:
        result[node.name] = linearize(node, result) if node.frameworks else ()
    return result


def _python_mro(deps: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]] | None:
    """The same graph as Python classes; None when Python cannot order it either."""
    classes: dict[str, type] = {}
    try:
        for name, bases in deps.items():
            classes[name] = type(name, tuple(classes[b] for b in bases) or (object,), {})
    except TypeError:
        return None
    return {
        name: tuple(k.__name__ for k in cls.__mro__[1:] if k is not object)
        for name, cls in classes.items()
    }


def test_python_mro_example() -> None:
    # The classic example (Wikipedia, "C3 linearization"), with O1..O5 for A..E.
    deps = {
        "O1": (), "O2": (), "O3": (), "O4": (), "O5": (),
        "K1": ("O1", "O2", "O3"),
        "K2": ("O4", "O2", "O5"),
        "K3": ("O4", "O1"),
        "Z": ("K1", "K2", "K3"),
    }  # fmt: skip
    result = _linearize_all(_stack(deps))
    assert result["Z"] == ("K1", "K2", "K3", "O4", "O1", "O2", "O3", "O5")


@pytest.mark.parametrize("seed", range(40))
def test_linearize_matches_python_mro_on_random_dags(seed: int) -> None:
    rng = random.Random(seed)
    deps: dict[str, tuple[str, ...]] = {}
    for i in range(rng.randint(3, 9)):
        earlier = list(deps)
        picked = rng.sample(earlier, rng.randint(0, min(3, len(earlier)))) if earlier else []
        deps[f"f{i}"] = tuple(picked)
    expected = _python_mro(deps)
    if expected is None:
        with pytest.raises(SpecError, match="dependency linearization failed"):
            _linearize_all(_stack(deps))
    else:
        assert _linearize_all(_stack(deps)) == expected


def test_linearize_conflict_names_layers_not_reprs() -> None:
    nodes = _stack({"A": (), "B": (), "C": ("A", "B"), "D": ("B", "A")})
    app = Node("app", kind=LayerKind.APPLICATION, frameworks=("C", "D"))
    lin = _linearize_all(nodes)
    with pytest.raises(SpecError) as info:
        linearize(app, lin)
    message = str(info.value)
    assert message.startswith("applications[0].frameworks: dependency linearization failed")
    assert "framework 'C' needs ['A', 'B'] and framework 'D' needs ['B', 'A']" in message
    assert "Node(" not in message


def test_check_references_accepts_minimal_project() -> None:
    runtimes = [Node("rt", kind=LayerKind.RUNTIME)]
    frameworks = _stack({"A": (), "B": ("A",), "C": ("A",), "D": ("B", "C")})
    apps = [Node("app", kind=LayerKind.APPLICATION, frameworks=("D", "A"))]
    check_references(runtimes, frameworks, apps)


def test_cycle_reported_before_forward_reference() -> None:
    frameworks = _stack({"A": ("C",), "B": ("A",), "C": ("B",)})
    with pytest.raises(SpecError, match=r"cycle: 'A' -> 'C' -> 'B' -> 'A'"):
        check_references([Node("rt", kind=LayerKind.RUNTIME)], frameworks, [])


def test_forward_reference_without_cycle_says_defined_later() -> None:
    frameworks = _stack({"A": ("B",), "B": ()})
    expected = r"unknown framework 'B' \(it is only defined later, at frameworks\[1\]\)"
    with pytest.raises(SpecError, match=expected):
        check_references([Node("rt", kind=LayerKind.RUNTIME)], frameworks, [])


def test_unknown_framework_vs_defined_later_vs_runtime() -> None:
    runtimes = [Node("rt", kind=LayerKind.RUNTIME)]
    with pytest.raises(SpecError, match=r"unknown framework 'Z' for framework 'A' \(defined"):
        check_references(runtimes, _stack({"A": ("Z",)}), [])
    with pytest.raises(SpecError, match=r"'rt' is a runtime, not a framework"):
        check_references(runtimes, _stack({"A": ("rt",)}), [])
