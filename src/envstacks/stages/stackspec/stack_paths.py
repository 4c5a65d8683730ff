"""Where a stack's own files live: lock files, build environments, and its deployed names.

What a layer or a publish folder holds is the published format's
(:mod:`envstacks.published.layer_config`, :mod:`envstacks.published.publish_folder`).
"""

from __future__ import annotations

from pathlib import Path

from envstacks.stages.stackspec.model import LayerSpec, StackSpec


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
