"""The orchestrator on a real stack: one request locks, builds and publishes; hooks fire once each.

The stack is the front-end fixture project (tests/projects/stackapp): a local CPython 3.12
runtime, a framework holding ``six`` and an application layer that ships the project itself,
so the run also builds the project's wheel (with ``uv build``, once per session).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor import uvrun
from envstacks.floor.errors import LockError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator import pipeline
from envstacks.orchestrator.distribution import deploy
from envstacks.orchestrator.plan import Op, Selection
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.orchestrator.session import Session
from envstacks.stages import stackspec as spec
from envstacks.stages.packing.publisher import PublishOptions

PROJECT = Path(__file__).parents[1] / "projects" / "stackapp"
LAYERS = ["cpython-3.12", "framework-six", "app-hello"]


class Listener:
    """Records every lifecycle notification."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    @hookimpl
    def envstacks_layer_locked(self, spec, layer, lock_path, changed):  # type: ignore[no-untyped-def]
        assert lock_path.is_file()
        self.calls.append(("locked", layer.build_name, changed))

    @hookimpl
    def envstacks_layer_built(self, spec, layer, env_path):  # type: ignore[no-untyped-def]
        assert env_path.is_dir()
        self.calls.append(("built", layer.build_name, None))

    @hookimpl
    def envstacks_layer_published(self, spec, layer, archive_path, metadata):  # type: ignore[no-untyped-def]
        assert archive_path.is_file()
        assert metadata["archive_name"] == archive_path.name
        self.calls.append(("published", layer.build_name, None))

    @hookimpl
    def envstacks_layer_deployed(self, install_target, path, reused):  # type: ignore[no-untyped-def]
        assert path.is_dir()
        self.calls.append(("deployed", install_target, reused))

    def of(self, kind: str) -> list[tuple[str, Any]]:
        return [(name, extra) for what, name, extra in self.calls if what == kind]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "stackapp"
    shutil.copytree(PROJECT, root, ignore=shutil.ignore_patterns("_build", "dist", "requirements"))
    return root


def test_one_request_locks_builds_publishes_and_fires_each_hook_once(
    project: Path, tmp_path: Path
) -> None:
    listener = Listener()
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(listener)
    reporter = RecordingReporter()
    session = Session(
        spec.load(project),
        reporter=reporter,
        pm=pm,
        project_wheel_builder=functools.partial(uvrun.build_wheel, reporter=reporter),
    )
    request = pipeline.StackRequest(
        plan=Selection(lock=Op.IF_NEEDED, build=Op.RUN, publish=True),
        publish=PublishOptions(output_dir=tmp_path / "dist"),
    )

    result = pipeline.run(session, request)

    assert [r.layer for r in result.locked] == LAYERS
    assert [r.layer for r in result.built] == LAYERS
    assert result.published is not None
    assert [item.status for item in result.published.layers] == ["published"] * 3
    assert [name for name, _ in listener.of("locked")] == LAYERS
    assert all(changed for _, changed in listener.of("locked"))
    assert sorted(name for name, _ in listener.of("built")) == sorted(LAYERS)
    assert sorted(name for name, _ in listener.of("published")) == sorted(LAYERS)
    # The project's wheel is built once, though both lock and build need it.
    builds = [
        text for text in reporter.texts("debug") if text.startswith("$ ") and " build " in text
    ]
    assert len(builds) == 1, builds

    target = tmp_path / "deployed"
    deploy(tmp_path / "dist", target, pm=pm, reporter=RecordingReporter())
    deploy(tmp_path / "dist", target, pm=pm, reporter=RecordingReporter())
    assert listener.of("deployed") == [
        *((name, False) for name in LAYERS),
        *((name, True) for name in LAYERS),
    ]
    ran = subprocess.run(
        [target / "app-hello" / "bin" / "python", "-m", "stackapp"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.startswith("hello from stackapp")


def test_locks_must_be_valid_refuses_stale_locks_without_running_uv(project: Path) -> None:
    reporter = RecordingReporter()
    session = Session(spec.load(project), reporter=reporter)
    request = pipeline.StackRequest(
        plan=Selection(build=Op.RUN), locks_must_be_valid="tool.example.lock"
    )
    with pytest.raises(LockError) as caught:
        pipeline.run(session, request)
    assert "these layers need locking" in caught.value.message
    assert '`tool.example.lock` is "check"' in caught.value.message
    assert not [text for text in reporter.texts("debug") if text.startswith("$ ")]
