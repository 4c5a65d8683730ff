"""Pack fixtures: synthetic layer trees, and a synthetic "built" stack to publish.

The stack is a real spec (loaded from a pyproject), real lock states and real build records,
but its environments are small synthetic trees and staging is a plain copy: building real
layers takes a while, so the end-to-end publish of a real build is in test_publish_real.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.platforms import host_platform
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.building.build_record import BuildRecord, write_record
from envstacks.stages.locking import LockState
from envstacks.stages.packing.publisher import PublishOptions, PublishResult, publish_layers
from envstacks.stages.stackspec import load, stack_paths
from envstacks.stages.stackspec.model import LayerSpec, StackSpec
from kits.trees import LOCK_MTIME, make_tree, modes_of  # noqa: F401 - for the tests here

LOCKED_AT = "2026-01-02T03:04:05+00:00"

SPEC = """\
[project]
name = "pack-demo"
version = "0"

[tool.venvstacks]
build-dir = "_build"
output-dir = "dist"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12.1"
requirements = []
platforms = ["{platform}"]

[[tool.venvstacks.frameworks]]
name = "fw"
runtime = "cpython-3.12"
requirements = []
versioned = true

[[tool.venvstacks.applications]]
name = "app"
frameworks = ["fw"]
launch_module = "app.py"
requirements = []
"""


@dataclass
class Stack:
    """A synthetic built stack and how to publish it."""

    spec: StackSpec
    lock_states: dict[str, LockState]
    staged: list[str] = field(default_factory=list)
    pm: Any = field(default_factory=lambda: get_plugin_manager(load_entrypoints=False))

    def layer(self, name: str) -> LayerSpec:
        return self.spec.layer(name)

    def stage(
        self,
        spec: StackSpec,
        layer: LayerSpec,
        env: Path,
        destination: Path,
        *,
        install_targets: Mapping[str, str],
    ) -> Path:
        """Staging for synthetic envs: a copy (the real stage_layer needs real builds)."""
        self.staged.append(layer.build_name)
        shutil.copytree(env, destination, symlinks=True)
        return destination

    def publish(
        self,
        layers: list[str] | None = None,
        *,
        reporter: RecordingReporter | None = None,
        lock_states: dict[str, LockState] | None = None,
        **options: Any,
    ) -> PublishResult:
        """Publish ``layers`` (all enabled ones by default); ``options``: PublishOptions fields."""
        options.setdefault("format_name", "tar.zst")
        options.setdefault("output_dir", self.spec.settings.output_dir)
        chosen = [self.layer(n) for n in layers] if layers else list(self.spec.enabled_layers)
        return publish_layers(
            self.spec,
            chosen,
            PublishOptions(**options),
            lock_states=lock_states if lock_states is not None else self.lock_states,
            pm=self.pm,
            reporter=reporter or RecordingReporter(),
            stage=self.stage,
        )

    def rebuild(self, name: str, relative: str, text: str) -> None:
        """Change a built env (and its build inputs, as a real rebuild would)."""
        layer = self.layer(name)
        (stack_paths.env_path(self.spec, layer) / relative).write_text(text)
        _record(self.spec, layer, self.lock_states[name].requirements_hash, extra=text)


def _record(
    spec: StackSpec, layer: LayerSpec, requirements_hash: str | None, extra: str = ""
) -> None:
    write_record(
        spec,
        layer,
        BuildRecord(
            build_id=os.urandom(8).hex(),
            inputs={"requirements_hash": requirements_hash, "extra": extra},
            runtime_version="3.12.1",
        ),
    )


def lock_state(layer: LayerSpec, *, version: int = 1) -> LockState:
    return LockState(
        layer=layer.build_name,
        has_valid_lock=True,
        lock_version=version,
        locked_at=LOCKED_AT,
        requirements_hash="sha256:" + layer.build_name.encode().hex().ljust(64, "0")[:64],
        install_target=stack_paths.install_target(layer, version),
    )


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    """The synthetic stack, built (every env exists with a build record)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(SPEC.format(platform=host_platform()))
    (project / "app.py").write_text("print('app')\n")
    spec = load(project / "pyproject.toml")
    states = {layer.build_name: lock_state(layer) for layer in spec.layers}
    for layer in spec.enabled_layers:
        make_tree(stack_paths.env_path(spec, layer))
        _record(spec, layer, states[layer.build_name].requirements_hash)
    return Stack(spec=spec, lock_states=states)


StackFactory = Callable[[], Stack]
