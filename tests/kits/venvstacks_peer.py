"""venvstacks 0.8 itself, installed and run offline, for the cross-tool journeys.

The installation is ``../shared/bench-venvstacks/setup.sh``'s: a venv with venvstacks 0.8 (from
PyPI) and relocatable runtimes made from this machine's CPythons, in a cache folder
(``ENVSTACKS_VENVSTACKS_ROOT``, default ``~/.cache/envstacks-tests/venvstacks-0.8``), made once
and checked on every session (the script skips what is done). venvstacks runs through
``venvstacks_offline.py``, which replaces only its python-build-standalone download by those
local runtimes.

When venvstacks cannot be set up (no ``../shared``, no PyPI), the tests that need it are skipped
with the reason, unless ``ENVSTACKS_REQUIRE_VENVSTACKS=1`` (CI): then they fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from kits.upstream import REPO_ROOT

BENCH = (REPO_ROOT.parent / "shared" / "bench-venvstacks").resolve()
PEER_ROOT = Path(
    os.environ.get(
        "ENVSTACKS_VENVSTACKS_ROOT",
        Path.home() / ".cache" / "envstacks-tests" / "venvstacks-0.8",
    )
)
#: The setup's time limit (a first setup downloads venvstacks and its pins from PyPI).
SETUP_SECONDS = 900


def unavailable(reason: str) -> None:
    """Skip the test for ``reason``, or fail it where venvstacks is required (CI)."""
    if os.environ.get("ENVSTACKS_REQUIRE_VENVSTACKS") == "1":
        pytest.fail(f"venvstacks 0.8 is required (ENVSTACKS_REQUIRE_VENVSTACKS=1): {reason}")
    pytest.skip(f"venvstacks 0.8 is not available: {reason}")


@dataclass(frozen=True)
class Venvstacks:
    """An installed venvstacks 0.8 and its local runtimes."""

    root: Path

    @property
    def python(self) -> Path:
        """The interpreter of venvstacks' venv."""
        return self.root / "venv" / "bin" / "python"

    def environ(self) -> dict[str, str]:
        """The environment venvstacks runs in: the local runtimes, no virtual env of ours."""
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        env["PEER_ROOT"] = str(self.root)
        env["VENVSTACKS_LOCAL_RUNTIMES"] = str(self.root / "runtimes")
        return env

    def run(
        self, argv: Sequence[str | os.PathLike[str]], *, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the venvstacks CLI (offline runtimes); fail the test with its output if it fails."""
        command = [self.python, BENCH / "venvstacks_offline.py", *map(os.fspath, argv)]
        done = subprocess.run(
            command, cwd=cwd, env=self.environ(), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            pytest.fail(
                f"venvstacks {' '.join(map(str, argv))} failed ({done.returncode}):\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def deploy_documented(self, output: Path, target: Path) -> None:
        """Deploy as venvstacks documents it: unpack every archive, run each postinstall.py."""
        command = [sys.executable, BENCH / "stack_check.py", "deploy", output, target]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    def run_apps(self, folder: Path) -> str:
        """Run every application layer in ``folder`` as a host application would."""
        command = [sys.executable, BENCH / "stack_check.py", "run-apps", folder]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
        return done.stdout


def install(runtime_versions: Sequence[str]) -> Venvstacks:
    """Set venvstacks 0.8 up (or check it is) with runtimes of these CPython versions."""
    script = BENCH / "setup.sh"
    if not script.is_file():
        unavailable(f"{script} does not exist")
    env = {
        **os.environ,
        "PEER_ROOT": str(PEER_ROOT),
        "RUNTIME_VERSIONS": " ".join(runtime_versions),
    }
    try:
        done = subprocess.run(
            ["bash", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=SETUP_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"{script} did not finish: {exc}")
    if done.returncode != 0:
        unavailable(f"{script} failed ({done.returncode}): {done.stderr.strip()[-1500:]}")
    return Venvstacks(root=PEER_ROOT)
