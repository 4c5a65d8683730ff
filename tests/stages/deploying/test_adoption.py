"""Taking over a folder deployed by venvstacks' documented procedure (unpack + postinstall).

The layers are synthetic (:mod:`kits.layers`), published by the built-in formats; the folder is
deployed "by hand" as venvstacks documents it: every archive unpacked with ``tarfile``, then
what venvstacks' postinstall adds (``pyvenv.cfg``, ``sitecustomize.py``, ``__pycache__``). The
real procedure with venvstacks itself is a journey (``tests/journeys/compat``).
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.published.layer_config import LAYER_CONFIG
from envstacks.stages.deploying.deploy_record import load_state
from kits.layers import FRAMEWORK, RUNTIME, Layer, Publisher, snapshot

SITE = "lib/python3.12/site-packages"


def _layers() -> list[Layer]:
    """A runtime, a framework and an application with layer configs and quiet postinstalls."""
    layered = json.dumps(
        {
            "python": "bin/python_",
            "base_python": f"../{RUNTIME}/bin/python3",
            "py_version": "3.12.1",
            "site_dir": SITE,
            "pylib_dirs": [f"../{RUNTIME}/{SITE}"],
            "dynlib_dirs": [],
        }
    )
    quiet = {"postinstall.py": "pass\n"}
    return [
        Layer(RUNTIME, "runtimes", files=quiet),
        Layer(FRAMEWORK, "frameworks", files={**quiet, LAYER_CONFIG: layered}),
        Layer(
            "app-one", "applications", required=(FRAMEWORK,), files={**quiet, LAYER_CONFIG: layered}
        ),
    ]


# tarfile's extraction filters came with 3.11.4; older 3.11 releases extract as "fully_trusted".
TRUSTED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def _deploy_by_hand(output: Path, target: Path) -> None:
    """Deploy as venvstacks documents it: unpack each archive, add what postinstall writes."""
    target.mkdir(parents=True)
    for archive in sorted(output.glob("*.tar.xz")):
        with tarfile.open(archive) as tar:
            tar.extractall(target, **TRUSTED)
    for layer in (FRAMEWORK, "app-one"):
        (target / layer / "pyvenv.cfg").write_text(f"home = {target / RUNTIME / 'bin'}\n")
        (target / layer / SITE / "sitecustomize.py").write_text("from site import addsitedir\n")
    cache = target / RUNTIME / SITE / "__pycache__"
    cache.mkdir()
    (cache / "cpython_3_12.cpython-312.pyc").write_bytes(b"\0")


@pytest.mark.parametrize("indexes", [True, False], ids=["file index", "archive only"])
def test_a_folder_deployed_by_hand_is_adopted_in_place(
    tmp_path: Path, publish_layers_to: Publisher, pm: object, indexes: bool
) -> None:
    output = publish_layers_to(tmp_path / "dist", _layers(), fmt="tar.xz", indexes=indexes)
    target = tmp_path / "deployed"
    _deploy_by_hand(output, target)
    before = snapshot(target)
    reporter = RecordingReporter()

    result = deploy(output, target, pm=pm, reporter=reporter)

    assert result.adopted == (RUNTIME, FRAMEWORK, "app-one")
    assert result.installed == () and result.refused == ()
    assert {t.method for t in result.transfers} == {"adopted"}
    # With an index nothing is unpacked; without, the archives are (to compare), not placed.
    unpacked = [task.layer for task in reporter.tasks if task.action == "unpack"]
    assert unpacked == ([] if indexes else unpacked) and (indexes or len(unpacked) == 3)
    after = snapshot(target)
    kept = [path for path in before if not path.endswith("pyvenv.cfg")]
    assert {path: after[path] for path in kept} == {path: before[path] for path in kept}
    # Configured again where they are (pyvenv.cfg is what postinstall writes).
    assert "version = 3.12.1" in (target / "app-one" / "pyvenv.cfg").read_text()
    records = load_state(target)
    assert sorted(records) == sorted(result.adopted)
    assert all(record.state == "installed" for record in records.values())
    # Adopted layers are deployed layers from now on: the next deploy reuses them.
    again = deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert again.reused == result.adopted and again.adopted == ()


def test_a_folder_that_is_not_its_archive_is_replaced(
    tmp_path: Path, publish_layers_to: Publisher, pm: object
) -> None:
    output = publish_layers_to(tmp_path / "dist", _layers(), fmt="tar.xz")
    target = tmp_path / "deployed"
    _deploy_by_hand(output, target)
    module = target / "app-one" / SITE / "app_one.py"
    module.write_text("NAME = 'changed by hand'\n")
    (target / FRAMEWORK / "notes.txt").write_text("not from the archive\n")
    reporter = RecordingReporter()

    result = deploy(output, target, pm=pm, reporter=reporter)

    assert result.adopted == (RUNTIME,)
    assert result.installed == (FRAMEWORK, "app-one")
    assert module.read_text() == "NAME = 'app-one'\n"
    assert not (target / FRAMEWORK / "notes.txt").exists()
    said = reporter.texts("info")
    assert any(
        "app-one: deployed by another tool and not this version" in text
        and f"{SITE}/app_one.py differs" in text
        for text in said
    ), said
    assert any("notes.txt is not in the archive" in text for text in said), said
    assert not [p for p in os.listdir(target) if p.startswith(".envstacks-tmp")]
