"""venvstacks' own specs load, or are refused, as venvstacks' ``test_stack_specs.py`` expects.

The error expectations are read from that file (``EXPECTED_STACK_SPEC_ERRORS``: spec file ->
the regular expression its error must match); the other cases of the file (``at_symbol``, the
legacy-field warnings, the lock-failure specs, which must load) and the example stacks are
checked as its tests check them. envstacks' messages say more than venvstacks' (the TOML path,
the fix), so the expressions are searched for case-insensitively; where envstacks reports a
problem under another name, the difference is listed below and in docs/migrating.md.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import SpecError
from envstacks.stages.stackspec import load
from kits import upstream

#: Where envstacks names the problem differently: file -> (what envstacks says, why).
DIFFERENT_WORDS = {
    "error_layer_dep_cycle.toml": (
        r"framework dependency cycle: 'layerB' -> 'layerD' -> 'layerC' -> 'layerB'",
        "venvstacks only sees the first forward reference ('unknown framework'); envstacks "
        "names the cycle, the real problem",
    ),
}


def _upstream_test_module() -> ast.Module:
    path = upstream.upstream() / "tests" / "test_stack_specs.py"
    return ast.parse(path.read_text("utf-8"))


def _module_constant(name: str) -> Any:
    for node in _upstream_test_module().body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise LookupError(name)


def _expected_errors() -> list[Any]:
    if not (upstream.UPSTREAM / "tests").is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no {upstream.UPSTREAM}"))]
    expected = _module_constant("EXPECTED_STACK_SPEC_ERRORS")
    return [pytest.param(name, expected[name], id=name) for name in sorted(expected)]


def _warning_cases() -> dict[str, str]:
    """``{spec file: expected_msg}`` of upstream's ``test_future_warning_*`` functions."""
    cases = {}
    for node in _upstream_test_module().body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_future_warning"):
            message = next(
                ast.literal_eval(n.value)
                for n in ast.walk(node)
                if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "expected_msg" for t in n.targets)
            )
            spec = next(
                n.args[0].value
                for n in ast.walk(node)
                if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)
                and n.func.id == "_load_stack_spec"
                and isinstance(n.args[0], ast.Constant)
            )
            cases[spec] = message
    return cases


def _specs() -> Path:
    return upstream.upstream() / "tests" / "stack_specs"


def test_every_error_spec_has_an_expectation() -> None:
    on_disk = sorted(path.name for path in _specs().glob("error_*.toml"))
    assert on_disk == sorted(_module_constant("EXPECTED_STACK_SPEC_ERRORS"))
    assert set(DIFFERENT_WORDS) <= set(on_disk)


@pytest.mark.parametrize(("name", "expected"), _expected_errors())
def test_an_error_spec_is_refused_as_venvstacks_refuses_it(name: str, expected: str) -> None:
    with pytest.raises(SpecError) as refused:
        load(_specs() / name)
    message = refused.value.message
    pattern = DIFFERENT_WORDS[name][0] if name in DIFFERENT_WORDS else expected
    # venvstacks' messages hold the fix that envstacks prints as the hint: match both lines.
    printed = f"error: {message}\nhint: {refused.value.hint}"
    assert re.search(pattern, printed, re.IGNORECASE | re.DOTALL), printed
    # envstacks' own rule: the message names the file and line, and the hint how to fix it.
    assert re.match(rf"{re.escape(str(_specs() / name))}:\d+: ", message), message
    assert refused.value.hint


def test_the_legacy_fields_are_read_with_a_warning_each() -> None:
    cases = _warning_cases()
    assert sorted(cases) == ["warning_build_requirements.toml", "warning_fully_versioned.toml"]
    counts = {"warning_build_requirements.toml": 3, "warning_fully_versioned.toml": 1}
    for name, pattern in cases.items():
        spec = load(_specs() / name)
        matching = [w for w in spec.warnings if re.search(pattern, w)]
        assert len(matching) == counts[name], spec.warnings
    assert load(_specs() / "warning_build_requirements.toml").layers[0].python_version


def test_at_symbol_in_layer_names() -> None:
    unversioned, versioned = load(_specs() / "at_symbol.toml").runtimes
    assert (unversioned.name, unversioned.versioned) == ("cpython@3.11", False)
    assert (versioned.name, versioned.versioned) == ("cpython@3.12", True)


def test_the_lock_failure_specs_load() -> None:
    # Their failures are lock failures (tests/journeys/compat); as specs they are valid.
    names = sorted(path.name for path in _specs().glob("lock_failure_*.toml"))
    assert len(names) == 2
    for name in names:
        assert load(_specs() / name).layers


def test_every_example_stack_loads_without_a_warning() -> None:
    examples = sorted((upstream.upstream() / "examples").glob("*/venvstacks.toml"))
    assert len(examples) >= 4
    for path in examples:
        spec = load(path)
        assert spec.layers and spec.warnings == (), path
