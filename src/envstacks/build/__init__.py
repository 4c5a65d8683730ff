"""Build layer environments: layered venvs, dynlib linking, portability clean-up, staging.

The public API is :func:`build_layers` (what the orchestrator calls), :func:`needs_build`
(what ``show`` asks), :func:`stage_layer` (a deployable copy of a built layer, for publish and
local-export) and their values. Runtimes come from :mod:`envstacks.runtime`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envstacks._lazy import lazy_face

if TYPE_CHECKING:
    from envstacks.build.job import BuildOptions, BuildResult
    from envstacks.build.stack import build_layers, needs_build
    from envstacks.build.stage import stage_layer

#: Public name -> the submodule that defines it (loaded on first use; see envstacks._lazy).
FACE = {
    "BuildOptions": "job",
    "BuildResult": "job",
    "build_layers": "stack",
    "needs_build": "stack",
    "stage_layer": "stage",
}
__all__ = [
    "BuildOptions",
    "BuildResult",
    "build_layers",
    "needs_build",
    "stage_layer",
]
__getattr__ = lazy_face(__name__, FACE)
