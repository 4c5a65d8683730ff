"""Fixtures for the build tests: the stack kit (helpers shared with tests/export)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_KIT = "envstacks_tests_stackkit"


def load_kit() -> ModuleType:
    """Import tests/build/stackkit.py (helper module, loaded by path)."""
    if _KIT in sys.modules:
        return sys.modules[_KIT]
    spec = importlib.util.spec_from_file_location(_KIT, Path(__file__).with_name("stackkit.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_KIT] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """The stack kit: write, lock and build stacks; build wheels by hand."""
    return load_kit()
