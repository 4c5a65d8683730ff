"""Ctrl-C in every front-end: exit status 130, ``interrupted``, no traceback, no temporaries.

Each test starts the real command (``envstacks build``, ``pdm venvstacks build``, ``hatch
build -t venvstacks``) in its own process group, waits until envstacks has started copying
the runtime layer, and sends SIGINT to the whole group, as a terminal does on Ctrl-C: Hatch,
its build process, and every uv or compiler subprocess get it at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from envstacks.floor.fs import TEMP_PREFIX

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process groups and SIGINT as on POSIX"
)

#: The first long step of a build from scratch (the runtime layer is a local CPython copy).
STEP = "cpython-3.12: copy runtime..."


def _interrupt(
    argv: Sequence[str], cwd: Path, env: Mapping[str, str], *, wait_for: str = STEP
) -> tuple[int, str]:
    """Run ``argv``, send SIGINT to its process group once ``wait_for`` shows; status, output."""
    log = cwd.parent / f"{cwd.name}-interrupted.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *argv],
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 600
            while wait_for not in log.read_text() and process.poll() is None:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            assert process.poll() is None, f"ended before the step started:\n{log.read_text()}"
            os.killpg(process.pid, signal.SIGINT)
            status = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    # Nothing of the group is left running (no orphaned uv, no build process).
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
    return status, log.read_text()


def _shell_status_after_ctrl_c() -> int:
    """The status ``/bin/sh -c`` reports when its command handles Ctrl-C and exits 130.

    Hatch runs the build process through ``/bin/sh -c`` and exits with what the shell
    reports. bash passes the command's 130 on; dash (``/bin/sh`` on Debian and Ubuntu)
    received the SIGINT too and kills itself with it once the command ends, whatever the
    command's status, so Hatch reports -2 (exit status 254) there, for every command it runs.
    """
    code = (
        "import sys, time\ntry:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    sys.exit(130)"
    )
    process = subprocess.Popen(f"{sys.executable} -c '{code}'", shell=True, start_new_session=True)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    status = process.wait(timeout=30)
    return 130 if status == 130 else 256 + status


def _check(status: int, output: str, project: Path, *, expected: int = 130) -> None:
    assert status == expected, output
    assert "interrupted" in output.splitlines()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    leftovers = [str(p) for p in project.rglob("*") if p.name.startswith(TEMP_PREFIX)]
    assert not leftovers, leftovers


def test_envstacks_build(stackapp_plain: Path, host_env: dict[str, str]) -> None:
    status, output = _interrupt(
        ["envstacks", "build", "--lock-if-needed"], stackapp_plain, host_env
    )
    _check(status, output, stackapp_plain)
    # What was interrupted is redone by the next run.
    again = subprocess.run(
        [sys.executable, "-m", "envstacks", "build", "--lock-if-needed"],
        cwd=stackapp_plain,
        env=host_env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "built: app-hello" in again.stdout


@pytest.mark.network
def test_pdm_venvstacks_build(stackapp_plain: Path, host_env: dict[str, str]) -> None:
    argv = ["pdm", "venvstacks", "build", "--lock-if-needed"]
    status, output = _interrupt(argv, stackapp_plain, host_env)
    _check(status, output, stackapp_plain)


@pytest.mark.network
def test_hatch_build_target(stackapp: Path, host_env: dict[str, str]) -> None:
    status, output = _interrupt(["hatch", "build", "-t", "venvstacks"], stackapp, host_env)
    # The build process exits 130; Hatch reports it as /bin/sh passes it on (254 with dash).
    _check(status, output, stackapp, expected=_shell_status_after_ctrl_c())
    assert not [p for p in (stackapp / "dist").rglob("*") if p.is_file()]  # nothing published
