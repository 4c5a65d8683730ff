"""Real locks with uv and PyPI: shared packages, installing locks, lock modes, time, project."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import LockError
from envstacks.floor.report import RecordingReporter
from envstacks.floor.uvrun import uv_bin
from envstacks.stages.locking import (
    LockOptions,
    LockRequest,
    LockResult,
    lock_layer,
    lock_layers,
    lock_states,
    read_lock,
)
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import RuntimeSpec, StackSpec

pytestmark = pytest.mark.network


def lock_all(
    spec: StackSpec, python: Path, options: LockOptions | None = None, **modes: bool
) -> list[LockResult]:
    return [
        lock_layer(
            spec,
            layer,
            python=python,
            if_needed=modes.get("if_needed", False),
            reset=modes.get("reset", False),
            options=options or LockOptions(),
            reporter=RecordingReporter(),
        )
        for layer in spec.layers
    ]


def uv(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") and k != "VIRTUAL_ENV"}
    return subprocess.run(
        [uv_bin(), *map(os.fspath, args)],
        check=True,
        capture_output=True,
        text=True,
        env={**env, "NO_COLOR": "1"},
    )


def installed_by(pylock: Path, python: Path, venv: Path) -> dict[str, str]:
    """Install a layer lock into a fresh venv the way the build step does; return what it got."""
    uv("venv", "--quiet", "--python", python, venv)
    uv(
        "pip", "install", "--python", venv / "bin" / "python",
        "--python-platform", "x86_64-manylinux_2_28", "--no-config", "-r", pylock,
    )  # fmt: skip
    listed = uv("pip", "list", "--format", "json", "--python", venv / "bin" / "python")
    return {item["name"]: item["version"] for item in json.loads(listed.stdout)}


@pytest.fixture
def py312(python_for: Callable[[str], Path]) -> Path:
    return python_for("3.12")


def test_shared_packages_are_skipped_by_installation(
    stacks: Any, tmp_path: Path, py312: Path
) -> None:
    spec = stacks.stack(
        tmp_path,
        [
            stacks.runtime(requirements=["six"]),
            stacks.framework("fw", ["idna", "six"]),
            stacks.application("a", ["attrs", "idna", "six"], frameworks=["fw"]),
        ],
    )
    results = lock_all(spec, py312)
    assert [r.ran_uv and r.changed and r.state.has_valid_lock for r in results] == [True] * 3
    runtime, framework, app = (read_lock(spec, layer) for layer in spec.layers)
    assert [p.name for p in runtime.installed] == ["six"]
    assert [p.name for p in framework.installed] == ["idna"]
    assert [p.name for p in framework.shared] == ["six"]
    assert [p.name for p in app.installed] == ["attrs"]
    assert sorted(p.name for p in app.shared) == ["idna", "six"]
    summary = stack_paths.summary_path(spec, spec.layer("app-a")).read_text()
    assert "# Shared packages inherited from other layers\nidna==" in summary
    app_lock = stack_paths.pylock_path(spec, spec.layer("app-a"))
    assert set(installed_by(app_lock, py312, tmp_path / "venv-app")) == {"attrs"}
    fw_lock = stack_paths.pylock_path(spec, spec.layer("framework-fw"))
    assert set(installed_by(fw_lock, py312, tmp_path / "venv-fw")) == {"idna"}


def test_lock_layers_reuses_and_updates_the_session_states(
    stacks: Any, tmp_path: Path, py312: Path
) -> None:
    spec = stacks.stack(
        tmp_path,
        [
            stacks.runtime(requirements=["six"]),
            stacks.framework("fw", ["idna"]),
            stacks.application("a", ["attrs"], frameworks=["fw"]),
        ],
    )
    runtime, framework, _ = spec.layers
    states = lock_states(spec)
    assert states["app-a"].reasons == (
        "no lock file",
        "lower layer 'framework-fw' needs locking",
        "lower layer 'cpython-3.12' needs locking",
    )
    asked: list[str] = []

    def python_for(layer: RuntimeSpec) -> Path:
        asked.append(layer.build_name)
        return py312

    def lock(*requests: LockRequest) -> list[LockResult]:
        return lock_layers(
            spec, requests, python_for=python_for, options=LockOptions(),
            reporter=RecordingReporter(), states=states,
        )  # fmt: skip

    # Requests in any order are locked lowest first; the interpreter is asked for once.
    results = lock(LockRequest(layer=framework), LockRequest(layer=runtime))
    assert [(r.layer, r.ran_uv, r.state.has_valid_lock) for r in results] == [
        ("cpython-3.12", True, True),
        ("framework-fw", True, True),
    ]
    assert asked == ["cpython-3.12"]
    # The states were updated in place, the layer above included (its own lock is missing).
    assert states["app-a"].reasons == ("no lock file",)
    assert states == lock_states(spec)
    # Valid locks need no interpreter at all.
    again = lock(
        LockRequest(layer=runtime, if_needed=True), LockRequest(layer=framework, if_needed=True)
    )
    assert [r.ran_uv for r in again] == [False, False] and asked == ["cpython-3.12"]


def test_lock_modes_keep_time_and_version(stacks: Any, tmp_path: Path, py312: Path) -> None:
    (tmp_path / "tool.py").write_text("print(1)\n")
    spec = stacks.stack(
        tmp_path,
        [
            stacks.runtime(requirements=["six"]),
            stacks.application("v", ["idna"], launch_module=tmp_path / "tool.py", versioned=True),
        ],
    )
    first = lock_all(spec, py312)
    app = spec.layer("app-v")
    meta_path = stack_paths.lock_meta_path(spec, app)
    recorded = meta_path.read_text()
    assert first[1].state.install_target == "app-v@1"
    # A full relock that resolves the same packages changes nothing.
    again = lock_all(spec, py312)
    assert [(r.ran_uv, r.changed) for r in again] == [(True, False), (True, False)]
    assert meta_path.read_text() == recorded
    # "if needed" does not run uv for a valid lock.
    assert [r.ran_uv for r in lock_all(spec, py312, if_needed=True)] == [False, False]
    # A versioned app whose module changed gets a new version without a new resolution.
    (tmp_path / "tool.py").write_text("print(2)\n")
    assert lock_states(spec)["app-v"].reasons == (
        "layer name, versioning or application modules changed",
    )
    bumped = lock_all(spec, py312, if_needed=True)[1]
    assert (bumped.ran_uv, bumped.changed, bumped.state.install_target) == (False, True, "app-v@2")
    assert bumped.state.has_valid_lock
    # A hand-edited lock is reset and relocked.
    pylock = stack_paths.pylock_path(spec, app)
    original = pylock.read_text()
    pylock.write_text(original.replace('name = "idna"', 'name = "idna-fork"'))
    assert not lock_states(spec)["app-v"].has_valid_lock
    reset = lock_layer(
        spec, app, python=py312, if_needed=True, reset=True, options=LockOptions(),
        reporter=RecordingReporter(),
    )  # fmt: skip
    assert reset.ran_uv and reset.state.has_valid_lock
    assert pylock.read_text() == original


def _as_venvstacks_wrote_it(folder: Path) -> None:
    """Give the lock files of a layer venvstacks 0.8's headers (and its empty-lock spelling)."""
    for path in folder.iterdir():
        text = path.read_text()
        if path.name.endswith(".meta.json"):
            data = json.loads(text)
            data.pop("envstacks")
            text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        elif path.name.startswith("pylock."):
            text = text.replace("by envstacks", "by venvstacks").replace(
                "#         envstacks lock", "#         python -Im venvstacks lock"
            )
            text = text.replace("packages = []\n", "")
        else:
            text = text.replace("by envstacks", "by venvstacks")
        path.write_text(text)


def test_relocking_venvstacks_locks_with_nothing_changed_rewrites_no_file(
    stacks: Any, tmp_path: Path, py312: Path
) -> None:
    spec = stacks.stack(
        tmp_path,
        [stacks.runtime(requirements=["six"]), stacks.application("empty", [], versioned=True)],
    )
    lock_all(spec, py312)
    folders = [stack_paths.requirements_dir(spec, layer) for layer in spec.layers]
    for folder in folders:
        _as_venvstacks_wrote_it(folder)
    before = {path: path.read_bytes() for folder in folders for path in folder.iterdir()}
    assert all(state.has_valid_lock for state in lock_states(spec).values())
    again = lock_all(spec, py312)
    assert [(r.ran_uv, r.changed) for r in again] == [(True, False), (True, False)]
    after = {path: path.read_bytes() for folder in folders for path in folder.iterdir()}
    assert after == before


def test_exclude_newer_sets_the_lock_time(
    stacks: Any, tmp_path: Path, py312: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UV_EXCLUDE_NEWER", raising=False)
    spec = stacks.stack(
        tmp_path,
        [stacks.runtime(requirements=["six"])],
        uv_settings={"exclude-newer": "2021-01-01T00:00:00Z"},
    )
    (result,) = lock_all(spec, py312)
    assert result.state.locked_at == "2021-01-01T00:00:00+00:00"
    assert read_lock(spec, spec.runtimes[0]).package("six").version == "1.15.0"
    assert lock_all(spec, py312, if_needed=True)[0].ran_uv is False
    # UV_EXCLUDE_NEWER wins over the setting; a later cut-off makes the lock stale.
    monkeypatch.setenv("UV_EXCLUDE_NEWER", "2022-01-01T00:00:00Z")
    state = lock_states(spec)["cpython-3.12"]
    assert not state.has_valid_lock
    assert "exclude-newer moved to 2022-01-01T00:00:00+00:00" in state.reasons[0]
    (relocked,) = lock_all(spec, py312, if_needed=True)
    assert relocked.ran_uv and relocked.state.locked_at == "2022-01-01T00:00:00+00:00"
    assert read_lock(spec, spec.runtimes[0]).package("six").version == "1.16.0"


def test_source_date_epoch_sets_the_lock_time_without_exclude_newer(
    stacks: Any, tmp_path: Path, py312: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As hatchling and other build tools do: with no fixed lock time, SOURCE_DATE_EPOCH is it."""
    monkeypatch.delenv("UV_EXCLUDE_NEWER", raising=False)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    spec = stacks.stack(tmp_path, [stacks.runtime(requirements=["six"])])
    (result,) = lock_all(spec, py312)
    assert result.state.locked_at == "2023-11-14T22:13:20+00:00"
    assert lock_all(spec, py312, if_needed=True)[0].ran_uv is False


def test_the_project_is_locked_without_a_pin(stacks: Any, tmp_path: Path, py312: Path) -> None:
    spec = stacks.stack(
        tmp_path,
        [stacks.runtime(), stacks.application("me", ["my-proj"])],
        project_name="my-proj",
    )
    app = spec.layer("app-me")
    with pytest.raises(LockError, match="requires the project's own distribution"):
        lock_all(spec, py312)
    wheel = stacks.make_wheel(tmp_path / "dist", "my_proj", "0.1", ["six"])
    (_, result) = lock_all(spec, py312, LockOptions(project_wheel=wheel))
    locked = read_lock(spec, app)
    assert locked.project is not None and locked.project.version is None
    assert locked.project.requires_dist == ("six",)
    assert [p.name for p in locked.installed] == ["six"]
    text = stack_paths.pylock_path(spec, app).read_text()
    assert "my_proj-0.1" not in text and str(tmp_path) not in text
    # Installing the lock skips the project (the build step installs the wheel itself).
    assert set(installed_by(stack_paths.pylock_path(spec, app), py312, tmp_path / "venv")) == {
        "six"
    }
    # Editing the project (same dependencies) leaves the lock valid; new dependencies do not.
    edited = stacks.make_wheel(tmp_path / "dist2", "my_proj", "0.2", ["six"], content="x = 1\n")
    assert lock_states(spec)["app-me"].has_valid_lock
    assert (
        lock_all(spec, py312, LockOptions(project_wheel=edited), if_needed=True)[1].ran_uv is False
    )
    # With static [project].dependencies, a change to them makes the lock stale before any
    # wheel is built (the front-ends then relock with --lock-if-needed).
    assert lock_states(dataclasses.replace(spec, project_dependencies=("six",)))[
        "app-me"
    ].has_valid_lock
    grown_spec = dataclasses.replace(
        spec, project_dependencies=("six", "idna; extra == 'x'", "idna")
    )
    stale = lock_states(grown_spec)["app-me"]
    assert not stale.has_valid_lock
    assert stale.reasons == ("the project's [project].dependencies changed since it was locked",)
    grown = stacks.make_wheel(tmp_path / "dist3", "my_proj", "0.3", ["six", "idna"])
    regrown = lock_all(spec, py312, LockOptions(project_wheel=grown), if_needed=True)[1]
    assert regrown.ran_uv and regrown.changed
    assert sorted(p.name for p in read_lock(spec, app).installed) == ["idna", "six"]
    assert result.state.has_valid_lock
    assert lock_states(grown_spec)["app-me"].has_valid_lock
