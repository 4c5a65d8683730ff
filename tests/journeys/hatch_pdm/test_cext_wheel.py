"""A project with a C extension shipped in its own layer, through every front-end.

The runtime layer runs another Python than the one running the front-end (the test picks
3.12, or 3.11 when the tests themselves run on 3.12), so a wheel compiled for the front-end's
Python would not import. Each front-end must build the project's wheel for the runtime's
interpreter: ``uv build`` in the CLI, PDM's builder under PDM, hatchling under Hatch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kits.projects import copy_project

RunTool = Callable[..., subprocess.CompletedProcess[str]]

pytestmark = [
    pytest.mark.network,  # hatchling for the isolated build comes from PyPI
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compiles with cc on Linux"),
]

#: A runtime version other than the tests' own.
RUNTIME = "3.11" if sys.version_info[:2] == (3, 12) else "3.12"


def _project(tmp_path: Path, python_for: Callable[[str], Path], plugin: Path | None) -> Path:
    python_for(RUNTIME)
    root = copy_project("cextapp", tmp_path, plugin)
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("RUNTIME_VERSION", RUNTIME))
    return root


def _deploy_and_run(root: Path, run_tool: RunTool, published: Path) -> dict[str, object]:
    target = root / "_deploy"
    run_tool("envstacks", ["deploy", str(published), "--target", str(target)], cwd=root)
    done = subprocess.run(
        [target / "app-speed" / "bin" / "python", "-m", "cextapp"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _check(report: dict[str, object], root: Path) -> None:
    tag = f"cp{RUNTIME.replace('.', '')}"
    assert report["answer"] == 42
    assert report["built_for"] == report["running"] == RUNTIME
    assert f".cpython-{tag[2:]}-" in str(report["extension"])
    wheels = list((root / "_build" / "project-wheel").glob("*/*.whl"))
    assert [w.name.split("-")[2] for w in wheels] == [tag], wheels


def test_cli_builds_the_wheel_for_the_runtime(
    tmp_path: Path, run_tool: RunTool, python_for: Callable[[str], Path]
) -> None:
    root = _project(tmp_path, python_for, None)
    run_tool("envstacks", ["build", "--lock-if-needed", "--publish"], cwd=root)
    _check(_deploy_and_run(root, run_tool, root / "dist" / "venvstacks"), root)


def test_pdm_builds_the_wheel_for_the_runtime(
    tmp_path: Path, run_tool: RunTool, python_for: Callable[[str], Path]
) -> None:
    root = _project(tmp_path, python_for, None)
    run_tool("pdm", ["venvstacks", "build", "--lock-if-needed", "--publish"], cwd=root)
    _check(_deploy_and_run(root, run_tool, root / "dist" / "venvstacks"), root)


def test_hatch_builds_the_wheel_for_the_runtime(
    tmp_path: Path, run_tool: RunTool, python_for: Callable[[str], Path], plugin_source: Path
) -> None:
    root = _project(tmp_path, python_for, plugin_source)
    run_tool("hatch", ["build", "-t", "venvstacks"], cwd=root)
    _check(_deploy_and_run(root, run_tool, root / "dist" / "venvstacks"), root)
