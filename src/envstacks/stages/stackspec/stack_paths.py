"""Where every file of a stack lives: lock files, build environments, outputs and deployed names."""

from __future__ import annotations

from pathlib import Path

from envstacks.stages.stackspec.model import LayerSpec, StackSpec

#: Folder (inside an output, export or deploy folder) that holds envstacks/venvstacks metadata.
METADATA_DIR = "__venvstacks__"
#: Per-layer metadata file inside every built and deployed layer.
LAYER_CONFIG = "share/venv/metadata/venvstacks_layer.json"
#: The entry-point scripts a layer exposes (``postinstall.py`` writes their launchers).
SCRIPTS_CONFIG = "share/venv/metadata/envstacks_scripts.json"
#: Which interpreter compiled a precompiled layer, and what it ships uncompiled.
BYTECODE_RECORD = "share/venv/metadata/envstacks_bytecode.json"
#: Folder inside a layer holding symlinks to the shared libraries it publishes.
DYNLIB_DIR = "share/venv/dynlib"
#: The post-installation script shipped at the top of every layer.
POSTINSTALL = "postinstall.py"


def requirements_dir(spec: StackSpec, layer: LayerSpec) -> Path:
    """``<requirements-dir>/<build name>/``: the committed lock files of one layer."""
    return spec.settings.requirements_dir / layer.build_name


def pylock_path(spec: StackSpec, layer: LayerSpec) -> Path:
    """The PEP 751 lock of a layer: ``pylock.<build name>.toml``."""
    return requirements_dir(spec, layer) / f"pylock.{layer.file_name}.toml"


def lock_meta_path(spec: StackSpec, layer: LayerSpec) -> Path:
    """The lock metadata of a layer: ``pylock.<build name>.meta.json``."""
    return requirements_dir(spec, layer) / f"pylock.{layer.file_name}.meta.json"


def requirements_in_path(spec: StackSpec, layer: LayerSpec) -> Path:
    """The declared-requirements cache: ``requirements-<build name>.in``."""
    return requirements_dir(spec, layer) / f"requirements-{layer.file_name}.in"


def summary_path(spec: StackSpec, layer: LayerSpec) -> Path:
    """The readable package summary: ``packages-<build name>.txt``."""
    return requirements_dir(spec, layer) / f"packages-{layer.build_name}.txt"


def env_path(spec: StackSpec, layer: LayerSpec) -> Path:
    """The build environment of a layer: ``<build-dir>/<build name>/``."""
    return spec.settings.build_dir / layer.build_name


def last_build_path(spec: StackSpec, layer: LayerSpec) -> Path:
    """The record of the last successful build: ``<build-dir>/<build name>.last-build.json``."""
    return spec.settings.build_dir / f"{layer.build_name}.last-build.json"


def resolve_project_dir(spec: StackSpec, layer: LayerSpec) -> Path:
    """The generated uv project used to lock a layer: ``<build-dir>/<build name>_resolve/``."""
    return spec.settings.build_dir / f"{layer.build_name}_resolve"


def install_target(layer: LayerSpec, lock_version: int | None) -> str:
    """The deployed folder name: the build name, plus ``@N`` for a versioned layer.

    ``lock_version`` is ``None`` when the layer has no lock yet; a versioned layer then
    shows ``@???`` as venvstacks does.
    """
    if not layer.versioned:
        return layer.build_name
    return f"{layer.build_name}@{'???' if lock_version is None else lock_version}"
