"""The torch example's two specs, pyproject.toml and venvstacks.toml, describe the same stack.

``example_projects/torch-stack/venvstacks.toml`` is the stack in venvstacks 0.8's own format,
for ``benchmarks/scale_peer.py`` to run venvstacks on it; envstacks must read it as the same
layers, requirements, dynlib exclusions and lock time as the pyproject table, or the
side-by-side figures compare different stacks. Both files are loaded by the real loader.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from envstacks.stages.stackspec import load
from envstacks.stages.stackspec.model import LayerSpec

EXAMPLE = Path(__file__).parents[3] / "example_projects" / "torch-stack"
# Where the two may differ: their TOML paths, and the runtime's exact version (3.12.1 is the
# CPython venvstacks' offline runtime provides; the pyproject asks for the newest 3.12).
DIFFERENT = {"toml_path", "python_implementation", "python_version"}


def comparable(layer: LayerSpec) -> dict[str, Any]:
    fields = dataclasses.fields(layer)
    return {f.name: getattr(layer, f.name) for f in fields if f.name not in DIFFERENT}


def test_venvstacks_toml_is_the_pyproject_stack() -> None:
    pyproject = load(EXAMPLE / "pyproject.toml")
    venvstacks = load(EXAMPLE / "venvstacks.toml")
    assert venvstacks.source_format == "venvstacks"
    assert venvstacks.build_names == pyproject.build_names
    for mine, theirs in zip(pyproject.layers, venvstacks.layers, strict=True):
        assert comparable(theirs) == comparable(mine), mine.build_name
    torch = venvstacks.layer("framework-torch")
    assert torch.dynlib_exclude == ("triton/backends/**",)
    assert "torch==2.15.0" in torch.requirements
    runtime = venvstacks.runtimes[0]
    assert (runtime.python_version, pyproject.runtimes[0].python_version) == ("3.12.1", "3.12")
    assert venvstacks.uv.settings["exclude-newer"] == pyproject.uv.settings["exclude-newer"]
