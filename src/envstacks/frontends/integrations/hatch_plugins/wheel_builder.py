"""The project's own wheel under Hatch: hatchling's wheel builder, for the runtime's Python.

When the runtime layer runs the same Python (implementation and version) as Hatch's build
environment, hatchling builds the wheel in this process, as ``hatch build -t wheel`` would.
Otherwise a build hook compiling extensions here would build them for the wrong Python, so
the wheel is built by hatchling on the runtime's interpreter in an isolated PEP 517 build
(``uv build --python <runtime>``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envstacks.floor.errors import BuildError
from envstacks.floor.report import Reporter
from envstacks.orchestrator.project_wheel import WheelBuilder, pep517_builder

HATCHLING_BACKEND = "hatchling.build"


def hatchling_wheel_builder(reporter: Reporter) -> WheelBuilder:
    """The Hatch build target's wheel builder: hatchling, in this process when it can."""

    def _build(project_root: Path, out_dir: Path, *, python: Path) -> Path:
        if same_python(python, reporter):
            return hatchling_wheel(project_root, out_dir)
        reporter.debug(f"building the project's wheel on {python} (not the Python running Hatch)")
        return pep517_builder(reporter)(project_root, out_dir, python=python)

    return _build


def same_python(python: Path, reporter: Reporter) -> bool:
    """Whether ``python`` is the implementation and version of the running interpreter."""
    from envstacks.stages.runtime.probe import probe  # noqa: PLC0415

    info = probe(python, reporter=reporter)
    return (info.implementation, info.version[:2]) == (
        sys.implementation.name,
        sys.version_info[:2],
    )


def hatchling_wheel(project_root: Path, out_dir: Path) -> Path:
    """Build ``project_root``'s wheel with hatchling into ``out_dir`` (fresh, empty); its path.

    Runs in this process, as ``hatch build -t wheel`` would inside the build environment:
    the project's ``[tool.hatch.build.targets.wheel]`` settings and build hooks apply.
    """
    from hatchling.builders.wheel import WheelBuilder as HatchlingWheelBuilder  # noqa: PLC0415

    builder = HatchlingWheelBuilder(str(project_root))
    try:
        artifacts = [
            Path(path) for path in builder.build(directory=str(out_dir), versions=["standard"])
        ]
    except (ValueError, TypeError, OSError) as exc:  # hatchling's errors for bad settings
        raise BuildError(
            f"hatchling could not build the wheel of the project at {project_root}: {exc}",
            hint="run `hatch build -t wheel` to see the full error",
        ) from exc
    if len(artifacts) != 1:
        raise BuildError(
            f"hatchling built {len(artifacts)} wheels for the project at {project_root}, "
            "expected exactly one"
        )
    return artifacts[0]


def project_wheel_builder(pyproject_data: Mapping[str, Any], reporter: Reporter) -> WheelBuilder:
    """The wheel builder for a Hatch project: hatchling's if it is the backend, else PEP 517.

    A Hatch environment may belong to a project built by another backend; ``uv build`` then
    builds it the standard way, as the standalone CLI does.
    """
    build_system = pyproject_data.get("build-system")
    backend = build_system.get("build-backend") if isinstance(build_system, Mapping) else None
    if backend == HATCHLING_BACKEND:
        return hatchling_wheel_builder(reporter)
    return pep517_builder(reporter)
