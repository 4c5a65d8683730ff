"""Deploy places and post-installs layers while others are still unpacking; failures then."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter, Task
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.deploying import DeployOptions, deployer
from envstacks.stages.deploying.deploy_record import load_state
from kits.layers import FRAMEWORK, RUNTIME, default_layers, snapshot

#: How long a held unpack waits for the runtime to be placed: with phases (every layer
#: unpacked before the first is placed) it waits all of it, and the test fails.
HOLD = 60.0


class HoldingReporter(RecordingReporter):
    """Holds the unpacking of one layer until the runtime's postinstall has run.

    Only the timing is arranged (a slow download cannot be had on demand): the deploy, its
    archives and its postinstall scripts are real.
    """

    def __init__(self, held: str, *, fail: BaseException | None = None) -> None:
        super().__init__()
        self.held, self.fail = held, fail
        self.runtime_placed = threading.Event()
        self.waited_for_runtime: bool | None = None

    def task(self, layer: str, action: str, total: int | None = None, *, unit: str = "") -> Task:
        if (layer, action) == (self.held, "unpack"):
            self.waited_for_runtime = self.runtime_placed.wait(HOLD)
            if self.fail is not None:
                raise self.fail
        task = super().task(layer, action, total, unit=unit)
        if (layer, action) == (RUNTIME, "postinstall"):
            return _Signalling(task, self.runtime_placed)
        return task


class _Signalling:
    """A task that sets an event once it is over."""

    def __init__(self, task: Task, event: threading.Event) -> None:
        self._task, self._event = task, event

    def advance(self, amount: int = 1) -> None:
        self._task.advance(amount)

    def set_total(self, total: int | None) -> None:
        self._task.set_total(total)

    def note(self, text: str) -> None:
        self._task.note(text)

    def __enter__(self) -> Task:
        self._task.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._task.__exit__(*exc)
        self._event.set()


def test_the_runtime_is_placed_while_an_app_still_unpacks(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    target = tmp_path / "deployed"
    reporter = HoldingReporter("app-one")

    result = deploy(output, target, DeployOptions(jobs=2), pm=pm, reporter=reporter)

    assert reporter.waited_for_runtime is True  # app-one's unpack began after the runtime's setup
    assert result.installed == (RUNTIME, FRAMEWORK, "app-one", "app-two@2")  # dependency order
    order = (target / "postinstall-order.txt").read_text().split()
    assert order.index(RUNTIME) < order.index(FRAMEWORK) < order.index("app-one")
    assert set(load_state(target)) == set(result.installed)
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]


def test_an_unpack_failing_after_layers_were_placed_undoes_them(tmp_path, publish_layers_to, pm):
    v1 = publish_layers_to(tmp_path / "v1")
    target = tmp_path / "deployed"
    deploy(v1, target, DeployOptions(include=("app-two",)), pm=pm, reporter=RecordingReporter())
    runtime_before, record_before = snapshot(target / RUNTIME), load_state(target)[RUNTIME]
    layers = default_layers()
    layers[0].files["NEW"] = "a new runtime version"  # replaces the runtime deployed from v1
    v2 = publish_layers_to(tmp_path / "v2", layers)
    reporter = HoldingReporter("app-one", fail=OSError(28, "No space left on device"))

    with pytest.raises(OSError, match=r"(?i)no space left"):
        deploy(v2, target, DeployOptions(jobs=2), pm=pm, reporter=reporter)

    assert reporter.waited_for_runtime is True  # the new runtime was in place when app-one failed
    assert snapshot(target / RUNTIME) == runtime_before  # the previous version is back, as it was
    assert load_state(target)[RUNTIME] == record_before
    assert not (target / FRAMEWORK).exists() and FRAMEWORK not in load_state(target)
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]
    assert deploy(v2, target, pm=pm, reporter=RecordingReporter()).ok  # the next run completes
    assert (target / RUNTIME / "NEW").is_file()


def test_an_undo_the_file_system_refuses_keeps_the_previous_version_for_the_next_run(
    tmp_path, publish_layers_to, pm, monkeypatch
):
    """Undoing the new runtime fails: its replaced copy is kept, and the next deploy recovers.

    Stand-in: the rename back is refused once, as a busy or read-only file system would.
    """
    v1 = publish_layers_to(tmp_path / "v1")
    target = tmp_path / "deployed"
    deploy(v1, target, DeployOptions(include=("app-two",)), pm=pm, reporter=RecordingReporter())
    runtime_before = snapshot(target / RUNTIME)
    layers = default_layers()
    layers[0].files["NEW"] = "a new runtime version"
    v2 = publish_layers_to(tmp_path / "v2", layers)

    def refuse(deployment, record):  # the record says "installing" again, then the rename fails
        deployment.put(record)
        raise OSError(16, "Device or resource busy")

    monkeypatch.setattr(deployer, "undo_placement", refuse)
    reporter = HoldingReporter("app-one", fail=OSError(28, "No space left on device"))
    with pytest.raises(OSError, match=r"(?i)no space left"):
        deploy(v2, target, DeployOptions(jobs=2), pm=pm, reporter=reporter)
    monkeypatch.undo()

    record = load_state(target)[RUNTIME]
    assert record.state == "installing" and record.aside is not None
    assert snapshot(target / record.aside) == runtime_before  # the previous version was kept
    reporter = RecordingReporter()
    deploy(v1, target, DeployOptions(include=("app-two",)), pm=pm, reporter=reporter)
    assert snapshot(target / RUNTIME) == runtime_before
    assert any("restored the previous version" in m for _, m in reporter.messages)


def test_a_refusal_while_others_are_placed_leaves_them_in_place(tmp_path, publish_layers_to, pm):
    output = publish_layers_to(tmp_path / "dist")
    _archive(output, "app-one").write_bytes(b"not the published archive")
    target = tmp_path / "deployed"
    reporter = HoldingReporter("app-one")

    result = deploy(
        output,
        target,
        DeployOptions(jobs=2, raise_on_refusal=False),
        pm=pm,
        reporter=reporter,
    )

    assert reporter.waited_for_runtime is True
    assert [refused.install_target for refused in result.refused] == ["app-one"]
    assert result.installed == (RUNTIME, FRAMEWORK, "app-two@2")
    assert not (target / "app-one").exists()
    assert set(load_state(target)) == set(result.installed)


def _archive(output: Path, name: str) -> Path:
    return next(output.glob(f"{name}.*"))
