"""Journey fixtures: isolated Hatch/PDM state, a copy of the plugin source, projects, a registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from kits import registry as registry_kit
from kits.projects import REPO_ROOT, copy_project


@pytest.fixture(scope="session")
def plugin_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A per-session copy of the envstacks source tree, installable by a ``file://`` URL.

    Hatch keeps its build environment between builds and installs ``file://`` requirements
    without editable mode; a fresh copy per test session makes every session test the
    current source, not a wheel cached by Hatch or uv.
    """
    dest = tmp_path_factory.mktemp("envstacks-source")
    shutil.copytree(
        REPO_ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    return dest


@pytest.fixture
def stackapp(tmp_path: Path, plugin_source: Path) -> Path:
    """The ``stackapp`` fixture project (its app layer ships the project), in a temp folder."""
    return copy_project("stackapp", tmp_path, plugin_source)


@pytest.fixture
def stackapp_plain(tmp_path: Path) -> Path:
    """``stackapp`` in a temp folder, for front-ends that need no plugin URL (PDM, the CLI)."""
    return copy_project("stackapp", tmp_path)


@pytest.fixture
def host_env(tmp_path: Path) -> dict[str, str]:
    """An environment for running hatch and pdm without touching the user's state.

    Hatch: data, cache and config in ``tmp_path`` (the config file must exist); no
    ``HATCH_ENV_ACTIVE`` (inside ``hatch run`` it would make ``hatch build`` refuse to use
    its builder environment). PDM: no update check, config in ``tmp_path``. uv keeps the
    user's cache, so packages are downloaded once for the whole test run.
    """
    home = tmp_path / "host-home"
    config = home / "hatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.touch()
    pdm_config = home / "pdm" / "config.toml"
    pdm_config.parent.mkdir(parents=True)
    pdm_config.write_text(
        f'cache_dir = "{(home / "pdm" / "cache").as_posix()}"\n'
        f'log_dir = "{(home / "pdm" / "logs").as_posix()}"\n'
        "check_update = false\n"
        "[python]\nuse_venv = false\n",
        encoding="utf-8",
    )
    env = dict(os.environ)
    for name in ("HATCH_ENV_ACTIVE", "VIRTUAL_ENV", "PYTHONPATH", "PDM_PROJECT"):
        env.pop(name, None)
    env.update(
        HATCH_DATA_DIR=str(home / "hatch" / "data"),
        HATCH_CACHE_DIR=str(home / "hatch" / "cache"),
        HATCH_CONFIG=str(config),
        PDM_CONFIG_FILE=str(pdm_config),
        PDM_CHECK_UPDATE="false",
        NO_COLOR="1",
        UV_PYTHON_DOWNLOADS="never",
    )
    return env


RunTool = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_tool(host_env: Mapping[str, str]) -> RunTool:
    """Run a host tool (``hatch``, ``pdm``, ``envstacks``) of the test interpreter, isolated."""

    def _run(
        module: str,
        args: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path,
        check: bool = True,
        timeout: float = 900,
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", module, *map(os.fspath, args)]
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(host_env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(argv)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            )
        return result

    return _run


@pytest.fixture
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real distribution registry on 127.0.0.1, without authentication (``kits.registry``)."""
    server = registry_kit.Registry(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()
