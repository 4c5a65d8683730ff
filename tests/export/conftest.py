"""Fixtures for the export tests: the stack kit from tests/build (loaded by path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_KIT = "envstacks_tests_stackkit"


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """The stack kit: write, lock and build stacks; build wheels by hand."""
    if _KIT in sys.modules:
        return sys.modules[_KIT]
    path = Path(__file__).parents[1] / "build" / "stackkit.py"
    spec = importlib.util.spec_from_file_location(_KIT, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_KIT] = module
    spec.loader.exec_module(module)
    return module
