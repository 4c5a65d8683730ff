"""Install into a built application layer for development: the project itself, and extra tools.

Hatch's environment type runs a project's commands in its application layer. The layer is
built from its lock as usual; on top of it go the project (editable, so source edits show
without a rebuild) and the environment's own tools (test runners...). Neither is part of the
lock or of what is published: they only change the development copy of the layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from envstacks.floor.report import Reporter
from envstacks.floor.uvrun import run_uv
from envstacks.published.layer_config import PYTHON, read_layer_config
from envstacks.stages.stackspec.model import ApplicationSpec, LayerSpec, StackSpec

__all__ = ["install_project", "install_tools", "link_to_variants"]


def install_project(
    env: Path,
    layer: ApplicationSpec,
    project: Path,
    *,
    name: str,
    editable: bool,
    reporter: Reporter,
) -> None:
    """Install the project at ``project`` (distribution ``name``) into the layer at ``env``.

    Raises:
        ToolError: uv failed.
    """
    target = ["--editable", str(project)] if editable else [str(project)]
    _uv_install(
        env,
        [
            # The project's dependencies are in the layers' locks (and installed there);
            # resolving them again here would shadow the framework layers' copies.
            "--no-deps",
            # Rebuild the project even if the same version is installed (from the wheel
            # the layer was built with, or an earlier editable install).
            "--reinstall-package",
            name,
            *target,
        ],
        cwd=project,
        reporter=reporter,
        what=f"install the project into {layer.build_name}",
    )


def install_tools(
    env: Path, requirements: Sequence[str], *, cwd: Path, reporter: Reporter, what: str
) -> None:
    """Install ``requirements`` (development tools) into the layer at ``env``, if any.

    Raises:
        ToolError: uv failed.
    """
    if requirements:
        _uv_install(env, list(requirements), cwd=cwd, reporter=reporter, what=what)


def _uv_install(env: Path, args: list[str], *, cwd: Path, reporter: Reporter, what: str) -> None:
    run_uv(
        # Install into the layer's own environment, whatever is active around the host tool.
        ["pip", "install", "--python", str(env / PYTHON), *args],
        reporter=reporter,
        what=what,
        cwd=cwd,
    )


def link_to_variants(
    spec: StackSpec, layer: LayerSpec, env: Path, variants: Mapping[str, str]
) -> None:
    """Chain the built layer at ``env`` to other variants than the fallbacks it was built on.

    ``variants`` maps a fallback variant's build name to the build name of the variant to use
    (built beside it). Only the development copy changes: the next build of the layer chains
    it to the fallbacks again, and publishing stages it through the framework's slot.
    """
    from envstacks.stages.building.chain import (  # noqa: PLC0415
        CHAIN_MODULE,
        layer_config_for,
        link_layered_env,
    )

    built = read_layer_config(env)
    folders = {
        dep.build_name: variants.get(dep.build_name, dep.build_name)
        for dep in spec.dependencies(layer)
    }
    config = layer_config_for(spec, layer, py_version=built.py_version, folders=folders)
    link_layered_env(env, config)
    # The build's unchecked-hash pyc of the chaining module would keep the old folders.
    for pyc in (env / config.site_dir / "__pycache__").glob(f"{CHAIN_MODULE}.*.pyc"):
        pyc.unlink()
