"""Write a layer's final configuration before it is renamed into place, without running its code.

A layered environment (framework or application) works once its ``pyvenv.cfg`` names the
deployed runtime's interpreter by absolute path; that is the one thing ``postinstall.py``
must write, the rest (byte-compiling) is an optimisation. Deploy and local-export write that
file themselves, into the unpacked or staged folder, with the paths the layer will have under
its final name, before the rename: a layer is never under its final name unconfigured, even if
the run is killed during ``postinstall.py``, and ``deploy --no-postinstall`` gives working
layers without running any code from the archives.

The paths come from the layer's own config (``share/venv/metadata/venvstacks_layer.json``),
read and checked with the functions ``postinstall.py`` itself uses (stdlib-only, shipped in
every layer): each must be relative and stay inside the deployment folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from envstacks._injected import postinstall
from envstacks.floor.errors import EnvStacksError
from envstacks.floor.fs import write_text


def configure_in_advance(
    layer_dir: Path, final: Path, *, what: str, error: type[EnvStacksError]
) -> bool:
    """Write ``pyvenv.cfg`` into ``layer_dir`` as ``postinstall.py`` would write it at ``final``.

    ``layer_dir`` may be ``final`` itself (a deployment folder that moved). Returns whether
    the layer is configured (False: it has no layer config envstacks can read, as in some
    foreign layers; its ``postinstall.py`` must then do the work).

    Raises:
        EnvStacksError: (``error``) a path in the config is absolute or leaves the deployment
            folder.
    """
    try:
        config = postinstall.load_config(os.fspath(layer_dir))
    except postinstall.PostInstallError:
        return False
    place = os.fspath(final)
    try:
        python = postinstall.deployed_path(place, config["python"], "python")
        base_python = postinstall.deployed_path(place, config["base_python"], "base_python")
        # The layer's own interpreter and site_dir lie inside it (symlinks resolved, here in
        # the unpacked folder): what postinstall writes beside them stays in this layer.
        here = os.fspath(layer_dir)
        for key in ("python", "site_dir"):
            inside = postinstall.deployed_path(here, config[key], key)
            folder = os.fspath(Path(inside).parent) if key == "python" else inside
            postinstall.inside_layer(here, folder, f"{key}'s folder")
    except postinstall.PostInstallError as exc:
        raise error(
            f"{what}: {exc}",
            hint="the layer was not made by envstacks or venvstacks, or was tampered with; "
            "republish it",
        ) from exc
    if python != base_python:
        text = postinstall.pyvenv_cfg_text(base_python, config["py_version"])
        write_text(layer_dir / "pyvenv.cfg", text)
    return True
