"""postinstall.py on synthetic deployments, run by every local Python 3 (it must run on any)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from envstacks import layout
from envstacks._injected import postinstall
from envstacks.build.stage import postinstall_script

ANY_PYTHON = ["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def make_layer(root: Path, name: str, config: dict[str, object]) -> Path:
    layer = root / name
    (layer / layout.LAYER_CONFIG).parent.mkdir(parents=True)
    (layer / layout.LAYER_CONFIG).write_text(json.dumps(config))
    (layer / "lib" / "python3.12" / "site-packages").mkdir(parents=True)
    (layer / "postinstall.py").write_bytes(postinstall_script())
    return layer


def deployment(root: Path, runtime_python: Path) -> tuple[Path, Path]:
    site = "lib/python3.12/site-packages"
    runtime = make_layer(
        root,
        "cpython-3.12",
        {
            "python": "bin/python",
            "base_python": "bin/python",
            "site_dir": site,
            "py_version": "3.12.1",
            "pylib_dirs": [],
            "dynlib_dirs": [],
        },
    )
    (runtime / "bin").mkdir()
    (runtime / "bin" / "python").symlink_to(runtime_python)
    (runtime / "lib" / "python3.12" / "stdmod.py").write_text("X = 1\n")
    app = make_layer(
        root,
        "app-x",
        {
            "python": "bin/python",
            "base_python": "../cpython-3.12/bin/python",
            "site_dir": site,
            "py_version": "3.12.1",
            "pylib_dirs": ["../cpython-3.12/" + site],
            "dynlib_dirs": ["../cpython-3.12/share/venv/dynlib"],
            "launch_module": "appmod",
        },
    )
    (app / site / "appmod.py").write_text("print('hi')\n")
    return runtime, app


def run(python: Path, layer: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-X", "utf8", "-I", layer / "postinstall.py"],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("version", ANY_PYTHON)
def test_any_python_3_makes_the_layers_runnable(version: str, python_for, tmp_path: Path) -> None:
    interpreter = python_for(version)
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    for layer in (runtime, app):
        result = run(interpreter, layer)
        assert result.returncode == 0, result.stderr
    assert (app / "pyvenv.cfg").read_text() == (
        f"home = {runtime / 'bin'}\n"
        "include-system-site-packages = false\n"
        "version = 3.12.1\n"
        f"executable = {runtime / 'bin' / 'python'}\n"
    )
    assert not (runtime / "pyvenv.cfg").exists()
    # pyc files are for the layer's runtime, whoever ran the script.
    site = app / "lib" / "python3.12" / "site-packages"
    assert [p.name for p in (site / "__pycache__").iterdir()] == ["appmod.cpython-312.pyc"]
    stdlib = runtime / "lib" / "python3.12" / "__pycache__"
    assert [p.name for p in stdlib.iterdir()] == ["stdmod.cpython-312.pyc"]


def test_running_again_changes_nothing_and_a_move_is_picked_up(python_for, tmp_path: Path) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    for layer in (runtime, app, app):
        assert run(python_for("3.11"), layer).returncode == 0
    stamp = (app / "pyvenv.cfg").stat().st_mtime_ns
    assert run(python_for("3.11"), app).returncode == 0
    assert (app / "pyvenv.cfg").stat().st_mtime_ns == stamp
    moved = shutil.move(tmp_path / "deploy", tmp_path / "elsewhere")
    result = run(python_for("3.11"), Path(moved) / "app-x")
    assert result.returncode == 0, result.stderr
    assert (
        f"home = {tmp_path / 'elsewhere' / 'cpython-3.12' / 'bin'}\n"
        in (Path(moved) / "app-x" / "pyvenv.cfg").read_text()
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("pylib_dirs", ["../../outside/lib/python3.12/site-packages"], "leaves the deployment"),
        ("base_python", "/usr/bin/python3", "must be relative"),
        ("dynlib_dirs", ["../.."], "leaves the deployment"),
        ("site_dir", 3, "'site_dir' is missing or not a string"),
        ("pylib_dirs", ["../framework-missing/lib/python3.12/site-packages"], "do not exist"),
    ],
)
def test_bad_configs_are_refused_with_the_place_and_the_fix(
    key: str, value: object, message: str, python_for, tmp_path: Path
) -> None:
    _, app = deployment(tmp_path / "deploy", python_for("3.12"))
    config = json.loads((app / layout.LAYER_CONFIG).read_text())
    config[key] = value
    (app / layout.LAYER_CONFIG).write_text(json.dumps(config))
    result = run(python_for("3.11"), app)
    assert result.returncode == 1
    assert result.stderr.startswith("postinstall.py: error: ")
    assert message in result.stderr
    assert not (app / "pyvenv.cfg").exists()


def test_missing_runtime_is_reported(python_for, tmp_path: Path) -> None:
    _, app = deployment(tmp_path / "deploy", python_for("3.12"))
    shutil.rmtree(tmp_path / "deploy" / "cpython-3.12")
    with pytest.raises(
        postinstall.PostInstallError, match="deploy the runtime layer next to this layer"
    ):
        postinstall.postinstall(str(app))
    assert postinstall.main([str(app)]) == 1
    assert postinstall.main(["a", "b"]) == 2
