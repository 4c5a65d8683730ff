"""Record-driven recovery: the record names the aside folder, and a damaged record is refused.

Each test deploys for real, then leaves the target as a killed deploy would (the folders and
``deployed.json`` written by hand), and checks what the next deploy does with it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import DeployError
from envstacks.floor.fs import TEMP_PREFIX
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.deploying.deploy_record import load_state, state_path
from envstacks.stages.deploying.placement import place_layer
from kits.layers import FRAMEWORK, RUNTIME, Layer, default_layers, snapshot

APP = "app-one"


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has ended (what a killed deploy's temporary names record)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _aside_name(pid: int, token: str, name: str = APP) -> str:
    return f"{TEMP_PREFIX}{pid}-{token}.{name}"


def _state(target: Path) -> dict[str, Any]:
    return json.loads(state_path(target).read_text())


def _write_state(target: Path, state: dict[str, Any]) -> None:
    state_path(target).write_text(json.dumps(state))


@pytest.fixture
def v1(tmp_path, publish_layers_to, pm):
    """A target with every default layer deployed, and the publish folder it came from."""
    output = publish_layers_to(tmp_path / "v1")
    target = tmp_path / "deployed"
    deploy(output, target, pm=pm, reporter=RecordingReporter())
    return output, target


def _interrupt_replacement(target: Path, aside: str, *, record_aside: bool = True) -> None:
    """Leave ``APP`` as a deploy killed during the new copy's postinstall leaves it."""
    (target / APP).rename(target / aside)
    shutil.copytree(target / aside, target / APP, symlinks=True)
    (target / APP / "NEW").write_text("unconfigured\n")
    state = _state(target)
    installed = state["layers"][APP]
    installing = {**installed, "archive_sha256": "f" * 64, "state": "installing"}
    installing["previous"] = installed
    if record_aside:
        installing["aside"] = aside
    state["layers"][APP] = installing
    _write_state(target, state)


def test_recovery_restores_exactly_the_aside_folder_the_record_names(v1, pm, dead_pid):
    output, target = v1
    original = (target / APP / "postinstall.json").read_bytes()
    aside = _aside_name(dead_pid, "00000001")
    _interrupt_replacement(target, aside)
    # A decoy that sorts after the real one: recovery must not pick it by its name.
    decoy = target / _aside_name(dead_pid, "ffffffff")
    shutil.copytree(target / aside, decoy, symlinks=True)
    (decoy / "DECOY").write_text("wrong copy\n")
    reporter = RecordingReporter()

    result = deploy(output, target, pm=pm, reporter=reporter)

    assert APP in result.reused and result.installed == ()
    assert not (target / APP / "NEW").exists() and not (target / APP / "DECOY").exists()
    assert (target / APP / "postinstall.json").read_bytes() == original
    assert any("restored the previous version" in text for text in reporter.texts("warning"))
    assert load_state(target)[APP].state == "installed"
    assert load_state(target)[APP].aside is None
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]


def test_record_written_before_the_move_keeps_the_layer_in_place(v1, pm, dead_pid):
    output, target = v1
    before = snapshot(target / APP)
    state = _state(target)
    installed = state["layers"][APP]
    state["layers"][APP] = {
        **installed,
        "state": "installing",
        "previous": installed,
        "aside": _aside_name(dead_pid, "00000002"),  # chosen, but never moved there
    }
    _write_state(target, state)

    result = deploy(output, target, pm=pm, reporter=RecordingReporter())

    assert APP in result.reused
    assert snapshot(target / APP) == before


def test_first_install_left_half_done_is_removed(v1, pm):
    output, target = v1
    state = _state(target)
    state["layers"][APP]["state"] = "installing"  # no previous version: nothing to restore
    _write_state(target, state)

    result = deploy(output, target, pm=pm, reporter=RecordingReporter())

    assert result.installed == (APP,)
    assert json.loads((target / APP / "postinstall.json").read_text())


def test_records_without_aside_field_restore_the_old_name(v1, pm):
    """Records written before the ``aside`` field: the one name those versions used counts."""
    output, target = v1
    _interrupt_replacement(target, ".envstacks-old.0a1b2c3d.app-one", record_aside=False)
    # Another layer's moved-aside copy, and a lookalike name, are not taken for it.
    (target / ".envstacks-old.0a1b2c3d.app-one-extra").mkdir()

    result = deploy(output, target, pm=pm, reporter=RecordingReporter())

    assert APP in result.reused
    assert not (target / APP / "NEW").exists()
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]


def test_records_without_aside_field_and_two_candidates_are_not_guessed(v1, pm):
    output, target = v1
    _interrupt_replacement(target, ".envstacks-old.0a1b2c3d.app-one", record_aside=False)
    shutil.copytree(target / APP, target / ".envstacks-old.ffffffff.app-one", symlinks=True)
    before = snapshot(target)

    with pytest.raises(DeployError, match=r"cannot tell which to restore"):
        deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert snapshot(target) == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda layers: {"../victim": layers[APP]}, r"'\.\./victim' is not a plain folder name"),
        (lambda layers: {"/tmp": layers[APP]}, r"'/tmp' is not a plain folder name"),
        (
            lambda layers: {
                APP: {**layers[APP], "state": "installing", "aside": "../victim"},
            },
            r"aside '\.\./victim' is not a temporary name of it",
        ),
        (
            lambda layers: {
                APP: {**layers[APP], "state": "installing", "aside": RUNTIME},
            },
            r"aside 'cpython-3\.12' is not a temporary name of it",
        ),
        (
            lambda layers: {
                APP: {
                    **layers[APP],
                    "state": "installing",
                    "aside": f"{TEMP_PREFIX}1-a/../../x.{APP}",
                },
            },
            r"is not a temporary name of it",
        ),
        (
            lambda layers: {
                APP: {**layers[APP], "previous": {**layers[APP], "aside": "/etc"}},
            },
            r"aside '/etc' is not a temporary name of it",
        ),
    ],
    ids=["parent", "absolute", "aside-parent", "aside-other-layer", "aside-slash", "nested"],
)
def test_a_record_pointing_outside_the_target_is_refused(v1, pm, tmp_path, damage, message):
    output, target = v1
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("outside the target\n")
    state = _state(target)
    state["layers"] = damage(state["layers"])
    _write_state(target, state)
    before = snapshot(target)

    with pytest.raises(DeployError, match=message) as caught:
        deploy(output, target, pm=pm, reporter=RecordingReporter())

    assert "deployment record is damaged" in str(caught.value)
    assert (victim / "keep.txt").read_text() == "outside the target\n"
    assert snapshot(target) == before


def test_recovery_then_replacement_keeps_other_layers(
    v1, publish_layers_to, pm, tmp_path, dead_pid
):
    _, target = v1
    _interrupt_replacement(target, _aside_name(dead_pid, "00000003"))
    layers = default_layers()
    layers[2] = Layer(APP, "applications", required=(FRAMEWORK,), files={"V2": "2\n"})
    v2 = publish_layers_to(tmp_path / "v2", layers)

    result = deploy(v2, target, pm=pm, reporter=RecordingReporter())

    assert result.installed == (APP,)
    assert (target / APP / "V2").is_file() and not (target / APP / "NEW").exists()
    assert set(result.reused) == {RUNTIME, FRAMEWORK, "app-two@2"}


def test_place_layer_puts_the_old_copy_back_when_configuring_fails(tmp_path):
    final = tmp_path / "layer"
    final.mkdir()
    (final / "old").write_text("1")
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "new").write_text("2")
    aside = tmp_path / f"{TEMP_PREFIX}1-0.layer"
    seen: list[str] = []

    def fail() -> None:
        seen.append("configure")
        assert (final / "new").is_file() and (aside / "old").is_file()
        raise RuntimeError("postinstall failed")

    with pytest.raises(RuntimeError, match="postinstall failed"):
        place_layer(staged, final, aside=aside, configure=fail, configured=lambda: seen.append("x"))

    assert seen == ["configure"]
    assert sorted(p.name for p in final.iterdir()) == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer"]


def test_place_layer_drops_the_old_copy_only_once_configured(tmp_path):
    final = tmp_path / "layer"
    final.mkdir()
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "new").write_text("2")
    aside = tmp_path / f"{TEMP_PREFIX}1-0.layer"

    def configured() -> None:
        assert aside.is_dir()  # still there when the record would say "installed"

    place_layer(staged, final, aside=aside, configure=lambda: None, configured=configured)

    assert (final / "new").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer"]


@pytest.mark.parametrize("key", ["../victim", "ABSOLUTE"], ids=["parent", "absolute"])
def test_cli_refuses_an_installing_record_outside_the_target(v1, tmp_path, key):
    """The attack: an "installing" entry keyed outside the target; nothing there is touched."""
    output, target = v1
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("outside the target\n")
    name = str(victim) if key == "ABSOLUTE" else key
    state = _state(target)
    state["layers"][name] = {**state["layers"][APP], "state": "installing"}
    _write_state(target, state)
    before = snapshot(target)

    done = subprocess.run(
        [sys.executable, "-m", "envstacks", "deploy", str(output), "--target", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    assert "the deployment record is damaged" in done.stderr
    assert f"{name!r} is not a plain folder name" in done.stderr
    assert "hint: " in done.stderr and "bug in envstacks" not in done.stderr
    assert (victim / "keep.txt").read_text() == "outside the target\n"
    assert snapshot(target) == before


def test_a_record_nested_too_deeply_is_refused_as_damaged(v1, pm):
    output, target = v1
    state_path(target).write_text(_deep_json(_state(target), 5000))
    before = snapshot(target)

    with pytest.raises(DeployError, match="the deployment record is damaged"):
        deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert snapshot(target) == before


def _deep_json(state: dict[str, Any], depth: int) -> str:
    """``state`` with the app's record nested ``depth`` levels deep through ``previous``."""
    layers = dict(state["layers"])
    inner = json.dumps({key: value for key, value in layers[APP].items() if key != "previous"})
    head = inner[:-1] + ', "previous": '
    nested = head * depth + inner + "}" * depth
    layers[APP] = "@@"
    return json.dumps({**state, "layers": layers}).replace('"@@"', nested)
