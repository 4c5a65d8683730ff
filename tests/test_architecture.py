"""The shape of the code, as docs/architecture.md draws it: layers, imports, names, the map.

The import graph is read from the source: every import, lazy ones inside functions, the
submodules of lazy package faces (``FACE``) and ``importlib.import_module("...")`` of a
literal name included, except those under ``if TYPE_CHECKING:``. Importing a submodule also
runs its packages' ``__init__``, so those count as edges too, except within the importer's
own package.
"""

from __future__ import annotations

import ast
import graphlib
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
SRC = REPO / "src"
PACKAGE = SRC / "envstacks"
MAP = REPO / "docs" / "architecture.md"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: Every module of the package (``_injected`` is shipped into layers, never imported).
MODULES = {
    _module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "_injected" not in path.parts
}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}

#: The layers, top to bottom; a module may import its own layer's modules and lower layers'.
LAYERS = ("frontends", "orchestrator", "stages", "published", "floor")
#: Which stages a stage may import: only those before it in the pipeline
#: (spec -> lock -> runtime -> build -> pack / deploy). Pack and deploy never import each
#: other; merge and the registry client work on the published format alone.
STAGES: dict[str, set[str]] = {
    "stackspec": set(),
    "locking": {"stackspec"},
    "runtime": {"stackspec"},
    "building": {"stackspec", "locking", "runtime"},
    "packing": {"stackspec", "locking", "runtime", "building"},
    "deploying": {"stackspec", "locking", "runtime", "building"},
    "merging": set(),
    "oci": set(),
}
#: What front-ends never import: they translate options and results, nothing else (no file
#: deletion, no subprocess or uv, no manifest parsing, no folder locks).
FRONTEND_NEVER = (
    "shutil",
    "subprocess",
    "envstacks.floor.fs",
    "envstacks.floor.proc",
    "envstacks.floor.uvrun",
    "envstacks.floor.folderlock",
    "envstacks.floor.work_folders",
    "envstacks.published.manifest",
    "envstacks.published.sources",
)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[str]:
    """Every module imported anywhere in the module, except under ``if TYPE_CHECKING:``.

    Imports inside functions count: a lazy import keeps start-up light, not the design
    acyclic. So does ``importlib.import_module`` of a literal name.
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
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None))
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(node.args[0].value)
        pending += ast.iter_child_nodes(node)
    return found


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


def _edges(name: str, path: Path) -> set[str]:
    """The modules of the package ``name`` imports (including the packages that run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    edges: set[str] = set(_lazy_face(tree, name))
    for imported in (i for i in _imports(tree) if i in MODULES):
        parts = imported.split(".")
        for depth in range(2, len(parts) + 1):
            target = ".".join(parts[:depth])
            own_package = name == target or name.startswith(target + ".")
            if target in MODULES and target != name and not own_package:
                edges.add(target)
        if imported != name and not name.startswith(imported + "."):
            edges.add(imported)
    return edges


GRAPH = {name: _edges(name, path) for name, path in MODULES.items()}


def _unit(module: str) -> tuple[str, str | None]:
    """The layer of a module, and its stage for a stage module (``("stages", "packing")``)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("__main__",):
        return ("top", None)
    if parts[1] == "stages":
        return ("stages", parts[2] if len(parts) > 2 else None)
    return (parts[1], None)


def _allowed(importer: str, imported: str) -> bool:
    """Whether ``importer`` may import ``imported`` under the layer rule."""
    (layer, stage), (target, target_stage) = _unit(importer), _unit(imported)
    if importer == "envstacks.__main__":
        return imported.startswith("envstacks.frontends")
    if layer == "top":
        return target == "floor"
    if target == "top":
        return imported == "envstacks"  # the package's own __init__ (its version)
    if layer == target == "stages":
        return (
            stage is None
            or target_stage is None
            or target_stage == stage
            or (target_stage in STAGES[stage])
        )
    return LAYERS.index(target) >= LAYERS.index(layer)


def test_the_layers_and_stages_are_the_ones_the_map_names() -> None:
    found = {path.name for path in PACKAGE.iterdir() if path.is_dir() and path.name[0] != "_"}
    assert found - {"__pycache__"} == set(LAYERS)
    stages = {
        path.name for path in (PACKAGE / "stages").iterdir() if (path / "__init__.py").exists()
    }
    assert stages == set(STAGES)


def test_imports_only_point_down() -> None:
    """Front-ends -> orchestrator -> stages -> published format -> floor; stages go down."""
    wrong = sorted(
        f"{importer} -> {imported}"
        for importer, targets in GRAPH.items()
        for imported in targets
        if not _allowed(importer, imported)
    )
    assert not wrong, "\n".join(wrong)


def _package_of(module: str) -> str:
    return module if module in PACKAGES else module.rpartition(".")[0]


def test_there_is_no_import_circle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for importer, targets in GRAPH.items():
        own = _package_of(importer)
        packages.setdefault(own, set()).update(
            _package_of(target)
            for target in targets
            if _package_of(target) != own and not own.startswith(_package_of(target) + ".")
        )
    sorter = graphlib.TopologicalSorter(packages)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"package circle: {' -> '.join(error.args[1])}") from None


def test_there_is_no_import_circle_between_modules() -> None:
    sorter = graphlib.TopologicalSorter(GRAPH)
    try:
        sorter.prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_no_private_module_is_imported_from_another_package() -> None:
    wrong = sorted(
        f"{importer} -> {imported}"
        for importer, targets in GRAPH.items()
        for imported in targets
        if imported.rpartition(".")[2].startswith("_")
        and _package_of(importer) != imported.rpartition(".")[0]
    )
    assert not wrong, "\n".join(wrong)


def test_front_ends_translate_only() -> None:
    """No front-end deletes files, runs a subprocess or uv, parses manifests or holds folders."""
    wrong = []
    for name, path in MODULES.items():
        if not name.startswith("envstacks.frontends"):
            continue
        for imported in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if imported.startswith(FRONTEND_NEVER):
                wrong.append(f"{name} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_no_two_modules_share_a_file_name_and_no_package_a_module_name() -> None:
    stems = Counter(
        path.stem
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    )
    assert [stem for stem, count in stems.items() if count > 1] == []
    packages = {path.parent.name for path in PACKAGE.rglob("__init__.py")}
    assert packages & set(stems) == set()


def test_every_module_states_its_job_in_its_first_line() -> None:
    missing = []
    for name, path in MODULES.items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        if not doc or not doc.splitlines()[0].strip():
            missing.append(name)
    assert not missing


def _modules_loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds once it has run ``code``."""
    script = f"{code}\nimport sys\nprint(','.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(done.stdout.strip().split(","))


def test_the_command_line_starts_without_stage_code() -> None:
    """``envstacks --version`` and parser building import no stage, no rich, no pluggy."""
    loaded = _modules_loaded_by("from envstacks.frontends import cli; cli.build_parser()")
    heavy = {
        name
        for name in loaded
        if name.startswith(("rich", "pluggy", "packaging"))
        or name.split(".")[1:2] in (["orchestrator"], ["stages"], ["published"])
    }
    assert not heavy, sorted(heavy)


def test_the_modules_of_a_no_op_build_and_publish_load_none_of_the_code_that_writes() -> None:
    """What a build or publish with nothing to do enters leaves the writing steps unloaded.

    They load when a step has work: the build steps for a layer that changes, packing and SBOMs
    for a layer to publish, locking for a layer to lock, runtime providers for a runtime to
    provision, deploy code (variant selectors) for a deploy, ``importlib.metadata`` only when a
    distribution declares envstacks plugins (none does in the test environment).
    """
    entered = (
        "envstacks.frontends.cli._run",
        "envstacks.orchestrator.pipeline",
        "envstacks.stages.building.scheduler",
        "envstacks.stages.locking.validity",
        "envstacks.stages.packing.publisher",
        "envstacks.stages.stackspec.load",
    )
    loaded = _modules_loaded_by(
        "import importlib\n"
        f"for name in {entered!r}: importlib.import_module(name)\n"
        "from envstacks.orchestrator.plugins import get_plugin_manager\n"
        "get_plugin_manager()\n"
        "from envstacks.stages.locking import read_lock\n"
    )
    writing = {
        "envstacks.orchestrator.status",
        "envstacks.stages.building.builder",
        "envstacks.stages.building.bytecode",
        "envstacks.stages.locking.locker",
        "envstacks.stages.packing.archiving",
        "envstacks.stages.packing.sbom_writer",
        "envstacks.stages.runtime.local",
        "envstacks.stages.runtime.uv_managed",
        "importlib.metadata",
        "secrets",
    }
    assert loaded & writing == set()
    assert not [name for name in loaded if name.startswith("envstacks.stages.deploying")]


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


# -- the map ---------------------------------------------------------------------------------

#: What the map names in backticks: a module or package path under src/envstacks
#: (``orchestrator/pipeline.py``, ``stages/packing/``) or a dotted name
#: (``envstacks.orchestrator.pipeline.run``).
_PATH = re.compile(r"`((?:[a-z_]+/)+(?:[a-z_]+\.py)?|[a-z_]+\.py)`")
_DOTTED = re.compile(r"`(envstacks(?:\.[A-Za-z_]\w*)+)`")


def _named_paths() -> Iterator[str]:
    yield from _PATH.findall(MAP.read_text(encoding="utf-8"))


def test_every_module_and_package_the_map_names_exists() -> None:
    """A path the map names exists: under ``src/envstacks`` (possibly below a layer) or the repo."""
    everything = [path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*")]
    missing = [
        named
        for named in _named_paths()
        if not (REPO / named).exists()
        and not any(
            f"/{path}/".endswith(f"/{named.rstrip('/')}/") or path == named.rstrip("/")
            for path in everything
        )
    ]
    assert not missing, missing


def test_every_name_the_map_gives_resolves() -> None:
    import importlib

    missing = []
    for dotted in _DOTTED.findall(MAP.read_text(encoding="utf-8")):
        module, attribute = dotted, None
        while module not in MODULES and "." in module:
            module, _, tail = module.rpartition(".")
            attribute = tail if attribute is None else f"{tail}.{attribute}"
        if module not in MODULES:
            missing.append(dotted)
            continue
        value: object = importlib.import_module(module)
        for part in (attribute or "").split(".") if attribute else ():
            value = getattr(value, part, None)
            if value is None:
                missing.append(dotted)
                break
    assert not missing, missing


def test_the_map_names_every_package() -> None:
    text = MAP.read_text(encoding="utf-8")
    unnamed = [
        name
        for name in sorted(PACKAGES - {"envstacks"})
        if f"`{'/'.join(name.split('.')[1:])}/`" not in text
    ]
    assert not unnamed, unnamed


@pytest.mark.parametrize("layer", LAYERS)
def test_the_map_draws_each_layer(layer: str) -> None:
    assert f"`{layer}/`" in MAP.read_text(encoding="utf-8")
