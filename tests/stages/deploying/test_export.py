"""local-export end to end (offline: wheels made in the test, locked with --local-wheels).

Stack: runtime ``cpython-3.12`` (versioned, no packages) -> ``framework-clib`` (versioned, ships the
shared library ``libdemo.so.1``) -> ``app-useext`` (an extension module linking that library,
plus a pure package). The export must run where it is, keep running after the whole folder
moves and each layer's ``postinstall.py`` is run again by any Python 3, and skip layers that
did not change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.errors import ExportError
from envstacks.floor.report import RecordingReporter
from envstacks.published.layer_config import BYTECODE_RECORD, LAYER_CONFIG
from envstacks.stages.building.staging import stage_layer
from envstacks.stages.deploying import ExportOptions
from envstacks.stages.deploying import local_export as export_module
from envstacks.stages.deploying.local_export import export_layers
from envstacks.stages.locking import LockOptions, lock_states
from envstacks.stages.stackspec import load

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None,
    reason="needs Linux and gcc",
)

SPEC = """\
[project]
name = "export-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]
versioned = true

[[tool.venvstacks.frameworks]]
name = "clib"
runtime = "cpython-3.12"
requirements = ["demo-lib"]
versioned = true

[[tool.venvstacks.applications]]
name = "useext"
frameworks = ["clib"]
launch_module = "useext.py"
requirements = ["demo-ext", "demo-pure"]
"""

APP = """\
import json, sys
import demo_ext, demo_pure
print(json.dumps({"answer": demo_ext.answer(), "pure": demo_pure.__file__, "path": sys.path}))
"""

LAYERS = ("cpython-3.12@1", "framework-clib@1", "app-useext")


@pytest.fixture(scope="module")
def built(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> object:
    python = python_for("3.12")
    root = tmp_path_factory.mktemp("export")
    kit.build_dynlib_wheels(root, python)
    kit.make_wheel(root / "wheels", "demo-pure", "1.0", {"demo_pure/__init__.py": b"X = 1\n"})
    (root / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (root / "useext.py").write_text(APP, encoding="utf-8")
    spec = load(root / "pyproject.toml")
    reporter = RecordingReporter()
    options = LockOptions(index=False, local_wheels=(root / "wheels",))
    kit.lock_stack(spec, reporter, options=options)
    results = kit.build_stack(spec, reporter)
    return kit.Stack(spec=spec, reporter=reporter, results=results)


@pytest.fixture(scope="module")
def exported(built: object) -> tuple[Path, list]:
    output = built.spec.root / "exported"
    results = export_layers(
        built.spec,
        built.spec.enabled_layers,
        ExportOptions(output_dir=output),
        lock_states=lock_states(built.spec),
        reporter=RecordingReporter(),
    )
    return output, results


def run_app(deployment: Path) -> dict:
    out = subprocess.run(
        [deployment / "app-useext" / "bin" / "python", "-m", "useext"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},  # bytecode writing allowed
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_export_folder_layout_and_metadata(exported: tuple[Path, list]) -> None:
    output, results = exported
    assert [(r.install_target, r.exported) for r in results] == [(n, True) for n in LAYERS]
    assert sorted(p.name for p in output.iterdir()) == sorted([*LAYERS, "__venvstacks__"])
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    layers = manifest["layers"]
    assert [m["install_target"] for m in layers["runtimes"]] == ["cpython-3.12@1"]
    assert [m["install_target"] for m in layers["frameworks"]] == ["framework-clib@1"]
    assert [m["install_target"] for m in layers["applications"]] == ["app-useext"]
    app = json.loads((output / "__venvstacks__" / "env_metadata" / "app-useext.json").read_text())
    assert app["required_layers"] == ["framework-clib@1"]
    assert app["runtime_layer"] == "cpython-3.12@1"
    assert app["app_launch_module"] == "useext"
    assert not [key for key in app if key.startswith("archive_") or key == "target_platform"]
    cfg = (output / "app-useext" / "pyvenv.cfg").read_text()
    assert f"home = {output / 'cpython-3.12@1' / 'bin'}\n" in cfg
    assert not (output / "cpython-3.12@1" / "pyvenv.cfg").exists()


def test_exported_app_runs_with_deployed_names(
    exported: tuple[Path, list], built: object, kit: ModuleType
) -> None:
    output, _ = exported
    state = kit.tree_state(output)
    report = run_app(output)  # the first run: the export shipped every pyc it needs
    assert kit.tree_state(output) == state
    assert report["answer"] == 42
    assert Path(report["pure"]).is_relative_to(output / "app-useext")
    build_dir = str(built.spec.settings.build_dir)
    assert not [entry for entry in report["path"] if entry.startswith(build_dir)]
    wrapper = (output / "app-useext" / "bin" / "python").read_text()
    assert "framework-clib@1/share/venv/dynlib" in wrapper
    assert "cpython-3.12@1/share/venv/dynlib" in wrapper
    assert (
        os.readlink(output / "app-useext" / "bin" / "python_") == "../../cpython-3.12@1/bin/python"
    )
    config = json.loads((output / "app-useext" / LAYER_CONFIG).read_text())
    assert config["pylib_dirs"][0] == "../framework-clib@1/lib/python3.12/site-packages"


def test_exported_files_are_hard_links_to_the_build(
    exported: tuple[Path, list], built: object
) -> None:
    output, _ = exported
    relative = Path("lib/python3.12/site-packages/demo_lib/libdemo.so.1")
    built_lib = built.env("framework-clib") / relative
    assert (output / "framework-clib@1" / relative).stat().st_ino == built_lib.stat().st_ino
    pyc = Path("lib/python3.12/site-packages/demo_pure/__pycache__/__init__.cpython-312.pyc")
    assert (output / "app-useext" / pyc).stat().st_ino == (
        built.env("app-useext") / pyc
    ).stat().st_ino


def test_exported_app_writes_no_bytecode_even_read_only(
    exported: tuple[Path, list], kit: ModuleType
) -> None:
    output, _ = exported
    state = kit.tree_state(output)
    python = output / "app-useext" / "bin" / "python"
    ran = kit.run_app_writing_no_bytecode(python, "useext", read_only=output)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["answer"] == 42
    assert kit.tree_state(output) == state


def test_staged_tree_is_clean(built: object, kit: ModuleType, tmp_path: Path) -> None:
    targets = {name: s.install_target for name, s in lock_states(built.spec).items()}
    for layer in built.spec.enabled_layers:
        staged = stage_layer(
            built.spec,
            layer,
            built.env(layer.build_name),
            tmp_path / layer.build_name,
            install_targets=targets,
        )
        assert (staged / "postinstall.py").is_file()
        assert not (staged / "pyvenv.cfg").exists()
        # Precompiled (the default): one unchecked-hash pyc per kept module, none for the
        # regenerated chaining module (postinstall compiles it where it is deployed).
        pycs = list(staged.rglob("*.pyc"))
        assert pycs
        for pyc in pycs:
            stem = pyc.name.split(".")[0]
            assert (pyc.parent.parent / f"{stem}.py").is_file(), pyc
            assert pyc.name.endswith(".cpython-312.pyc"), pyc
            assert pyc.read_bytes()[4:8] == b"\x01\x00\x00\x00", pyc  # PEP 552 unchecked-hash
        assert not list(staged.rglob("_envstacks_layers.*.pyc"))
        record = json.loads((staged / BYTECODE_RECORD).read_text())
        assert record["cache_tag"] == "cpython-312"
        chain = ["lib/python3.12/site-packages/_envstacks_layers.py"]
        assert record["compile"] == ([] if layer.build_name == "cpython-3.12" else chain)
        assert not [p for p in staged.iterdir() if p.name.startswith(".")]
        build_dir = os.fsencode(built.spec.settings.build_dir)
        assert kit.files_containing(staged, build_dir) == []
        assert kit.files_containing(staged, os.fsencode(built.spec.root)) == []


def test_unchanged_layers_are_not_exported_again(
    exported: tuple[Path, list], built: object
) -> None:
    output, _ = exported
    reporter = RecordingReporter()
    again = export_layers(
        built.spec,
        built.spec.enabled_layers,
        ExportOptions(output_dir=output),
        lock_states=lock_states(built.spec),
        reporter=reporter,
    )
    assert [r.exported for r in again] == [False, False, False]
    forced = export_layers(
        built.spec,
        built.spec.layers[2:],
        ExportOptions(output_dir=output, force=True),
        lock_states=lock_states(built.spec),
        reporter=reporter,
    )
    assert [(r.layer, r.exported) for r in forced] == [("app-useext", True)]
    assert run_app(output)["answer"] == 42


def test_moved_export_runs_after_postinstall_with_any_python(
    exported: tuple[Path, list], python_for, tmp_path: Path
) -> None:
    output, _ = exported
    location = output
    for version in ("3.11", "3.13", "3.12"):
        interpreter = python_for(version)
        moved = tmp_path / f"moved-with-{version}"
        shutil.move(location, moved)
        location = moved
        for name in LAYERS:  # runtime first
            subprocess.run(
                [interpreter, "-X", "utf8", "-I", location / name / "postinstall.py"],
                check=True,
                capture_output=True,
                text=True,
            )
        report = run_app(location)
        assert report["answer"] == 42
        assert all(entry.startswith(str(location)) for entry in report["path"][1:])
        cfg = (location / "app-useext" / "pyvenv.cfg").read_text()
        assert f"executable = {location / 'cpython-3.12@1' / 'bin' / 'python'}\n" in cfg
    # Running it again changes nothing.
    before = (location / "app-useext" / "pyvenv.cfg").stat().st_mtime_ns
    subprocess.run([sys.executable, location / "app-useext" / "postinstall.py"], check=True)
    assert (location / "app-useext" / "pyvenv.cfg").stat().st_mtime_ns == before
    shutil.move(location, output)


def test_export_needs_its_lower_layers(built: object, tmp_path: Path) -> None:
    app = built.spec.layer("app-useext")
    with pytest.raises(ExportError) as caught:
        export_layers(
            built.spec,
            [app],
            ExportOptions(output_dir=tmp_path / "only-app"),
            lock_states=lock_states(built.spec),
            reporter=RecordingReporter(),
        )
    assert "framework-clib@1" in caught.value.message
    assert "cpython-3.12@1" in caught.value.message


def test_failed_postinstall_puts_the_previous_export_back(
    exported: tuple[Path, list], built: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    output, _ = exported
    app = output / "app-useext"
    inode = (app / "pyvenv.cfg").stat().st_ino

    def failing(layer_dir: Path, **kwargs: object) -> None:
        # The new copy, already configured before its rename (its own pyvenv.cfg).
        assert layer_dir == app and (app / "pyvenv.cfg").stat().st_ino != inode
        raise ExportError("postinstall failed on purpose")

    monkeypatch.setattr(export_module, "run_postinstall", failing)
    with pytest.raises(ExportError, match="on purpose"):
        export_layers(
            built.spec,
            built.spec.layers[2:],
            ExportOptions(output_dir=output, force=True),
            lock_states=lock_states(built.spec),
            reporter=RecordingReporter(),
        )
    assert (app / "pyvenv.cfg").stat().st_ino == inode  # the previous export, as it was
    assert not [p for p in output.iterdir() if p.name.startswith(".envstacks")]
    monkeypatch.undo()
    again = export_layers(
        built.spec,
        built.spec.layers[2:],
        ExportOptions(output_dir=output),
        lock_states=lock_states(built.spec),
        reporter=RecordingReporter(),
    )
    assert [r.exported for r in again] == [True]  # its metadata was removed: redone
    assert run_app(output)["answer"] == 42


def test_deploying_an_export_says_what_it_is_and_what_to_deploy(
    exported: tuple[Path, list], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from envstacks.frontends.cli import main

    output, _ = exported
    assert main(["deploy", str(output), "--target", str(tmp_path / "target")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: deploy source {output} is a local export (made by `envstacks local-export`), "
        f"not a publish output: its layers are already unpacked and ready to run in {output}, "
        "and it holds no archives to deploy\n"
        "hint: to install the layers in another folder, publish them (`envstacks publish "
        "--output-dir DIR`) and deploy that folder; to move an export instead, move the folder "
        "and rerun each layer's postinstall.py, runtime first\n"
    )
    # Nothing was deployed (the folder holds at most deploy's own bookkeeping).
    assert not [p for p in (tmp_path / "target").glob("*") if p.name != "__venvstacks__"]
