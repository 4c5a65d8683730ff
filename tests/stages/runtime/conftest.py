"""Fixtures for runtime provisioning tests: stacks written to disk, isolated tool state, runners."""

from __future__ import annotations

import contextlib
import os
import subprocess
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from envstacks.stages.stackspec import StackSpec, load

#: Environment variables that would make a test depend on the machine's settings.
ISOLATED_VARS = (
    "ENVSTACKS_PYTHON_SEARCH_PATH",
    "UV_PYTHON_INSTALL_MIRROR",
    "UV_PYTHON_DOWNLOADS_JSON_URL",
    "UV_OFFLINE",
    "UV_PYTHON_INSTALL_DIR",
)


@contextlib.contextmanager
def isolated_environ(cache_dir: Path, **extra: str) -> Iterator[pytest.MonkeyPatch]:
    """Point envstacks at a private cache and clear the settings that steer providers."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ISOLATED_VARS:
            patch.delenv(name, raising=False)
        patch.setenv("ENVSTACKS_CACHE_DIR", os.fspath(cache_dir))
        for name, value in extra.items():
            patch.setenv(name, value)
        yield patch


def write_stack(
    folder: Path,
    *,
    python: str,
    provider: str = "local",
    search_path: tuple[Path, ...] = (),
    uv: Mapping[str, str] | None = None,
) -> StackSpec:
    """Write a pyproject.toml with one runtime layer into ``folder`` and load it."""
    folder.mkdir(parents=True, exist_ok=True)
    search = ", ".join(f'"{path}"' for path in search_path)
    uv_table = "".join(f'{key} = "{value}"\n' for key, value in (uv or {}).items())
    text = textwrap.dedent(
        f"""\
        [project]
        name = "runtime-test"
        version = "0"

        [tool.venvstacks]
        runtime-provider = "{provider}"
        python-search-path = [{search}]

        [tool.venvstacks.uv]
        {{uv_table}}
        [[tool.venvstacks.runtimes]]
        name = "cpython-{python.rsplit("@", maxsplit=1)[-1]}"
        python_implementation = "{python}"
        requirements = []
        """
    ).replace("{uv_table}", uv_table)
    path = folder / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


@pytest.fixture(scope="session")
def stack_writer() -> Callable[..., StackSpec]:
    """:func:`write_stack`, as a fixture."""
    return write_stack


def run_python(python: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``python`` in a clean environment, writing no ``__pycache__``."""
    environ = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL"))
    }
    environ.update(env)
    return subprocess.run(
        [python, "-B", "-c", code], capture_output=True, text=True, env=environ, check=True
    )


@pytest.fixture(scope="session")
def python_runner() -> Callable[..., subprocess.CompletedProcess[str]]:
    """:func:`run_python`, as a fixture."""
    return run_python


@pytest.fixture(scope="session")
def isolated() -> Callable[..., contextlib.AbstractContextManager[pytest.MonkeyPatch]]:
    """:func:`isolated_environ`, as a fixture (usable from module-scoped fixtures)."""
    return isolated_environ
