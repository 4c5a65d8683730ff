"""What every layer holds for its tools: the layer config ``venvstacks_layer.json`` and file names.

Every layer carries this file (venvstacks' format) so that host applications and
``postinstall.py`` can find a layer's interpreters and folders without hard-coding layouts.
All paths are relative to the layer folder; lower layers are named by their folder name,
which is the build name inside the build folder and the install target (``name@N``) once
staged for publishing or export. Example for an application on a versioned framework::

    {"base_python": "../cpython-3.12/bin/python",
     "dynlib_dirs": ["../framework-sci@2/share/venv/dynlib", "../cpython-3.12/share/venv/dynlib"],
     "launch_module": "hello", "py_version": "3.12.1",
     "pylib_dirs": ["../framework-sci@2/lib/python3.12/site-packages",
                    "../cpython-3.12/lib/python3.12/site-packages"],
     "python": "bin/python", "site_dir": "lib/python3.12/site-packages"}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from envstacks.floor import bounded_json
from envstacks.floor.errors import BuildError
from envstacks.floor.fs import write_text

#: The interpreter of every layer, relative to the layer folder (POSIX layout).
PYTHON = "bin/python"
#: Per-layer metadata file inside every built and deployed layer (venvstacks' name).
LAYER_CONFIG = "share/venv/metadata/venvstacks_layer.json"
#: The entry-point scripts a layer exposes (``postinstall.py`` writes their launchers).
SCRIPTS_CONFIG = "share/venv/metadata/envstacks_scripts.json"
#: Which interpreter compiled a precompiled layer, and what it ships uncompiled.
BYTECODE_RECORD = "share/venv/metadata/envstacks_bytecode.json"
#: Folder inside a layer holding symlinks to the shared libraries it publishes.
DYNLIB_DIR = "share/venv/dynlib"
#: The post-installation script shipped at the top of every layer.
POSTINSTALL = "postinstall.py"
#: Folder holding a layer's own post-install step (its ``postinstall_script``), if it has one:
#: deploy and local-export run the one ``.py`` file in it after :data:`POSTINSTALL`.
LAYER_STEP_DIR = "share/venv/postinstall"
#: Largest layer config read (a few hundred bytes in practice).
MAX_LAYER_CONFIG = 1 << 20


def site_dir(py_version: str) -> str:
    """The ``site-packages`` folder of a layer, relative to it, for a runtime's ``X.Y[.Z]``."""
    major_minor = ".".join(py_version.split(".")[:2])
    return f"lib/python{major_minor}/site-packages"


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerConfig:
    """The contents of ``venvstacks_layer.json`` (paths relative to the layer folder)."""

    python: str
    base_python: str
    site_dir: str
    #: The runtime's full ``X.Y.Z`` version.
    py_version: str
    #: Lower layers' ``site-packages`` folders in ``sys.path`` order (runtime last).
    pylib_dirs: tuple[str, ...] = ()
    #: Lower layers' shared-library folders, in the same order.
    dynlib_dirs: tuple[str, ...] = ()
    #: The module an application runs with ``python -m`` (applications only).
    launch_module: str | None = None

    @property
    def layered(self) -> bool:
        """Whether this is a virtual environment on a runtime (not a runtime itself)."""
        return self.python != self.base_python

    def to_json(self) -> dict[str, Any]:
        """The JSON object as venvstacks writes it (``launch_module`` only for applications)."""
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                data[item.name] = list(value) if isinstance(value, tuple) else value
        return data

    def text(self) -> str:
        """The file's exact text: sorted keys, two-space indent, final newline."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


def make_layer_config(
    *,
    lower: Sequence[str],
    py_version: str,
    launch_module: str | None = None,
) -> LayerConfig:
    """The config of a layer whose lower layers are in the sibling folders ``lower``.

    Args:
        lower: the folder names of the layers below, in ``sys.path`` order, the runtime last
            (empty for a runtime layer).
        py_version: the runtime's full version (``3.12.1``).
        launch_module: the module an application runs (``None`` for other layers).
    """
    sites = site_dir(py_version)
    if not lower:
        return LayerConfig(python=PYTHON, base_python=PYTHON, site_dir=sites, py_version=py_version)
    return LayerConfig(
        python=PYTHON,
        base_python=f"../{lower[-1]}/{PYTHON}",
        site_dir=sites,
        py_version=py_version,
        pylib_dirs=tuple(f"../{folder}/{sites}" for folder in lower),
        dynlib_dirs=tuple(f"../{folder}/{DYNLIB_DIR}" for folder in lower),
        launch_module=launch_module,
    )


def write_layer_config(env: Path, config: LayerConfig) -> Path:
    """Write ``config`` into the layer folder ``env`` (replacing, never editing, the old file)."""
    path = env / LAYER_CONFIG
    write_text(path, config.text())
    return path


def read_layer_config(env: Path) -> LayerConfig:
    """Read the config of the built or staged layer at ``env``.

    Raises:
        BuildError: the file is missing or malformed (the layer was not built by envstacks).
    """
    path = env / LAYER_CONFIG
    try:
        data = bounded_json.read_file(
            path,
            max_bytes=MAX_LAYER_CONFIG,
            error=BuildError,
            hint="rebuild the layer (envstacks build --clean --include <layer>)",
        )
        return LayerConfig(
            python=str(data["python"]),
            base_python=str(data["base_python"]),
            site_dir=str(data["site_dir"]),
            py_version=str(data["py_version"]),
            pylib_dirs=tuple(str(item) for item in data.get("pylib_dirs", [])),
            dynlib_dirs=tuple(str(item) for item in data.get("dynlib_dirs", [])),
            launch_module=data.get("launch_module"),
        )
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise BuildError(
            f"{path}: cannot read the layer config ({exc})",
            hint="rebuild the layer (envstacks build --clean --include <layer>)",
        ) from exc
