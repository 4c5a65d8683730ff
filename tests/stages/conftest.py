"""Fixtures the stage tests share: synthetic published layers and a plugin manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from envstacks.orchestrator.plugins import get_plugin_manager
from kits.layers import Publisher, publisher


@pytest.fixture
def publish_layers_to(tmp_path: Path) -> Publisher:
    """``publish(output, layers=..., fmt=...) -> output`` (see :func:`kits.layers.publisher`)."""
    return publisher(tmp_path)


@pytest.fixture
def pm():  # type: ignore[no-untyped-def]
    """A plugin manager with the built-ins only."""
    return get_plugin_manager(load_entrypoints=False)
