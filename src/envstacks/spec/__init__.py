"""The stack specification: find, read and validate a spec into a frozen, linearised StackSpec."""

from __future__ import annotations

from envstacks.spec.keys import (
    INDEX_KEYS,
    LAYER_KEYS,
    SETTINGS_KEYS,
    UV_KEYS,
    KeyInfo,
    layer_keys,
)
from envstacks.spec.load import find_spec_file, load, load_pyproject_data
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
