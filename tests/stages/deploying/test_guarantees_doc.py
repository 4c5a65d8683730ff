"""Every test the "Guarantees" section of docs/deploy.md names exists (the table stays true)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).parents[3]
DOC = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")


def _named_tests() -> list[tuple[str, str | None]]:
    """(file, test name or None for a whole file), ``::name`` continuing the previous file."""
    section = DOC.split("## Guarantees", 1)[1]
    named: list[tuple[str, str | None]] = []
    current = ""
    for ref in re.findall(r"`((?:tests/[\w/]+\.py)?(?:::\w+)?)`", section):
        path, _, name = ref.partition("::")
        current = path or current
        named.append((current, name or None))
    return named


def test_the_guarantees_table_names_tests_that_exist():
    named = _named_tests()
    assert len(named) >= 25
    for path, name in named:
        module = REPO / path
        assert module.is_file(), path
        if name is not None:
            functions = {
                node.name
                for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
                if isinstance(node, ast.FunctionDef)
            }
            assert name in functions, f"{path}::{name} is not a test"
