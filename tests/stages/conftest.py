"""Fixtures the stage tests share: synthetic and real published layers, a plugin manager."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from envstacks.orchestrator.plugins import get_plugin_manager
from kits.layers import Publisher, publisher
from kits.publishes import Publishes, build_publishes


@pytest.fixture
def publish_layers_to(tmp_path: Path) -> Publisher:
    """``publish(output, layers=..., fmt=...) -> output`` (see :func:`kits.layers.publisher`)."""
    return publisher(tmp_path)


@pytest.fixture
def pm():  # type: ignore[no-untyped-def]
    """A plugin manager with the built-ins only."""
    return get_plugin_manager(load_entrypoints=False)


@pytest.fixture(scope="session")
def real_publishes(tmp_path_factory: pytest.TempPathFactory, python_for) -> Publishes:  # type: ignore[no-untyped-def]
    """A really built stack's publish folders, two versions (see :mod:`kits.publishes`).

    Built once per session; tests read the folders (copy them before changing anything).
    """
    if not sys.platform.startswith("linux") or shutil.which("gcc") is None:
        pytest.skip("the real stack needs Linux and gcc")
    return build_publishes(tmp_path_factory.mktemp("real-publishes"), python_for("3.12"))
