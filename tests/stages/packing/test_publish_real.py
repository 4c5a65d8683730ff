"""Publish and deploy a really built stack (offline), reproducible from a second checkout.

The archives of stage_layer trees are compared with those of the same project built in
another folder, then deployed and run.

Stack (as in tests/stages/deploying/test_export.py): runtime ``cpython-3.12`` (a local CPython made
relocatable) -> ``framework-clib@1`` (ships ``libdemo.so.1``) -> ``app-useext`` (an extension
module linking it).
Wheels are compiled in the test and locked with ``--local-wheels``, so no network is needed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.archive_formats import BUILTIN_FORMATS
from envstacks.stages.locking import LockOptions, lock_states
from envstacks.stages.packing.publisher import PublishOptions, PublishResult, publish_layers
from envstacks.stages.stackspec import load
from kits import stacks
from kits.clib_stack import APP, LAYERS, SPEC

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None,
    reason="needs Linux and gcc",
)


def _build(project: Path) -> object:
    kit = stacks
    spec = load(project / "pyproject.toml")
    reporter = RecordingReporter()
    kit.lock_stack(
        spec, reporter, options=LockOptions(index=False, local_wheels=(project / "wheels",))
    )
    return kit.Stack(spec=spec, reporter=reporter, results=kit.build_stack(spec, reporter))


def _publish(
    built: object, output: Path, fmt: str = "tar.zst", *, tag_outputs: bool = False
) -> PublishResult:
    spec = built.spec  # type: ignore[attr-defined]
    return publish_layers(
        spec,
        spec.enabled_layers,
        PublishOptions(output_dir=output, format_name=fmt, tag_outputs=tag_outputs),
        pm=get_plugin_manager(load_entrypoints=False),
        reporter=RecordingReporter(),
        lock_states=lock_states(spec),
    )


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory, python_for) -> tuple[object, object]:
    """The same project (committed locks included) built in two unrelated folders."""
    kit = stacks
    first = tmp_path_factory.mktemp("checkout-one") / "project"
    first.mkdir()
    kit.build_dynlib_wheels(first, python_for("3.12"))
    (first / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (first / "useext.py").write_text(APP, encoding="utf-8")
    one = _build(first)
    second = tmp_path_factory.mktemp("elsewhere") / "deeper" / "project-two"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("_build", "csrc", "dist"))
    return one, _build(second)


@pytest.mark.parametrize(
    "fmt",
    ["tar.zst", "zip", pytest.param("tar.xz", marks=pytest.mark.slow)],  # xz: about a minute
)
def test_published_layers_are_identical_from_two_build_folders(checkouts, tmp_path, fmt):
    one, two = checkouts
    first = _publish(one, tmp_path / "one", fmt)
    second = _publish(two, tmp_path / "two", fmt)
    assert [item.install_target for item in first.layers] == list(LAYERS)
    for a, b in zip(first.layers, second.layers, strict=True):
        assert a.archive_path.name == b.archive_path.name
        assert a.archive_path.read_bytes() == b.archive_path.read_bytes(), a.archive_path.name
        # Precompiled (the default): the pyc files are in the archive, byte for byte the same.
        with a.archive_path.open("rb") as raw, BUILTIN_FORMATS[fmt].open_reader(raw) as reader:
            pycs = [m.name for m in reader.members() if m.name.endswith(".cpython-312.pyc")]
        assert pycs, a.archive_path.name
    assert first.manifest == second.manifest
    for build in (one.spec.settings.build_dir, two.spec.settings.build_dir):  # type: ignore[attr-defined]
        assert not [
            p for p in build.iterdir() if p.name.startswith(".envstacks")
        ]  # staging removed


@pytest.mark.parametrize("tag_outputs", [False, True])
def test_published_stack_deploys_and_runs(checkouts, tmp_path, tag_outputs):
    one, _ = checkouts
    output = tmp_path / "dist"
    result = _publish(one, output, tag_outputs=tag_outputs)
    archive = result.layers[0].archive_path
    assert (
        result.layers[0].metadata["archive_hashes"]["sha256"]
        == hashlib.sha256(archive.read_bytes()).hexdigest()
    )

    target = tmp_path / "deployed"
    deployed = deploy(
        output, target, pm=get_plugin_manager(load_entrypoints=False), reporter=RecordingReporter()
    )

    assert deployed.installed == LAYERS
    kit = stacks
    state = kit.tree_state(target)
    ran = subprocess.run(
        [target / "app-useext" / "bin" / "python", "-m", "useext"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # bytecode writing allowed
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["answer"] == 42
    assert report["prefix"] == str(target / "app-useext")
    # The layers shipped their pyc files (postinstall compiled only the regenerated chaining
    # module): running the app, even on a read-only tree, writes none.
    assert kit.tree_state(target) == state
    python = target / "app-useext" / "bin" / "python"
    again = kit.run_app_writing_no_bytecode(python, "useext", read_only=target)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["answer"] == 42
    assert kit.tree_state(target) == state
    assert list((target / "cpython-3.12" / "lib").rglob("__pycache__"))
