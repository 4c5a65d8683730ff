"""Shared test fixtures: local interpreters, isolated tool state, spec-writing helpers."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

TESTS_DIR = Path(__file__).parent
REPO_ROOT = TESTS_DIR.parent


def _pyenv_root() -> Path:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    try:
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True)
        return Path(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return Path.home() / ".pyenv"


def find_python(version: str) -> Path | None:
    """A real (non-shim) CPython interpreter of feature version ``version`` ("3.12"), if any."""
    candidates: list[Path] = []
    versions = _pyenv_root() / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir(), reverse=True):
            if entry.name == version or entry.name.startswith(version + "."):
                candidates.append(entry / "bin" / f"python{version}")
    if sys.version_info[:2] == tuple(int(p) for p in version.split(".")):
        candidates.append(Path(sys.executable))
    for prefix in ("/usr/local/bin", "/usr/bin"):
        candidates.append(Path(prefix) / f"python{version}")
    found = shutil.which(f"python{version}")
    if found and "shims" not in found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="session")
def python_for() -> Callable[[str], Path]:
    """Return a function giving a local interpreter for a feature version, skipping if absent."""

    def _get(version: str) -> Path:
        path = find_python(version)
        if path is None:
            pytest.skip(f"no local CPython {version} on this machine")
        return path

    return _get


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file under ``tmp_path`` (creating folders) and return its path."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


_KIT = "envstacks_tests_stackkit"


@pytest.fixture(scope="session")
def kit() -> ModuleType:
    """The stack kit (tests/build/stackkit.py): write, lock and build stacks; build wheels."""
    if _KIT in sys.modules:
        return sys.modules[_KIT]
    path = Path(__file__).parent / "build" / "stackkit.py"
    spec = importlib.util.spec_from_file_location(_KIT, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[_KIT] = module
    spec.loader.exec_module(module)
    return module
