"""The shape of the code: no import circles, a light command line, one job stated per module.

The import graph is read from the source: every import, lazy ones inside functions and the
submodules of lazy package faces (``FACE``) included, except those under
``if TYPE_CHECKING:``. Importing a submodule also runs its packages' ``__init__``, so those
count as edges too, except within the importer's own package.
"""

from __future__ import annotations

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
PACKAGE = SRC / "envstacks"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "_injected" not in path.parts
}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[str]:
    """Every module imported anywhere in the module, except under ``if TYPE_CHECKING:``.

    Imports inside functions count: a lazy import keeps start-up light, not the design acyclic.
    """
    found: list[str] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending += node.orelse
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        pending += ast.iter_child_nodes(node)
    return [name for name in found if name in MODULES]


def _lazy_face(tree: ast.Module, package: str) -> list[str]:
    """The submodules a lazy package face (``FACE = {name: submodule}``) loads on demand."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "FACE" for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            values = [v.value for v in node.value.values if isinstance(v, ast.Constant)]
            return [f"{package}.{value}" for value in values]
    return []


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges.update(_lazy_face(tree, name))
        for imported in _imports(tree):
            parts = imported.split(".")
            for depth in range(2, len(parts) + 1):
                target = ".".join(parts[:depth])
                own_package = name == target or name.startswith(target + ".")
                if target in MODULES and target != name and not own_package:
                    edges.add(target)
            if imported != name and not name.startswith(imported + "."):
                edges.add(imported)
        graph[name] = edges
    return graph


def test_there_is_no_import_circle() -> None:
    sorter = graphlib.TopologicalSorter(_graph())
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_every_module_states_its_job_in_its_first_line() -> None:
    missing = []
    for name, path in MODULES.items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not doc or not doc.splitlines()[0].strip():
            missing.append(name)
    assert not missing


def test_the_command_line_starts_without_stage_code() -> None:
    """``envstacks --version`` and parser building import no pipeline, no rich, no pluggy."""
    code = (
        "import sys; from envstacks.frontends import cli; cli.build_parser(); "
        "print(','.join(sorted(m for m in sys.modules if m.startswith(('envstacks', 'rich', "
        "'pluggy', 'packaging')))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.strip().split(","))
    heavy = {
        name
        for name in loaded
        if name.startswith(("rich", "pluggy", "packaging"))
        or name.split(".")[1:2]
        in (["pipeline"], ["build"], ["lock"], ["pack"], ["deploy"], ["runtime"], ["spec"])
    }
    assert not heavy, sorted(heavy)


def test_no_lazy_face_name_is_also_a_submodule() -> None:
    """A face name shared with a submodule would resolve to the module once that is imported."""
    clashes = []
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            is_face = isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "FACE" for t in node.targets
            )
            if is_face and isinstance(node.value, ast.Dict):
                keys = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
                clashes += [f"{name}.{key}" for key in keys if f"{name}.{key}" in MODULES]
    assert not clashes
