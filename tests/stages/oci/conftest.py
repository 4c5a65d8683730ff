"""Registry fixtures: a real distribution registry per test; layers come from ``kits.layers``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from envstacks.orchestrator.plugins import get_plugin_manager
from kits import registry as registry_kit

USER, PASSWORD = "ci-bot", "s3cret-pass"


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A registry without authentication, with empty storage."""
    server = registry_kit.Registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A registry that wants htpasswd credentials (USER, PASSWORD)."""
    server = registry_kit.Registry(tmp_path_factory.mktemp("registry"), users={USER: PASSWORD})
    yield server
    server.stop()


@pytest.fixture
def pm():  # type: ignore[no-untyped-def]
    """A plugin manager with the built-ins only."""
    return get_plugin_manager(load_entrypoints=False)


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials of the machine (auth files, variables) leak into a test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in (
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "ENVSTACKS_OCI_TOKEN",
        "ENVSTACKS_OCI_USERNAME",
        "ENVSTACKS_OCI_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)
