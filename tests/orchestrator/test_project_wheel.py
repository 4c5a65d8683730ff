"""The project's own wheel: built once, then reused until something it is built from changes.

A real project (tests/projects/stackapp, whose application layer ships the project) and a
real PEP 517 build (``uv build``, the standalone CLI's builder); the builder is wrapped only
to count its runs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from envstacks.floor import uvrun
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.project_wheel import ProjectWheels
from envstacks.stages import stackspec

PROJECT = Path(__file__).parents[1] / "projects" / "stackapp"


class CountingBuilder:
    """``uv build``, counting its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, project_root: Path, out_dir: Path, *, python: Path) -> Path:
        self.runs += 1
        return uvrun.build_wheel(project_root, out_dir, reporter=RecordingReporter(), python=python)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "stackapp"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("_build", "dist", "requirements"))
    return root


def test_an_unchanged_project_is_not_built_again(
    project: Path, python_for: Callable[[str], Path]
) -> None:
    os.mkfifo(project / "a-fifo")  # never read: reading it would wait for a writer
    spec = stackspec.load(project)
    app = spec.layer("app-hello")
    builder = CountingBuilder()

    def wheel() -> tuple[Path, RecordingReporter]:
        """The project's wheel as a new session (a new command) gets it."""
        reporter = RecordingReporter()
        wheels = ProjectWheels(spec, builder, reporter, lambda runtime: python_for("3.12"))
        return wheels.for_layers([app])["cpython-3.12"], reporter

    first, _ = wheel()
    assert builder.runs == 1
    built = first.stat()

    # Nothing changed (files the build does not read aside, and a file touched but the same).
    module = project / "src" / "stackapp" / "__main__.py"
    (project / "src" / "stackapp" / "__pycache__").mkdir(exist_ok=True)
    (project / "src" / "stackapp" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"x")
    (project / "requirements").mkdir()
    (project / "requirements" / "notes.txt").write_text("not an input\n")
    os.utime(module)
    again, reporter = wheel()
    assert builder.runs == 1
    assert again == first and (again.stat().st_ino, again.stat().st_mtime_ns) == (
        built.st_ino,
        built.st_mtime_ns,
    )
    assert (
        "the project's wheel stackapp-0.1.0-py3-none-any.whl for cpython-3.12 is up to date "
        "(nothing it is built from changed)"
    ) in reporter.texts("info")

    # A changed source file is built again, and a changed pyproject.toml too.
    module.write_text(module.read_text() + "# changed\n")
    wheel()
    assert builder.runs == 2
    wheel()
    assert builder.runs == 2
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "0.1.1"'))
    newer, _ = wheel()
    assert builder.runs == 3 and newer.name == "stackapp-0.1.1-py3-none-any.whl"
