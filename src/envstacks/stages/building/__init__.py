"""Build layer environments: layered venvs, dynlib linking, portability clean-up, staging.

The public API is :func:`build_layers` (what the orchestrator calls), :func:`needs_build`
(what ``show`` asks), :func:`stage_layer` (a deployable copy of a built layer, for publish and
local-export) and their values. Runtimes come from :mod:`envstacks.stages.runtime`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks.floor.lazy_face import lazy_face

if TYPE_CHECKING:
    from envstacks.stages.building.build_job import BuildOptions, BuildResult, LayerToBuild
    from envstacks.stages.building.scheduler import build_layers, needs_build
    from envstacks.stages.building.staging import stage_layer

#: Public name -> the submodule that defines it (loaded on first use; see
#: envstacks.floor.lazy_face).
FACE = {
    "BuildOptions": "build_job",
    "BuildResult": "build_job",
    "LayerToBuild": "build_job",
    "build_layers": "scheduler",
    "needs_build": "scheduler",
    "stage_layer": "staging",
}
__all__ = [
    "BuildOptions",
    "BuildResult",
    "LayerToBuild",
    "build_layers",
    "needs_build",
    "stage_layer",
]
__getattr__ = lazy_face(__name__, FACE)
