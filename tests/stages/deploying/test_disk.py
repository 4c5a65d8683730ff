"""Deploy on a full or read-only disk: one clear error, nothing half-made, the next run works.

The target is a real tmpfs of a few MiB (``small_fs``, root only: these skip elsewhere), filled
or remounted read-only as a user's disk would be; the deploy runs through the CLI's ``main``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envstacks.floor.errors import NoSpaceError
from envstacks.floor.fs import TEMP_PREFIX
from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.deploying.deploy_record import load_state
from kits.layers import FRAMEWORK, RUNTIME, Layer, default_layers, snapshot

BIG = "x" * 3_000_000  # compresses to almost nothing, unpacks to 3 MB

#: A postinstall that fills the disk (as byte-compiling a large layer would).
GREEDY_POSTINSTALL = """\
import os
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "cache.bin"), "wb") as out:
    for _ in range(64):
        out.write(b"0" * (1 << 20))
"""


def _deploy(source: Path, target: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["deploy", str(source), "--target", str(target)])
    return status, capsys.readouterr().err


def _no_leftovers(target: Path) -> None:
    assert not [p.name for p in target.iterdir() if p.name.startswith(TEMP_PREFIX)]


def _assert_clear(err: str, text: str, *, quotes_script: bool = False) -> None:
    assert text in err, err
    assert "hint: " in err and "bug in envstacks" not in err
    assert quotes_script or "Traceback" not in err


def test_disk_full_during_the_first_deploy(small_fs, publish_layers_to, tmp_path, capsys):
    layers = default_layers()
    layers[2] = Layer("app-one", "applications", required=(FRAMEWORK,), files={"big.txt": BIG})
    output = publish_layers_to(tmp_path / "dist", layers)
    disk = small_fs(size="2m")
    target = disk.path / "deployed"

    status, err = _deploy(output, target, capsys)

    assert status == 1
    _assert_clear(err, f"no space left on the file system of {target}")
    # The failed first deploy leaves no layer, record or folder of its own: layers placed while
    # app-one was unpacking were undone. What their postinstall.py wrote outside them stays
    # (the test kit's scripts log their order beside the layers), and so does the folder then.
    left = (
        {p.relative_to(target).as_posix() for p in target.rglob("*")} if target.exists() else set()
    )
    assert left <= {"postinstall-order.txt", "__venvstacks__", "__venvstacks__/deploy.lock"}
    disk.read_write(size="64m")  # the user frees space
    assert _deploy(output, target, capsys)[0] == 0
    assert (target / "app-one" / "big.txt").stat().st_size == len(BIG)


def test_disk_full_during_an_upgrade_keeps_the_previous_version(
    small_fs, publish_layers_to, tmp_path, capsys
):
    v1 = publish_layers_to(tmp_path / "v1")
    disk = small_fs(size="16m")
    target = disk.path / "deployed"
    assert _deploy(v1, target, capsys)[0] == 0
    before = snapshot(target / "app-one")
    record = load_state(target)["app-one"]
    layers = default_layers()
    layers[2] = Layer("app-one", "applications", required=(FRAMEWORK,), files={"big.txt": BIG})
    v2 = publish_layers_to(tmp_path / "v2", layers)
    filler = disk.fill(leave=256 << 10)

    status, err = _deploy(v2, target, capsys)

    assert status == 1
    _assert_clear(err, f"no space left on the file system of {target}")
    assert snapshot(target / "app-one") == before
    assert load_state(target)["app-one"] == record
    _no_leftovers(target)
    filler.unlink()
    assert _deploy(v2, target, capsys)[0] == 0
    assert (target / "app-one" / "big.txt").is_file()


def test_disk_full_in_postinstall_names_the_folder(small_fs, publish_layers_to, tmp_path, capsys):
    layers = default_layers()
    layers[3] = Layer("app-two@2", "applications", files={"postinstall.py": GREEDY_POSTINSTALL})
    output = publish_layers_to(tmp_path / "dist", layers)
    disk = small_fs(size="8m")
    target = disk.path / "deployed"

    status, err = _deploy(output, target, capsys)

    assert status == 1
    _assert_clear(
        err, f"postinstall.py failed: the file system of {target} is full", quotes_script=True
    )
    assert "No space left on device" in err  # the script's own words, quoted
    assert not (target / "app-two@2").exists()  # its first install was undone
    assert load_state(target)["app-one"].state == "installed"
    _no_leftovers(target)
    disk.read_write(size="128m")
    assert _deploy(output, target, capsys)[0] == 0
    assert (target / "app-two@2" / "cache.bin").is_file()


def test_recorded_unpacked_sizes_are_checked_against_free_space_first(
    small_fs, publish_layers_to, tmp_path, pm
):
    output = publish_layers_to(tmp_path / "dist")
    manifest_file = output / "__venvstacks__" / "venvstacks.json"
    manifest = json.loads(manifest_file.read_text())
    for entries in manifest["layers"].values():
        for entry in entries:
            entry["unpacked_size"] = 5 << 20
    manifest_file.write_text(json.dumps(manifest))
    disk = small_fs(size="8m")
    target = disk.path / "deployed"
    reporter = RecordingReporter()

    with pytest.raises(NoSpaceError, match=r"need 20\.0 MiB .* has [\d.]+ MiB free"):
        deploy(output, target, pm=pm, reporter=reporter)

    assert not [task for task in reporter.tasks if task.action == "unpack"]  # refused first
    assert not target.exists()  # a first deploy that was refused leaves no folder behind


def test_read_only_target_that_is_up_to_date_deploys(small_fs, publish_layers_to, tmp_path, capsys):
    output = publish_layers_to(tmp_path / "dist")
    disk = small_fs(size="16m")
    target = disk.path / "deployed"
    assert _deploy(output, target, capsys)[0] == 0
    disk.read_only()

    assert main(["deploy", str(output), "--target", str(target)]) == 0

    out = capsys.readouterr().out
    assert sorted(line.split(": ")[1] for line in out.splitlines()) == sorted(
        [RUNTIME, FRAMEWORK, "app-one", "app-two@2"]
    )
    assert all(line.startswith("up to date: ") for line in out.splitlines())


def test_read_only_target_that_needs_a_change_is_a_clear_error(
    small_fs, publish_layers_to, tmp_path, capsys
):
    v1 = publish_layers_to(tmp_path / "v1")
    disk = small_fs(size="16m")
    target = disk.path / "deployed"
    assert _deploy(v1, target, capsys)[0] == 0
    layers = default_layers()
    layers[2] = Layer("app-one", "applications", required=(FRAMEWORK,), files={"NEW": "2\n"})
    v2 = publish_layers_to(tmp_path / "v2", layers)
    before = snapshot(target)
    disk.read_only()

    status, err = _deploy(v2, target, capsys)

    assert status == 1
    _assert_clear(err, f"deploy: {target} is on a read-only file system")
    assert snapshot(target) == before
