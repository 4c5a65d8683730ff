"""Build layer environments: runtimes, layered venvs, dynlib linking and portability clean-up.

The public API is :func:`build_layers` (what the orchestrator calls), :func:`needs_build`
(what ``show`` asks) and their values. Runtime provisioning lives in
:mod:`envstacks.runtime.provision`.
"""

from __future__ import annotations

from envstacks.build.job import BuildOptions, BuildResult
from envstacks.build.stack import build_layers, needs_build

__all__ = ["BuildOptions", "BuildResult", "build_layers", "needs_build"]
