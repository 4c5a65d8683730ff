"""Locks depend on the stack alone: no user or system uv configuration leaks in; local wheels.

uv's ``--no-config`` cannot be used for ``uv lock``: it also drops the generated project's own
``[tool.uv]`` settings (``exclude-newer``, indexes...), which the first test proves. envstacks
passes ``--config-file`` with a generated settings file instead, which makes uv read no other
configuration file; the hostile-configuration test proves that, with a control run showing the
hostile files are really read by a plain ``uv lock``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.floor.uvrun import uv_bin, uv_environ
from envstacks.stages.locking import LockOptions, lock_layer, read_lock
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import StackSpec

HOSTILE = """\
no-index = true
exclude-newer = "2020-01-01T00:00:00Z"
constraint-dependencies = ["six==1.14.0"]
"""


def _lock(spec: StackSpec, python: Path, **options: Any) -> None:
    for layer in spec.layers:
        lock_layer(
            spec, layer, python=python, if_needed=False, reset=False,
            options=LockOptions(**options), reporter=RecordingReporter(),
        )  # fmt: skip


def _plain_uv_lock(project: Path, python: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv_bin(), "lock", "--project", os.fspath(project), "--python", os.fspath(python), *extra],
        capture_output=True,
        text=True,
        env=uv_environ(),
        check=False,
    )


@pytest.mark.network
def test_no_config_would_drop_the_project_settings(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    spec = stacks.stack(
        tmp_path,
        [stacks.runtime(requirements=["six"])],
        uv_settings={"exclude-newer": "2020-01-01T00:00:00Z"},
    )
    _lock(spec, python_for("3.12"))
    assert read_lock(spec, spec.runtimes[0]).package("six").version == "1.13.0"
    project = stack_paths.resolve_project_dir(spec, spec.runtimes[0])
    ignored = _plain_uv_lock(project, python_for("3.12"), "--no-config", "--upgrade")
    assert ignored.returncode == 0
    # With --no-config uv ignored exclude-newer and took the newest six.
    assert 'name = "six"\nversion = "1.13.0"' not in (project / "uv.lock").read_text()


@pytest.mark.network
@pytest.mark.parametrize("variable", ["XDG_CONFIG_HOME", "XDG_CONFIG_DIRS"])
def test_hostile_uv_config_is_ignored(
    variable: str,
    stacks: Any,
    tmp_path: Path,
    python_for: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # XDG_CONFIG_HOME holds the user's uv.toml, XDG_CONFIG_DIRS the system's.
    scope = variable.lower()
    (tmp_path / scope / "uv").mkdir(parents=True)
    (tmp_path / scope / "uv" / "uv.toml").write_text(HOSTILE)
    monkeypatch.setenv(variable, os.fspath(tmp_path / scope))
    spec = stacks.stack(tmp_path, [stacks.runtime(requirements=["six"])])
    _lock(spec, python_for("3.12"))
    six = read_lock(spec, spec.runtimes[0]).package("six")
    assert six is not None and six.version not in ("1.13.0", "1.14.0")
    assert six.index == "https://pypi.org/simple"
    # Control: a plain `uv lock` of the same project does read the hostile file.
    project = stack_paths.resolve_project_dir(spec, spec.runtimes[0])
    control = _plain_uv_lock(project, python_for("3.12"), "--upgrade")
    assert control.returncode != 0
    assert "index lookups were disabled" in control.stderr, control.stderr


def test_local_wheels_are_locked_relative_and_install(
    stacks: Any, tmp_path: Path, python_for: Callable[[str], Path]
) -> None:
    wheels = tmp_path / "wheels"
    stacks.make_wheel(wheels, "localdep", "1.0")
    stacks.make_wheel(wheels, "localtop", "2.0", ["localdep>=1"])
    spec = stacks.stack(tmp_path / "stack", [stacks.runtime(requirements=["localtop"])])
    _lock(spec, python_for("3.12"), index=False, local_wheels=(wheels,))
    pylock = stack_paths.pylock_path(spec, spec.runtimes[0])
    text = pylock.read_text()
    assert 'path = "../../../wheels/localdep-1.0-py3-none-any.whl"' in text
    assert str(tmp_path) not in text and "file:" not in text
    venv = tmp_path / "venv"
    env = uv_environ()
    subprocess.run([uv_bin(), "venv", "-q", "--python", python_for("3.12"), venv], env=env,
                   check=True)  # fmt: skip
    subprocess.run(
        [uv_bin(), "pip", "install", "--python", venv / "bin" / "python", "--no-config",
         "--offline", "-r", pylock],
        env=env, check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    assert (venv / "lib" / "python3.12" / "site-packages" / "localtop" / "__init__.py").exists()
