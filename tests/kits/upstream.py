"""venvstacks' own test material (``../shared/venvstacks-upstream``): where it is, how to read it.

The compatibility tests (``tests/compat``, ``tests/journeys/compat``) take venvstacks' test
suite, sample projects, committed locks, expected manifests and example stacks as their
specification. This module finds that material (skipping with the reason when it is absent),
copies its projects with the runtime versions this machine has, and reads the command lines
of ``tests/test_cli_invocation.py`` from the file itself (its parametrisation data, read with
:mod:`ast`), so that the suite follows the file rather than a copy of it.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).parents[2]
#: Where the material is: ``ENVSTACKS_UPSTREAM``, else ``../shared/venvstacks-upstream``.
UPSTREAM = Path(
    os.environ.get("ENVSTACKS_UPSTREAM", REPO_ROOT.parent / "shared" / "venvstacks-upstream")
).resolve()
#: The spec path upstream's CLI tests pass to a mocked StackSpec.
MOCK_SPEC = "/no/such/path/spec"
#: The runtime versions upstream's specs name, by Python feature version (for messages).
_IMPLEMENTATION = re.compile(r'^(python_implementation\s*=\s*")cpython@(\d+\.\d+)(\.\d+)?(")', re.M)


def upstream() -> Path:
    """The upstream material's folder; the calling test is skipped when it is absent.

    In CI (``ENVSTACKS_REQUIRE_VENVSTACKS=1``) its absence fails the test instead: the
    compatibility suite must run there.
    """
    if not (UPSTREAM / "tests" / "sample_project").is_dir():
        reason = (
            f"venvstacks' test material is not at {UPSTREAM} (expected ../shared/venvstacks-"
            "upstream beside the repository, or ENVSTACKS_UPSTREAM naming it)"
        )
        if os.environ.get("ENVSTACKS_REQUIRE_VENVSTACKS") == "1":
            pytest.fail(f"{reason}; ENVSTACKS_REQUIRE_VENVSTACKS=1 requires it")
        pytest.skip(reason)
    return UPSTREAM


def stack_specs() -> list[Path]:
    """Every spec of ``tests/stack_specs`` and ``examples/*/venvstacks.toml``, sorted."""
    root = upstream()
    return sorted((root / "tests" / "stack_specs").glob("*.toml")) + sorted(
        (root / "examples").glob("*/venvstacks.toml")
    )


# -- local copies ---------------------------------------------------------------------------


def python_version(python: Path) -> str:
    """The full version of an interpreter (``3.11.7``)."""
    done = subprocess.run(
        [python, "-I", "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def localize_spec(text: str, versions: Mapping[str, str]) -> str:
    """A spec's text with each ``cpython@X.Y[.Z]`` runtime made the local ``X.Y`` version.

    ``versions`` maps feature versions (``3.11``) to the local full versions (``3.11.7``);
    lock hashes record only the feature version, so upstream's committed locks stay valid.
    Runtimes come from this machine's CPythons (``[tool.envstacks] runtime-provider``,
    which venvstacks ignores): python-build-standalone cannot be downloaded here.
    """

    def local(match: re.Match[str]) -> str:
        feature = match.group(2)
        if feature not in versions:
            pytest.skip(f"no local CPython {feature} for a runtime of this spec")
        return f"{match.group(1)}cpython@{versions[feature]}{match.group(4)}"

    localized = _IMPLEMENTATION.sub(local, text)
    if "[tool.envstacks]" not in localized:
        localized += '\n[tool.envstacks]\nruntime-provider = "local"\n'
    return localized


def copy_tests_folder(
    dest: Path, projects: Sequence[str], versions: Mapping[str, str] | None = None
) -> Path:
    """Copy upstream ``tests/<project>`` folders into ``dest/tests/``; returns ``dest/tests``.

    Siblings are kept side by side (the sample project's support modules reach into
    ``../minimal_project``); each ``venvstacks.toml`` is localized when ``versions`` is given.
    """
    source = upstream() / "tests"
    tests = dest / "tests"
    for name in projects:
        shutil.copytree(source / name, tests / name)
        spec = tests / name / "venvstacks.toml"
        if versions is not None and spec.is_file():
            spec.write_text(localize_spec(spec.read_text("utf-8"), versions), "utf-8")
    return tests


# -- test_cli_invocation.py, read as data ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class CliInvocation:
    """One command line one of upstream's CLI tests runs, and the data the test expects."""

    #: The upstream test function (``test_mock_build_op_selection``).
    test: str
    #: The arguments, with :data:`MOCK_SPEC` where the spec path goes.
    argv: tuple[str, ...]
    #: The test's parameters and the names it unpacked from them.
    bindings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """A readable test id."""
        shown = " ".join(arg for arg in self.argv if arg != MOCK_SPEC) or "(no arguments)"
        return f"{self.test}[{shown}]"


class _Unsupported(Exception):
    """An expression this reader does not evaluate (it is not data)."""


class _Reader:
    """Evaluates the data expressions of a test module: literals, ``dict(...)``, names..."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.names: dict[str, Any] = {}
        self.generators: dict[str, ast.FunctionDef] = {}
        #: Module-level helpers made of ``if``/``return`` (``_get_default_index_config``).
        self.functions = {
            node.name: node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("test_")
        }

    def value(self, node: ast.AST, names: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple | ast.List):
            items: list[Any] = []
            for element in node.elts:
                if isinstance(element, ast.Starred):
                    items.extend(self.value(element.value, names))
                else:
                    items.append(self.value(element, names))
            return tuple(items) if isinstance(node, ast.Tuple) else items
        if isinstance(node, ast.Dict):
            return {
                self.value(k, names): self.value(v, names)
                for k, v in zip(node.keys, node.values, strict=True)
                if k is not None
            }
        if isinstance(node, ast.Name):
            if node.id in names:
                return names[node.id]
            raise _Unsupported(node.id)
        if isinstance(node, ast.JoinedStr):
            return "".join(str(self.value(part, names)) for part in node.values)
        if isinstance(node, ast.FormattedValue):
            return self.value(node.value, names)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
            return self.value(node.left, names) - self.value(node.right, names)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            left, right = self.value(node.left, names), self.value(node.comparators[0], names)
            compare = {ast.In: lambda: left in right, ast.NotIn: lambda: left not in right}
            if type(node.ops[0]) in compare:
                return compare[type(node.ops[0])]()
        if isinstance(node, ast.Call):
            return self._call(node, names)
        if isinstance(node, ast.Subscript):
            return self.value(node.value, names)[self.value(node.slice, names)]
        raise _Unsupported(ast.dump(node)[:60])

    def _call(self, node: ast.Call, names: Mapping[str, Any]) -> Any:
        func = node.func
        args = [self.value(arg, names) for arg in node.args]
        kwargs = {k.arg: self.value(k.value, names) for k in node.keywords if k.arg}
        if isinstance(func, ast.Name):
            builtins = {
                "dict": dict,
                "set": set,
                "sorted": sorted,
                "list": list,
                "tuple": tuple,
                "str": str,
            }
            if func.id in builtins:
                return builtins[func.id](*args, **kwargs)
            if func.id in self.generators:
                return list(self._generate(self.generators[func.id]))
            if func.id in self.functions:
                return self._execute(self.functions[func.id], args, names)
            # A call of a class of the tested code: kept as its name and arguments.
            return {"__call__": func.id, "args": args, **kwargs}
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            # A constructor of the tested code (``PackageIndexConfig.disabled()``).
            return {"__call__": f"{func.value.id}.{func.attr}", "args": args, **kwargs}
        raise _Unsupported(ast.dump(node)[:60])

    def _execute(self, function: ast.FunctionDef, args: list[Any], names: Mapping[str, Any]) -> Any:
        """Run a helper made of ``if``/``return`` statements."""
        local = {**names, **{a.arg: v for a, v in zip(function.args.args, args, strict=False)}}
        statements = list(function.body)
        while statements:
            statement = statements.pop(0)
            if isinstance(statement, ast.Return) and statement.value is not None:
                return self.value(statement.value, local)
            if isinstance(statement, ast.If):
                branch = statement.body if self.value(statement.test, local) else statement.orelse
                statements[:0] = branch
            elif not isinstance(statement, ast.Expr):  # docstrings and comments aside
                raise _Unsupported(function.name)
        return None

    def _generate(self, function: ast.FunctionDef) -> Iterator[Any]:
        """The values a generator like ``get_invalid_lock_options`` yields."""
        local: dict[str, Any] = dict(self.names)
        for statement in function.body:
            if isinstance(statement, ast.Assign):
                self._assign(statement, local)
            elif isinstance(statement, ast.For) and isinstance(statement.target, ast.Name):
                for item in self.value(statement.iter, local):
                    local[statement.target.id] = item
                    for inner in statement.body:
                        if isinstance(inner, ast.Expr) and isinstance(inner.value, ast.Yield):
                            assert inner.value.value is not None
                            yield self.value(inner.value.value, local)

    def _assign(self, statement: ast.Assign | ast.AnnAssign, names: dict[str, Any]) -> None:
        """Bind simple and tuple-unpacking assignments of data (others are skipped)."""
        if statement.value is None:
            return
        try:
            value = self.value(statement.value, names)
        except _Unsupported:
            return
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        for target in targets:
            if isinstance(target, ast.Name):
                names[target.id] = value
            elif isinstance(target, ast.Tuple) and all(
                isinstance(element, ast.Name) for element in target.elts
            ):
                for element, item in zip(target.elts, value, strict=True):
                    assert isinstance(element, ast.Name)
                    names[element.id] = item

    def invocations(self) -> list[CliInvocation]:
        found: list[CliInvocation] = []
        for statement in self.tree.body:
            if isinstance(statement, ast.Assign | ast.AnnAssign):
                self._assign(statement, self.names)
        for statement in self.tree.body:
            if isinstance(statement, ast.ClassDef):
                found.extend(self._class(statement))
        return found

    def _class(self, cls: ast.ClassDef) -> list[CliInvocation]:
        found: list[CliInvocation] = []
        for statement in cls.body:
            if isinstance(statement, ast.FunctionDef) and any(
                isinstance(node, ast.Yield) for node in ast.walk(statement)
            ):
                self.generators[statement.name] = statement
        for statement in cls.body:
            if isinstance(statement, ast.Assign | ast.AnnAssign):
                self._assign(statement, self.names)
            elif isinstance(statement, ast.FunctionDef) and statement.name.startswith("test_"):
                found.extend(self._test(statement))
        return found

    def _parameters(self, function: ast.FunctionDef) -> list[dict[str, Any]]:
        axes: list[list[tuple[str, Any]]] = []
        for decorator in function.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "parametrize"
            ):
                name = self.value(decorator.args[0], {})
                values = self.value(decorator.args[1], self.names)
                axes.append([(name, value) for value in values])
        return [dict(combination) for combination in itertools.product(*axes)]

    def _test(self, function: ast.FunctionDef) -> list[CliInvocation]:
        invoke = next(
            (
                node
                for node in ast.walk(function)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "invoke"
            ),
            None,
        )
        if invoke is None:
            return []
        found = []
        for parameters in self._parameters(function):
            names = {**self.names, **parameters}
            for statement in function.body:
                if isinstance(statement, ast.Assign):
                    self._assign(statement, names)
            argv = tuple(self.value(invoke.args[0], names))
            local = {k: v for k, v in names.items() if k not in self.names or k in parameters}
            found.append(CliInvocation(test=function.name, argv=argv, bindings=local))
        return found


def cli_invocations() -> list[CliInvocation]:
    """Every command line of upstream's ``tests/test_cli_invocation.py``, in file order."""
    path = upstream() / "tests" / "test_cli_invocation.py"
    return _Reader(ast.parse(path.read_text("utf-8"))).invocations()


def module_value(test_file: str, name: str, names: Mapping[str, Any] | None = None) -> Any:
    """The value a module-level assignment of an upstream test file gives ``name``.

    ``names`` gives the values of what the expression uses that is not data (a path the
    test module computes, the build platform...); each is used as given.
    """
    tree = ast.parse((upstream() / "tests" / test_file).read_text("utf-8"))
    reader = _Reader(tree)
    known = dict(names or {})
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            assert isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
            return reader.value(node.value, known)
        given = {t.id for t in targets if isinstance(t, ast.Name)} & set(names or {})
        if isinstance(node, ast.Assign | ast.AnnAssign) and not given:
            reader._assign(node, known)
    raise LookupError(f"{test_file} assigns no {name}")
