"""Fixtures of the cross-tool journeys: local runtimes, venvstacks 0.8 itself, envstacks' CLI.

Everything runs for real: envstacks' command line in subprocesses, uv, PyPI, venvs, archives,
and venvstacks 0.8 (:mod:`kits.venvstacks_peer`). Upstream's specs name runtimes that cannot be
downloaded here, so each copy names the local CPython of the same feature version
(:func:`kits.upstream.localize_spec`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kits import upstream, venvstacks_peer

#: The Python feature versions upstream's material uses.
FEATURE_VERSIONS = ("3.11", "3.12")

Envstacks = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def local_versions(python_for: Callable[[str], Path]) -> dict[str, str]:
    """``{"3.11": "3.11.7", ...}``: this machine's CPython of each feature version."""
    return {feature: upstream.python_version(python_for(feature)) for feature in FEATURE_VERSIONS}


@pytest.fixture(scope="session")
def venvstacks(local_versions: dict[str, str]) -> venvstacks_peer.Venvstacks:
    """Set venvstacks 0.8 up once in a cache folder (skipped, or failed on CI, if impossible)."""
    upstream.upstream()
    return venvstacks_peer.install(sorted(local_versions.values()))


def run_envstacks(
    *args: str | os.PathLike[str], cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python -m envstacks ARGS`` (the real command line, in a subprocess)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(NO_COLOR="1", UV_PYTHON_DOWNLOADS="never")
    done = subprocess.run(
        [sys.executable, "-m", "envstacks", *map(os.fspath, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        pytest.fail(
            f"envstacks {' '.join(map(str, args))} exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
        )
    return done


@pytest.fixture(scope="session")
def envstacks() -> Envstacks:
    """Run envstacks' CLI in a subprocess (see :func:`run_envstacks`)."""
    return run_envstacks
