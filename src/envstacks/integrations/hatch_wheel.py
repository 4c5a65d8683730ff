"""The project's own wheel under Hatch: hatchling's wheel builder, run in the current process."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envstacks import uvrun
from envstacks.errors import BuildError
from envstacks.pipeline import WheelBuilder
from envstacks.report import Reporter

HATCHLING_BACKEND = "hatchling.build"


def hatchling_wheel(project_root: Path, out_dir: Path) -> Path:
    """Build ``project_root``'s wheel with hatchling into a fresh ``out_dir``; return its path.

    Runs in this process, as ``hatch build -t wheel`` would inside the build environment:
    the project's ``[tool.hatch.build.targets.wheel]`` settings and build hooks apply.
    """
    from hatchling.builders.wheel import WheelBuilder as HatchlingWheelBuilder  # noqa: PLC0415

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
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
        return hatchling_wheel
    return functools.partial(uvrun.build_wheel, reporter=reporter)
