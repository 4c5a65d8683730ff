"""Pack fixtures: synthetic layer trees, and a synthetic "built" stack to publish.

The stack is a real spec (loaded from a pyproject), real lock states and real build records,
but its environments are small synthetic trees and staging is a plain copy: building real
layers takes a while, so the end-to-end publish of a real build is in test_publish_real.py.
"""

from __future__ import annotations

import os
import shutil
import stat
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
from envstacks.stages.packing.publisher import PublishResult, publish_layers
from envstacks.stages.stackspec import load
from envstacks.stages.stackspec import stack_paths as layout
from envstacks.stages.stackspec.model import LayerSpec, StackSpec

LOCKED_AT = "2026-01-02T03:04:05+00:00"
LOCK_MTIME = 1767323045

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


def make_tree(
    root: Path,
    *,
    reverse: bool = False,
    umask: int = 0o022,
    owner: int | None = None,
    mtime: float | None = None,
) -> Path:
    """A layer-like tree; ``reverse`` creates entries in the opposite order (other dir order)."""
    files: list[tuple[str, bytes, int]] = [
        ("bin/tool", b"#!/bin/sh\necho tool\n", 0o775),
        ("lib/python3.12/site-packages/pkg/__init__.py", b"VALUE = 1\n", 0o664),
        ("lib/python3.12/site-packages/pkg/data.bin", bytes(range(256)) * 64, 0o600),
        ("lib/python3.12/site-packages/pkg/empty.txt", b"", 0o644),
        ("lib/python3.12/site-packages/pkg/__pycache__/__init__.cpython-312.pyc", b"\0pyc", 0o644),
        ("lib/python3.12/site-packages/\u00fcnicode_n\u00e4me.py", b"# utf-8 name\n", 0o644),
        ("lib/python3.12/site-packages/" + "long_" * 25 + "name.py", b"# > 100 chars\n", 0o644),
        ("postinstall.py", b"print('postinstall')\n", 0o644),
    ]
    old = os.umask(umask)
    try:
        root.mkdir(parents=True)
        (root / "share" / "empty").mkdir(parents=True)
        for relative, data, mode in reversed(files) if reverse else files:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(mode & ~umask)
        (root / "bin" / "python").symlink_to("../../cpython-3.12/bin/python3")
        (root / "bin" / "tool2").symlink_to("tool")
    finally:
        os.umask(old)
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(folder) / name
            if owner is not None:
                os.lchown(path, owner, owner)
            if mtime is not None and not path.is_symlink():
                os.utime(path, (mtime, mtime))
    return root


def modes_of(root: Path) -> dict[str, int]:
    """Permission bits of every entry (to show two trees really differ)."""
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(root.rglob("*"))
    }


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

    def publish(self, layers: list[str] | None = None, **options: Any) -> PublishResult:
        options.setdefault("reporter", RecordingReporter())
        options.setdefault("format_name", "tar.zst")
        options.setdefault("output_dir", self.spec.settings.output_dir)
        options.setdefault("lock_states", self.lock_states)
        chosen = [self.layer(n) for n in layers] if layers else list(self.spec.enabled_layers)
        return publish_layers(self.spec, chosen, pm=self.pm, stage=self.stage, **options)

    def rebuild(self, name: str, relative: str, text: str) -> None:
        """Change a built env (and its build inputs, as a real rebuild would)."""
        layer = self.layer(name)
        (layout.env_path(self.spec, layer) / relative).write_text(text)
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
        install_target=layout.install_target(layer, version),
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
        make_tree(layout.env_path(spec, layer))
        _record(spec, layer, states[layer.build_name].requirements_hash)
    return Stack(spec=spec, lock_states=states)


StackFactory = Callable[[], Stack]
