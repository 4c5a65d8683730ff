"""A hostile layer writes nothing outside itself at deploy (issue 20, class 3).

Real layers (the layout ``test_postinstall.deployment`` makes, a real runtime interpreter)
with a crafted layer config, scripts record or bytecode record, and crafted installed trees
(symlinks into the runtime layer): ``postinstall.py`` refuses them, and the runtime layer is
byte for byte what it was.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError
from envstacks.published.layer_config import BYTECODE_RECORD, LAYER_CONFIG, SCRIPTS_CONFIG
from envstacks.stages.deploying.configure import configure_in_advance
from kits.layers import snapshot

from .test_postinstall import deployment, run

SCRIPTS = {"console_scripts": {"python3.12": "appmod:main", "victim": "appmod:main"}}


def _config(app: Path, **changes: object) -> None:
    config = json.loads((app / LAYER_CONFIG).read_text())
    config.update(changes)
    (app / LAYER_CONFIG).write_text(json.dumps(config))


def _refused(python: Path, runtime: Path, app: Path) -> str:
    before = snapshot(runtime)
    result = run(python, app)
    assert result.returncode == 1, result.stderr
    assert snapshot(runtime) == before  # the other layer is untouched
    return result.stderr


def test_an_interpreter_in_another_layer_gets_no_launchers_written_there(python_for, tmp_path):
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    assert run(python_for("3.12"), runtime).returncode == 0
    (app / SCRIPTS_CONFIG).write_text(json.dumps({"console_scripts": {"victim": "appmod:main"}}))
    (runtime / "bin" / "victim").write_text("the runtime's own file\n")
    _config(app, python="../cpython-3.12/bin/python")
    stderr = _refused(python_for("3.12"), runtime, app)
    assert "lies outside the layer" in stderr
    assert (runtime / "bin" / "victim").read_text() == "the runtime's own file\n"


def test_a_bin_folder_linked_into_another_layer_is_refused(python_for, tmp_path):
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    assert run(python_for("3.12"), runtime).returncode == 0
    (app / SCRIPTS_CONFIG).write_text(json.dumps({"console_scripts": {"victim": "appmod:main"}}))
    (app / "bin").rename(app / "bin-real")
    (app / "bin").symlink_to("../cpython-3.12/bin")
    assert "lies outside the layer" in _refused(python_for("3.12"), runtime, app)
    assert not (runtime / "bin" / "victim").exists()


def test_a_site_dir_in_another_layer_is_refused(python_for, tmp_path):
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    assert run(python_for("3.12"), runtime).returncode == 0
    _config(app, site_dir="../cpython-3.12/lib/python3.12/site-packages")
    assert "site_dir" in _refused(python_for("3.12"), runtime, app)


def test_modules_compiled_through_a_link_into_another_layer_are_refused(python_for, tmp_path):
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    # (the runtime is not compiled first: its modules have no pyc files to protect yet)
    site = app / "lib" / "python3.12" / "site-packages"
    (site / "borrowed").symlink_to(runtime / "lib" / "python3.12")
    magic = subprocess.run(
        [python_for("3.12"), "-c", "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    compile_list = ["lib/python3.12/site-packages/borrowed/stdmod.py"]
    record = {"cache_tag": "cpython-312", "magic": magic, "compile": compile_list}
    (app / BYTECODE_RECORD).write_text(json.dumps(record))
    stderr = _refused(python_for("3.12"), runtime, app)
    assert "the bytecode folder" in stderr or "lies outside the layer" in stderr
    assert not (runtime / "lib" / "python3.12" / "__pycache__").exists()


def test_a_lib_folder_linked_into_another_layer_is_refused(python_for, tmp_path):
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    assert run(python_for("3.12"), runtime).returncode == 0
    (app / "lib").rename(app / "lib-real")
    (app / "lib").symlink_to("../cpython-3.12/lib")
    _config(app, site_dir="lib-real/python3.12/site-packages")
    assert "the lib folder" in _refused(python_for("3.12"), runtime, app)


def test_a_deeply_nested_layer_config_is_a_clear_error(python_for, tmp_path):
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    (app / LAYER_CONFIG).write_text("[" * 100_000 + "]" * 100_000)
    stderr = _refused(python_for("3.12"), runtime, app)
    assert "nested more than 64 levels deep" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize("python", ["../cpython-3.12/bin/python", "bin/../../cpython-3.12/bin/x"])
def test_deploy_refuses_an_interpreter_outside_the_layer_before_placing_it(
    python_for, tmp_path, python
):
    _runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    _config(app, python=python)
    with pytest.raises(DeployError, match="lies outside the layer"):
        configure_in_advance(app, app, what="layer 'app-x'", error=DeployError)
