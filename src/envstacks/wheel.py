"""Build the project's own wheel with a PEP 517 front-end (uv build) for the standalone CLI."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from envstacks.errors import BuildError
from envstacks.pipeline import WheelBuilder
from envstacks.report import Reporter
from envstacks.uvrun import run_uv


def build_wheel(project_root: Path, out_dir: Path, *, reporter: Reporter) -> Path:
    """Build ``project_root``'s wheel into a fresh ``out_dir`` and return its path."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    run_uv(
        [
            "build",
            "--wheel",
            "--out-dir",
            out_dir,
            # The build backend runs in an isolated env made by uv; pin the interpreter so uv
            # does not go looking for one (discovery trips over pyenv shims).
            "--python",
            sys.executable,
            project_root,
        ],
        reporter=reporter,
        what=f"build the wheel of the project at {project_root}",
        error=BuildError,
    )
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(
            f"building the project at {project_root} gave {len(wheels)} wheels in {out_dir}, "
            "expected exactly one"
        )
    return wheels[0]


def pep517_builder(reporter: Reporter) -> WheelBuilder:
    """A wheel builder for :class:`envstacks.pipeline.Session` that uses ``uv build``."""

    def _build(project_root: Path, out_dir: Path) -> Path:
        return build_wheel(project_root, out_dir, reporter=reporter)

    return _build
