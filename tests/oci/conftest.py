"""Registry fixtures: a real distribution registry per test, and the deploy tests' layer kit."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.orchestrator.plugins import get_plugin_manager

_HERE = Path(__file__).parent


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


#: tests/oci/registry.py and tests/deploy/conftest.py (the synthetic layer kit), as modules.
registry_kit = _load("envstacks_tests_registry", _HERE / "registry.py")
layer_kit = _load("envstacks_tests_deploykit", _HERE.parent / "deploy" / "conftest.py")
publish_layers_to = layer_kit.publish_layers_to

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
