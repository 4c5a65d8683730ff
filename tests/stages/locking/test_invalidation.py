"""The lock-invalidation matrix (reference §3.5.5): lock a stack once, change one input per case.

Every row of venvstacks' table is a case, plus the inputs envstacks records on top (target
platforms, uv settings, ``UV_EXCLUDE_NEWER``). Each case works on a copy of the locked stack
and checks exactly which layers lose their valid lock (the cascade to upper layers included).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.stages.locking import LockOptions, lock_layer, lock_states
from envstacks.stages.stackspec import stack_paths
from envstacks.stages.stackspec.model import StackSpec

pytestmark = pytest.mark.network

PLATFORMS = ("linux_x86_64", "macosx_arm64")
RUNTIME, FRAMEWORK, APP, VAPP = "cpython-3.12", "framework-fw", "app-a", "app-v"
EVERYTHING = frozenset({RUNTIME, FRAMEWORK, APP, VAPP})
ABOVE_FRAMEWORK = frozenset({FRAMEWORK, APP, VAPP})


def base_spec(stacks: Any, root: Path, **uv: Any) -> StackSpec:
    return stacks.stack(
        root,
        [
            stacks.runtime(requirements=["six"], platforms=PLATFORMS),
            stacks.framework("fw", ["idna", "six"], platforms=PLATFORMS),
            stacks.application(
                "a", ["attrs", "idna"], frameworks=["fw"], platforms=PLATFORMS,
                launch_module=root / "a.py",
            ),
            stacks.application(
                "v", ["idna"], frameworks=["fw"], platforms=PLATFORMS, versioned=True,
                launch_module=root / "vpkg", index=1,
            ),
        ],
        **uv,
    )  # fmt: skip


@pytest.fixture(scope="module")
def locked_root(
    tmp_path_factory: pytest.TempPathFactory, python_for: Callable[[str], Path], stacks: Any
) -> Path:
    root = tmp_path_factory.mktemp("locked")
    (root / "a.py").write_text("print('a')\n")
    (root / "vpkg").mkdir()
    (root / "vpkg" / "__main__.py").write_text("print('v')\n")
    spec = base_spec(stacks, root)
    for layer in spec.layers:
        result = lock_layer(
            spec, layer, python=python_for("3.12"), if_needed=False, reset=False,
            options=LockOptions(), reporter=RecordingReporter(),
        )  # fmt: skip
        assert result.state.has_valid_lock, result.state.reasons
    return root


@dataclass(frozen=True)
class Case:
    change: Callable[[Any, StackSpec, Path, pytest.MonkeyPatch], StackSpec]
    invalid: frozenset[str]


def _layer(name: str, **changes: Any) -> Callable[..., StackSpec]:
    def change(stacks: Any, spec: StackSpec, root: Path, mp: pytest.MonkeyPatch) -> StackSpec:
        return stacks.replace_layer(spec, name, **changes)

    return change


def _runtime_version(version: str) -> Callable[..., StackSpec]:
    return _layer(RUNTIME, python_version=version, python_implementation=f"cpython@{version}")


def _edit_file(relative: str, text: str) -> Callable[..., StackSpec]:
    def change(stacks: Any, spec: StackSpec, root: Path, mp: pytest.MonkeyPatch) -> StackSpec:
        (root / relative).write_text(text)
        return spec

    return change


def _rename_modules(stacks: Any, spec: StackSpec, root: Path, mp: pytest.MonkeyPatch) -> StackSpec:
    (root / "a.py").rename(root / "a2.py")
    (root / "vpkg").rename(root / "vpkg2")
    spec = stacks.replace_layer(spec, APP, launch_module=root / "a2.py")
    return stacks.replace_layer(spec, VAPP, launch_module=root / "vpkg2")


def _edit_lock(stacks: Any, spec: StackSpec, root: Path, mp: pytest.MonkeyPatch) -> StackSpec:
    path = stack_paths.pylock_path(spec, spec.layer(RUNTIME))
    path.write_text(path.read_text().replace('name = "six"', 'name = "six-fork"'))
    return spec


def _drop_in_files(stacks: Any, spec: StackSpec, root: Path, mp: pytest.MonkeyPatch) -> StackSpec:
    for layer in spec.layers:
        stack_paths.requirements_in_path(spec, layer).unlink()
    return spec


def _uv_setting(stacks: Any, spec: StackSpec, root: Path, mp: pytest.MonkeyPatch) -> StackSpec:
    return base_spec(stacks, root, uv_settings={"prerelease": "allow"})


def _uv_env_cutoff(stacks: Any, spec: StackSpec, root: Path, mp: pytest.MonkeyPatch) -> StackSpec:
    mp.setenv("UV_EXCLUDE_NEWER", "2021-01-01T00:00:00Z")
    return spec


CASES = {
    "runtime maintenance version": Case(_runtime_version("3.12.9"), frozenset()),
    "runtime feature version": Case(_runtime_version("3.13.0"), EVERYTHING),
    "runtime requirements": Case(_layer(RUNTIME, requirements=("six", "attrs")), EVERYTHING),
    "framework requirements": Case(_layer(FRAMEWORK, requirements=("idna",)), ABOVE_FRAMEWORK),
    "app requirements": Case(_layer(APP, requirements=("attrs",)), frozenset({APP})),
    "app declared frameworks": Case(_layer(APP, frameworks=(), linearized=()), frozenset({APP})),
    "framework linux_target": Case(_layer(FRAMEWORK, linux_target="glibc@2.34"), ABOVE_FRAMEWORK),
    "app macosx_target": Case(_layer(APP, macosx_target="14.0"), frozenset({APP})),
    "framework turns versioned": Case(_layer(FRAMEWORK, versioned=True), ABOVE_FRAMEWORK),
    "launch module contents": Case(
        _edit_file("vpkg/__main__.py", "print('v2')\n"), frozenset({VAPP})
    ),
    "unversioned launch module contents": Case(_edit_file("a.py", "print(2)\n"), frozenset()),
    "launch module names": Case(_rename_modules, frozenset({VAPP})),
    "hand edit of the runtime lock": Case(_edit_lock, EVERYTHING),
    "missing .in cache files": Case(_drop_in_files, frozenset()),
    "app target platforms": Case(_layer(APP, platforms=("linux_x86_64",)), frozenset({APP})),
    "uv settings": Case(_uv_setting, EVERYTHING),
    "UV_EXCLUDE_NEWER before the lock": Case(_uv_env_cutoff, EVERYTHING),
}


@pytest.mark.parametrize("name", CASES)
def test_invalidation(
    name: str, stacks: Any, locked_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UV_EXCLUDE_NEWER", raising=False)
    root = tmp_path / "stack"
    shutil.copytree(locked_root, root)
    spec = base_spec(stacks, root)
    assert all(state.has_valid_lock for state in lock_states(spec).values())
    changed = CASES[name].change(stacks, spec, root, monkeypatch)
    states = lock_states(changed)
    invalid = {layer for layer, state in states.items() if not state.has_valid_lock}
    assert invalid == CASES[name].invalid, {k: v.reasons for k, v in states.items()}
    assert all(states[layer].reasons for layer in invalid)
    # Layers invalid only because of a lower layer say which one.
    if name == "framework requirements":
        assert states[APP].reasons == (f"lower layer {FRAMEWORK!r} needs locking",)
