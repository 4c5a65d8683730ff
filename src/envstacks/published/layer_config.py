"""The deployed layer config ``share/venv/metadata/venvstacks_layer.json``: its values and paths.

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
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from envstacks.floor.errors import BuildError
from envstacks.floor.fs import write_text
from envstacks.stages.stackspec import stack_paths as layout
from envstacks.stages.stackspec.model import ApplicationSpec, LayerSpec, StackSpec

#: The interpreter of every layer, relative to the layer folder (POSIX layout).
PYTHON = "bin/python"


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
    spec: StackSpec,
    layer: LayerSpec,
    *,
    py_version: str,
    folders: Mapping[str, str] | None = None,
) -> LayerConfig:
    """The config of ``layer`` with lower layers in the folders ``folders`` names.

    Args:
        spec: the stack.
        layer: the layer the config is for.
        py_version: the runtime's full version (``3.12.1``).
        folders: build name -> folder name of the lower layers (default: the build names).
    """
    names = folders or {}
    sites = site_dir(py_version)
    if not (dependencies := spec.dependencies(layer)):
        return LayerConfig(python=PYTHON, base_python=PYTHON, site_dir=sites, py_version=py_version)
    runtime = spec.runtime_of(layer).build_name
    lower = [names.get(dep.build_name, dep.build_name) for dep in dependencies]
    return LayerConfig(
        python=PYTHON,
        base_python=f"../{names.get(runtime, runtime)}/{PYTHON}",
        site_dir=sites,
        py_version=py_version,
        pylib_dirs=tuple(f"../{folder}/{sites}" for folder in lower),
        dynlib_dirs=tuple(f"../{folder}/{layout.DYNLIB_DIR}" for folder in lower),
        launch_module=layer.module_name if isinstance(layer, ApplicationSpec) else None,
    )


def write_layer_config(env: Path, config: LayerConfig) -> Path:
    """Write ``config`` into the layer folder ``env`` (replacing, never editing, the old file)."""
    path = env / layout.LAYER_CONFIG
    write_text(path, config.text())
    return path


def read_layer_config(env: Path) -> LayerConfig:
    """Read the config of the built or staged layer at ``env``.

    Raises:
        BuildError: the file is missing or malformed (the layer was not built by envstacks).
    """
    path = env / layout.LAYER_CONFIG
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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
