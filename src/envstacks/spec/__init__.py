"""The stack specification: find, read and validate a spec into a frozen, linearised StackSpec."""

from __future__ import annotations

from envstacks.spec.model import (
    ApplicationSpec,
    FrameworkSpec,
    LayeredSpec,
    LayerKind,
    LayerSpec,
    RuntimeSpec,
    Settings,
    SourceFormat,
    StackSpec,
    UvConfig,
)
from envstacks.spec.parse import find_spec_file, load, load_pyproject_data
from envstacks.spec.validate_keys import LAYER_KEYS, SETTINGS_KEYS, KeyInfo, layer_keys
from envstacks.spec.validate_uv import INDEX_KEYS, UV_KEYS

__all__ = [
    "INDEX_KEYS",
    "LAYER_KEYS",
    "SETTINGS_KEYS",
    "UV_KEYS",
    "ApplicationSpec",
    "FrameworkSpec",
    "KeyInfo",
    "LayerKind",
    "LayerSpec",
    "LayeredSpec",
    "RuntimeSpec",
    "Settings",
    "SourceFormat",
    "StackSpec",
    "UvConfig",
    "find_spec_file",
    "layer_keys",
    "load",
    "load_pyproject_data",
]
