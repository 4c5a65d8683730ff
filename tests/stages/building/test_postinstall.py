"""postinstall.py on synthetic deployments, run by every local Python 3 (it must run on any)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from envstacks._injected import postinstall
from envstacks.published.layer_config import BYTECODE_RECORD, LAYER_CONFIG, SCRIPTS_CONFIG
from envstacks.stages.building.staging import postinstall_script

ANY_PYTHON = ["3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def make_layer(root: Path, name: str, config: dict[str, object]) -> Path:
    layer = root / name
    (layer / LAYER_CONFIG).parent.mkdir(parents=True)
    (layer / LAYER_CONFIG).write_text(json.dumps(config))
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
    (app / site / "appmod.py").write_text(APPMOD)
    (app / "bin").mkdir()
    (app / "bin" / "python").symlink_to("../../cpython-3.12/bin/python")
    (app / SCRIPTS_CONFIG).write_text(
        json.dumps(
            {
                "console_scripts": {"hello": "appmod:cli.main [extra]"},
                "gui_scripts": {"hello-gui": "appmod:gui"},
            }
        )
    )
    return runtime, app


APPMOD = """\
import sys


class cli:
    @staticmethod
    def main():
        print("hello", sys.argv[0].rsplit("/", 1)[-1], *sys.argv[1:], "from", sys.prefix)
        return 3


def gui():
    print("gui")
"""


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
    # pyc files are for the layer's runtime, whoever ran the script: unchecked-hash ones
    # naming the module by its path in the layer.
    site = app / "lib" / "python3.12" / "site-packages"
    assert [p.name for p in (site / "__pycache__").iterdir()] == ["appmod.cpython-312.pyc"]
    stdlib = runtime / "lib" / "python3.12" / "__pycache__"
    assert [p.name for p in stdlib.iterdir()] == ["stdmod.cpython-312.pyc"]
    pyc = (site / "__pycache__" / "appmod.cpython-312.pyc").read_bytes()
    assert pyc[4:8] == b"\x01\x00\x00\x00"
    assert b"lib/python3.12/site-packages/appmod.py" in pyc
    assert str(tmp_path).encode() not in pyc
    # Console scripts: launchers running the layer's interpreter.
    hello = subprocess.run(
        [app / "bin" / "hello", "a b"], capture_output=True, text=True, check=False
    )
    assert (hello.returncode, hello.stdout) == (3, f"hello hello a b from {app}\n"), hello.stderr
    assert os.access(app / "bin" / "hello-gui", os.X_OK)


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
    config = json.loads((app / LAYER_CONFIG).read_text())
    config[key] = value
    (app / LAYER_CONFIG).write_text(json.dumps(config))
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


def test_only_missing_modules_are_compiled(python_for, tmp_path: Path) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    site = app / "lib" / "python3.12" / "site-packages"
    (site / "other.py").write_text("Y = 2\n")
    assert run(python_for("3.12"), runtime).returncode == 0
    assert run(python_for("3.12"), app).returncode == 0
    shipped = site / "__pycache__" / "appmod.cpython-312.pyc"
    before = shipped.stat()
    (site / "__pycache__" / "other.cpython-312.pyc").unlink()  # e.g. a regenerated module
    assert run(python_for("3.13"), app).returncode == 0
    assert (site / "__pycache__" / "other.cpython-312.pyc").is_file()
    after = shipped.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_pyc_files_of_another_python_are_replaced(python_for, tmp_path: Path) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    cache = app / "lib" / "python3.12" / "site-packages" / "__pycache__"
    cache.mkdir()
    (cache / "appmod.cpython-312.pyc").write_bytes(b"\0\0\0\0" + b"\0" * 12)  # foreign magic
    assert run(python_for("3.12"), runtime).returncode == 0
    assert run(python_for("3.12"), app).returncode == 0
    pyc = (cache / "appmod.cpython-312.pyc").read_bytes()
    assert pyc[:4] == subprocess.check_output(
        [
            python_for("3.12"),
            "-c",
            "import importlib.util,sys; sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)",
        ]
    )


def test_launchers_keep_working_after_a_move(python_for, tmp_path: Path) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    for layer in (runtime, app):
        assert run(python_for("3.11"), layer).returncode == 0
    text = (app / "bin" / "hello").read_text()
    assert str(tmp_path) not in text  # found relative to the launcher itself
    moved = Path(shutil.move(tmp_path / "deploy", tmp_path / "moved"))
    for layer in ("cpython-3.12", "app-x"):
        assert run(python_for("3.11"), moved / layer).returncode == 0
    assert (moved / "app-x" / "bin" / "hello").read_text() == text  # unchanged: not rewritten
    link = tmp_path / "on-path" / "hello"
    link.parent.mkdir()
    link.symlink_to(moved / "app-x" / "bin" / "hello")
    out = subprocess.run([link], capture_output=True, text=True, check=False)
    assert (out.returncode, out.stdout) == (3, f"hello hello from {moved / 'app-x'}\n"), out.stderr


@pytest.mark.parametrize(
    ("scripts", "message"),
    [
        ({"console_scripts": {"python3": "appmod:gui"}}, "cannot name a script in bin/"),
        ({"console_scripts": {"../x": "appmod:gui"}}, "cannot name a script in bin/"),
        ({"console_scripts": {"x": "appmod"}}, "a reference of the form 'module:object'"),
        # Code injection through the entry point's text (issue 20, class 4): a newline inside
        # the extras brackets, a quote, a keyword: refused before any launcher is written.
        (
            {"console_scripts": {"x": "appmod:main [a\nimport os; os.system('id')\n]"}},
            "a reference of the form 'module:object'",
        ),
        ({"console_scripts": {"x": "appmod:main\nimport os"}}, "'module:object'"),
        ({"console_scripts": {"x": "appmod:main [x'y]"}}, "'module:object'"),
        ({"console_scripts": {"x": "import:main"}}, "'module:object'"),
        ({"gui_scripts": ["x"]}, "'gui_scripts' is not a table of strings"),
    ],
)
def test_bad_scripts_configs_are_refused(scripts, message, python_for, tmp_path: Path) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    (app / SCRIPTS_CONFIG).write_text(json.dumps(scripts))
    assert run(python_for("3.12"), runtime).returncode == 0
    result = run(python_for("3.12"), app)
    assert result.returncode == 1
    assert message in result.stderr


def _record(layer: Path, python: Path, *, compile: list[str], tag: str | None = None) -> None:
    facts = subprocess.check_output(
        [
            python,
            "-c",
            "import sys, importlib.util as u; "
            "print(sys.implementation.cache_tag, u.MAGIC_NUMBER.hex())",
        ],
        text=True,
    ).split()
    record = {"cache_tag": tag or facts[0], "magic": facts[1], "compile": compile}
    (layer / BYTECODE_RECORD).write_text(json.dumps(record))


def test_a_bytecode_record_limits_compiling_to_the_modules_it_lists(
    python_for, tmp_path: Path
) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    site = app / "lib" / "python3.12" / "site-packages"
    (site / "listed.py").write_text("Z = 3\n")
    _record(app, python_for("3.12"), compile=["lib/python3.12/site-packages/listed.py"])
    _record(runtime, python_for("3.12"), compile=[])
    for layer in (runtime, app):
        assert run(python_for("3.12"), layer).returncode == 0
    # Shipped precompiled: only the listed module is compiled, nothing else is looked at.
    assert sorted(p.name for p in (site / "__pycache__").iterdir()) == ["listed.cpython-312.pyc"]
    # The runtime's own record (run by another Python): nothing to compile, no interpreter run.
    assert run(python_for("3.11"), runtime).returncode == 0
    assert not (runtime / "lib" / "python3.12" / "__pycache__").exists()


def test_a_record_of_another_interpreter_means_every_module_is_checked(
    python_for, tmp_path: Path
) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    _record(app, python_for("3.12"), compile=[], tag="cpython-399")
    assert run(python_for("3.12"), runtime).returncode == 0
    assert run(python_for("3.12"), app).returncode == 0
    cache = app / "lib" / "python3.12" / "site-packages" / "__pycache__"
    assert [p.name for p in cache.iterdir()] == ["appmod.cpython-312.pyc"]


def test_a_record_listing_a_module_outside_the_layer_is_refused(python_for, tmp_path: Path) -> None:
    runtime, app = deployment(tmp_path / "deploy", python_for("3.12"))
    _record(app, python_for("3.12"), compile=["../cpython-3.12/lib/python3.12/stdmod.py"])
    assert run(python_for("3.12"), runtime).returncode == 0
    result = run(python_for("3.12"), app)
    assert result.returncode == 1
    assert "lies outside the layer" in result.stderr
