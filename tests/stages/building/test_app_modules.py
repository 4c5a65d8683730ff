"""Application modules: a package launch module and support modules, copied with the filter.

They are filtered as the lock hashes them, copied into site-packages, and replaced on change
(unversioned apps rebuild without a relock). Offline.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.stages.stackspec import load

SPEC = """\
[project]
name = "modules-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.applications]]
name = "tool"
runtime = "cpython-3.12"
launch_module = "src/tool"
support_modules = ["src/helpers.py", "src/shared"]
requirements = []
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def stack(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> object:
    python_for("3.12")
    root = tmp_path_factory.mktemp("modules")
    subprocess.run(["git", "init", "-q", root], check=True)
    write(root / ".gitignore", "*.log\n")
    write(root / "src/tool/__init__.py", "")
    write(
        root / "src/tool/__main__.py",
        "import helpers, shared.data\nprint(helpers.X, shared.data.Y)\n",
    )
    write(root / "src/tool/old.py", "")
    write(root / "src/tool/debug.log", "ignored by git")
    write(root / "src/tool/__pycache__/stale.cpython-312.pyc", "")
    write(root / "src/helpers.py", "X = 1\n")
    write(root / "src/shared/__init__.py", "")
    write(root / "src/shared/data.py", "Y = 2\n")
    write(root / "pyproject.toml", SPEC)
    spec = load(root / "pyproject.toml")
    reporter = RecordingReporter()
    kit.lock_stack(spec, reporter)
    results = kit.build_stack(spec, reporter)
    return kit.Stack(spec=spec, reporter=reporter, results=results)


def site(stack: object) -> Path:
    return stack.env("app-tool") / "lib" / "python3.12" / "site-packages"


def run(stack: object) -> str:
    python = stack.env("app-tool") / "bin" / "python"
    return subprocess.run(
        [python, "-m", "tool"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_modules_are_copied_with_the_source_filter(stack: object) -> None:
    assert run(stack) == "1 2"
    tool = site(stack) / "tool"
    # Running the app may have written __pycache__ (unless PYTHONDONTWRITEBYTECODE is set).
    copied = sorted(p.name for p in tool.iterdir() if p.name != "__pycache__")
    assert copied == ["__init__.py", "__main__.py", "old.py"]
    assert (site(stack) / "helpers.py").is_file()
    assert (site(stack) / "shared" / "data.py").is_file()


def test_changed_modules_replace_the_old_copies(stack: object, kit: ModuleType) -> None:
    root = stack.spec.root
    (root / "src/tool/old.py").unlink()
    write(root / "src/helpers.py", "X = 10\n")
    reporter = RecordingReporter()
    results = kit.build_stack(stack.spec, reporter)
    assert [(r.layer, r.action) for r in results] == [
        ("cpython-3.12", "none"),
        ("app-tool", "update"),
    ]
    assert "application modules" in results[1].reason
    assert not (site(stack) / "tool" / "old.py").exists()
    assert run(stack) == "10 2"
    again = kit.build_stack(stack.spec, RecordingReporter())
    assert [r.built for r in again] == [False, False]
