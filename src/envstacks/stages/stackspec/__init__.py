"""The stack specification: find, read and validate a spec into a frozen, linearised StackSpec.

The modules, in the order a spec flows through them:

* ``load``: find the spec file, read its TOML, tell the two formats apart (entry points).
* ``stack``: the settings, the baseline uv settings, and the layers resolved together.
* ``layers``: one layer table into a RawLayer; ``app_modules`` and ``indexes`` read its
  module keys and its package-index keys (``indexes`` also checks uv's index tables and
  merges index choices across layers).
* ``graph``: framework references and their C3 linearisation.
* ``keys``: every accepted key with its type, default, meaning and example.
* ``fields``: path-aware readers of raw TOML values, and the error helpers.
* ``model``: the frozen values the other packages consume.
"""

from __future__ import annotations

from envstacks.floor.layer_kinds import LayerKind
from envstacks.stages.stackspec.keys import (
    INDEX_KEYS,
    LAYER_KEYS,
    SETTINGS_KEYS,
    UV_KEYS,
    KeyInfo,
    layer_keys,
)
from envstacks.stages.stackspec.load import find_spec_file, load, load_pyproject_data
from envstacks.stages.stackspec.model import (
    ApplicationSpec,
    FrameworkSpec,
    LayeredSpec,
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
