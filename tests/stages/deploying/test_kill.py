"""A deploy killed part-way (real SIGKILL) leaves working layers; the next run completes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.deploying.deploy_record import load_state
from kits.layers import FRAMEWORK, RUNTIME, Layer, default_layers

#: Runs deploy and kills itself with SIGKILL at the step named on the command line.
DEPLOY_AND_DIE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from envstacks.orchestrator.distribution import deploy
    from envstacks.orchestrator.plugins import get_plugin_manager
    from envstacks.stages.deploying import DeployOptions
    from envstacks.floor.report import NullReporter

    source, target, when, layer = sys.argv[1:5]
    placed = []

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    class Task:
        def __init__(self, action):
            self.action = action
        def __enter__(self):
            # "placed": the named layer's postinstall finished and the next step begins.
            if placed or (when == self.action == "postinstall" and self.layer == layer):
                die()
            return self
        def __exit__(self, *exc):
            if when == "placed" and self.action == "postinstall" and self.layer == layer:
                placed.append(layer)
        def advance(self, amount=1):
            if when == self.action == "unpack" and self.layer == layer:
                die()
        def set_total(self, total):
            pass
        def note(self, text):
            pass

    class Reporter(NullReporter):
        def task(self, name, action, total=None, *, unit=""):
            task = Task(action)
            task.layer = name
            return task

    pm = get_plugin_manager(load_entrypoints=False)
    deploy(source, Path(target), DeployOptions(jobs=1), pm=pm, reporter=Reporter())
    sys.exit("not killed")
    """
)


def _deploy_and_die(tmp_path: Path, source: Path, target: Path, when: str, layer: str) -> None:
    script = tmp_path / "deploy_and_die.py"
    script.write_text(DEPLOY_AND_DIE)
    done = subprocess.run(
        [sys.executable, script, source, target, when, layer],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -9, done.stderr


def _assert_all_working(target: Path, names: tuple[str, ...]) -> None:
    for name in names:
        assert json.loads((target / name / "postinstall.json").read_text())
    ran = subprocess.run(
        [target / FRAMEWORK / "bin" / "python_", "-c", "print('ok')"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == "ok"
    assert not [p.name for p in target.iterdir() if p.name.startswith(".envstacks")]
    assert {name: r.state for name, r in load_state(target).items()} == dict.fromkeys(
        names, "installed"
    )


def test_killed_after_the_first_layer_is_in_place(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    _deploy_and_die(tmp_path, output, target, "placed", RUNTIME)

    assert (target / RUNTIME / "postinstall.json").is_file()
    states = {name: record.state for name, record in load_state(target).items()}
    # Killed as the framework's postinstall was about to run: it is recorded as unfinished.
    assert states == {RUNTIME: "installed", FRAMEWORK: "installing"}
    assert not (target / FRAMEWORK / "postinstall.json").exists()

    result = deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert result.reused == (RUNTIME,)
    assert result.installed == (FRAMEWORK, "app-one", "app-two@2")
    _assert_all_working(target, (RUNTIME, *result.installed))


@pytest.mark.parametrize("when", ["unpack", "postinstall"])
def test_killed_mid_layer_leaves_no_half_made_layer_after_the_next_run(
    tmp_path, publish_layers_to, pm, when
):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    _deploy_and_die(tmp_path, output, target, when, FRAMEWORK)

    runtime_placed = False
    if when == "unpack":
        # Layers are placed while others unpack: the runtime may be in place (whole, its
        # postinstall done), being placed (recorded "installing": the next run rolls it back)
        # or still in its work folder; the framework is not placed at all.
        states = {name: r.state for name, r in load_state(target).items()}
        assert states in ({}, {RUNTIME: "installed"}, {RUNTIME: "installing"})
        runtime_placed = states == {RUNTIME: "installed"}
        if runtime_placed:
            assert (target / RUNTIME / "postinstall.json").is_file()
        assert not (target / FRAMEWORK).exists()
        assert [p for p in target.iterdir() if p.name.startswith(".envstacks-tmp.")]
    else:  # died while its postinstall would run: the record says so
        assert load_state(target)[RUNTIME].state == "installed"
        assert load_state(target)[FRAMEWORK].state == "installing"

    reporter = RecordingReporter()
    result = deploy(output, target, pm=pm, reporter=reporter)
    assert FRAMEWORK in result.installed
    kept = when == "postinstall" or runtime_placed
    assert RUNTIME in (result.reused if kept else result.installed)
    _assert_all_working(target, (RUNTIME, FRAMEWORK, "app-one", "app-two@2"))


def test_killed_while_replacing_a_layer_restores_the_previous_version(
    tmp_path, publish_layers_to, pm
):
    v1 = publish_layers_to(tmp_path / "v1")
    target = tmp_path / "deployed"
    deploy(v1, target, pm=pm, reporter=RecordingReporter())
    layers = default_layers()
    layers[2] = Layer("app-one", "applications", required=(FRAMEWORK,), files={"NEW": "2\n"})
    v2 = publish_layers_to(tmp_path / "v2", layers)

    _deploy_and_die(tmp_path, v2, target, "postinstall", "app-one")
    assert (target / "app-one" / "NEW").exists()  # the new copy is in place, unconfigured
    aside = load_state(target)["app-one"].aside  # the record names where v1 went
    assert aside is not None and (target / aside / "postinstall.json").is_file()
    assert not (target / aside / "NEW").exists()

    reporter = RecordingReporter()
    back = deploy(v1, target, pm=pm, reporter=reporter)  # the repair alone brings v1 back
    assert back.installed == ()
    assert "app-one" in back.reused
    assert not (target / "app-one" / "NEW").exists()
    assert any("restored the previous version" in text for text in reporter.texts("warning"))

    forward = deploy(v2, target, pm=pm, reporter=RecordingReporter())
    assert forward.installed == ("app-one",)
    _assert_all_working(target, (RUNTIME, FRAMEWORK, "app-one", "app-two@2"))


#: A layer config as envstacks writes it, so deploy can configure the layer before its rename.
CONFIG = {
    "share/venv/metadata/venvstacks_layer.json": json.dumps(
        {
            "python": "bin/python",
            "base_python": f"../{RUNTIME}/bin/python3",
            "site_dir": "lib/python3.12/site-packages",
            "py_version": "3.12.1",
            "pylib_dirs": [f"../{RUNTIME}/lib/python3.12/site-packages"],
            "dynlib_dirs": [],
        }
    )
}


def test_killed_during_postinstall_leaves_the_layer_configured(tmp_path, publish_layers_to, pm):
    """The layer's final configuration is written before its rename, not by its postinstall."""
    layers = default_layers()
    layers[1] = Layer(FRAMEWORK, "frameworks", files=CONFIG)
    output = publish_layers_to(tmp_path / "dist", layers)
    target = tmp_path / "deployed"

    _deploy_and_die(tmp_path, output, target, "postinstall", FRAMEWORK)

    assert load_state(target)[FRAMEWORK].state == "installing"
    assert not (target / FRAMEWORK / "postinstall.json").exists()  # its script never ran
    config = (target / FRAMEWORK / "pyvenv.cfg").read_text()
    assert f"home = {target / RUNTIME / 'bin'}\n" in config
    assert f"executable = {target / RUNTIME / 'bin' / 'python3'}\n" in config
    result = deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert FRAMEWORK in result.installed
    assert (target / FRAMEWORK / "pyvenv.cfg").read_text() == config
