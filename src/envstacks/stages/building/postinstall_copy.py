"""Copy a layer's own post-install step (``postinstall_script``) into ``share/venv/postinstall/``.

The folder holds exactly the current script (or is absent): a build that drops or renames the
script removes the old copy. The script's content is one of the layer's build inputs
(:func:`envstacks.stages.building.build_record.build_inputs`), so changing it rebuilds the layer
and publishes it again. Deploy and local-export run it
(:mod:`envstacks.stages.deploying.layer_step`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from envstacks.floor.errors import BuildError
from envstacks.floor.fs import remove_path
from envstacks.published.layer_config import LAYER_STEP_DIR
from envstacks.stages.stackspec.model import LayeredSpec, LayerSpec

__all__ = ["copy_postinstall_script"]


def copy_postinstall_script(layer: LayerSpec, env: Path) -> Path | None:
    """Put the layer's ``postinstall_script`` (if any) alone into the built layer ``env``.

    Returns the copy.

    Raises:
        BuildError: the script no longer exists.
    """
    folder = env / LAYER_STEP_DIR
    remove_path(folder)
    script = layer.postinstall_script if isinstance(layer, LayeredSpec) else None
    if script is None:
        return None
    if not script.is_file():
        raise BuildError(
            f"layer '{layer.build_name}' ({layer.toml_path}.postinstall_script): {script} "
            "does not exist",
            hint="restore it or change postinstall_script",
        )
    folder.mkdir(parents=True)
    copy = folder / script.name
    shutil.copyfile(script, copy)
    return copy
