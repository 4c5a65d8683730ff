"""What the Hatch and PDM front-ends share: reading the stack from a project's pyproject data."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envstacks.stages import stackspec as spec_loader
from envstacks.stages.stackspec.model import StackSpec


def load_project_spec(data: Mapping[str, Any], pyproject: Path) -> StackSpec:
    """The stack of a project whose ``pyproject.toml`` the host has already parsed into ``data``.

    A ``[tool.venvstacks]`` table wins; without one, the project folder is searched the way
    the standalone CLI does (a ``venvstacks.toml`` beside the pyproject), so the error for a
    project with no stack at all is the same everywhere.
    """
    tool = data.get("tool")
    if isinstance(tool, Mapping) and "venvstacks" in tool:
        return spec_loader.load_pyproject_data(data, pyproject)
    return spec_loader.load(pyproject.parent)
