"""End to end: lock and build runtime -> framework -> framework -> app with real uv and PyPI.

The stack (tiny pure packages, so it is quick):

* runtime ``cpython-3.12`` (local provider) with ``six``;
* ``framework-base`` (versioned) with ``idna``;
* ``framework-top`` on ``base`` with ``attrs`` and ``wheel`` (which has a console script);
* ``app-hello`` on ``top`` with ``iniconfig`` of its own (and the others, from lower layers).

The tests share one build (module scope) and run in file order; each leaves the stack built.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.errors import BuildError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.layer_config import BYTECODE_RECORD, LAYER_CONFIG
from envstacks.stages.building import BuildOptions, needs_build
from envstacks.stages.building.chain import CHAIN_MODULE, CHAIN_PTH
from envstacks.stages.building.staging import stage_layer
from envstacks.stages.locking import lock_states
from envstacks.stages.stackspec import load

pytestmark = pytest.mark.network

SPEC = """\
[project]
name = "layered-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = ["six"]
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "base"
runtime = "cpython-3.12"
requirements = ["idna"]
versioned = true

[[tool.venvstacks.frameworks]]
name = "top"
frameworks = ["base"]
requirements = ["attrs", "wheel"]

[[tool.venvstacks.applications]]
name = "hello"
frameworks = ["top"]
launch_module = "hello.py"
requirements = [{app_requirements}]
"""

HELLO = """\
import json, sys
import attrs, idna, iniconfig, six
print(json.dumps({
    "files": {m.__name__: m.__file__ for m in (attrs, idna, iniconfig, six)},
    "path": sys.path,
    "executable": sys.executable,
}))
"""


def write_spec(root: Path, app_requirements: str) -> Path:
    path = root / "pyproject.toml"
    path.write_text(SPEC.format(app_requirements=app_requirements), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> object:
    python_for("3.12")  # skip early where no local 3.12 exists
    root = tmp_path_factory.mktemp("layered")
    (root / "hello.py").write_text(HELLO, encoding="utf-8")
    spec = load(write_spec(root, '"attrs", "idna", "iniconfig", "six"'))
    reporter = RecordingReporter()
    kit.lock_stack(spec, reporter)
    results = kit.build_stack(spec, reporter)
    return kit.Stack(spec=spec, reporter=reporter, results=results)


def run_app(stack: object, *args: str) -> subprocess.CompletedProcess[str]:
    python = stack.env("app-hello") / "bin" / "python"
    return subprocess.run(
        [python, *args], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}
    )


def site(stack: object, name: str) -> Path:
    return stack.env(name) / "lib" / "python3.12" / "site-packages"


def test_every_layer_was_built(stack: object) -> None:
    assert [(r.layer, r.built, r.action) for r in stack.results] == [
        ("cpython-3.12", True, "clean"),
        ("framework-base", True, "clean"),
        ("framework-top", True, "clean"),
        ("app-hello", True, "clean"),
    ]
    # The runtime the lock step provisioned was kept, not copied a second time.
    assert any("keeping the runtime already provisioned" in t for t in stack.reporter.texts())


def test_packages_come_from_their_layers_in_sys_path_order(stack: object) -> None:
    report = json.loads(run_app(stack, "-m", "hello").stdout)
    files = {name: Path(path) for name, path in report["files"].items()}
    assert files["six"].is_relative_to(site(stack, "cpython-3.12"))
    assert files["idna"].is_relative_to(site(stack, "framework-base"))
    assert files["attrs"].is_relative_to(site(stack, "framework-top"))
    assert files["iniconfig"].is_relative_to(site(stack, "app-hello"))
    path = [os.path.realpath(entry) for entry in report["path"]]
    order = [
        os.path.realpath(site(stack, name))
        for name in ("app-hello", "framework-top", "framework-base", "cpython-3.12")
    ]
    positions = [path.index(entry) for entry in order]
    assert positions == sorted(positions)
    stdlib = os.path.realpath(stack.env("cpython-3.12") / "lib" / "python3.12")
    assert path.index(stdlib) < positions[0]
    assert report["executable"] == str(stack.env("app-hello") / "bin" / "python")


def test_lower_layer_packages_are_not_installed_again(stack: object) -> None:
    app = sorted(p.name.split("-")[0] for p in site(stack, "app-hello").glob("*.dist-info"))
    assert app == ["iniconfig"]
    top = sorted(p.name.split("-")[0] for p in site(stack, "framework-top").glob("*.dist-info"))
    assert top == ["attrs", "packaging", "wheel"]  # wheel needs packaging


def test_layer_config_and_chaining_files(stack: object) -> None:
    app = stack.env("app-hello")
    config = json.loads((app / LAYER_CONFIG).read_text())
    assert config == {
        "base_python": "../cpython-3.12/bin/python",
        "dynlib_dirs": [
            "../framework-top/share/venv/dynlib",
            "../framework-base/share/venv/dynlib",
            "../cpython-3.12/share/venv/dynlib",
        ],
        "launch_module": "hello",
        "py_version": config["py_version"],
        "pylib_dirs": [
            "../framework-top/lib/python3.12/site-packages",
            "../framework-base/lib/python3.12/site-packages",
            "../cpython-3.12/lib/python3.12/site-packages",
        ],
        "python": "bin/python",
        "site_dir": "lib/python3.12/site-packages",
    }
    assert config["py_version"].startswith("3.12.")
    runtime = json.loads((stack.env("cpython-3.12") / LAYER_CONFIG).read_text())
    assert runtime["python"] == runtime["base_python"] == "bin/python"
    assert runtime["pylib_dirs"] == [] and "launch_module" not in runtime
    assert (site(stack, "app-hello") / CHAIN_PTH).read_text() == f"import {CHAIN_MODULE}\n"
    assert not (site(stack, "app-hello") / "sitecustomize.py").exists()


def test_portability_clean_up(stack: object, kit: ModuleType) -> None:
    for name in ("cpython-3.12", "framework-base", "framework-top", "app-hello"):
        env = stack.env(name)
        extra = [p.name for p in (env / "bin").iterdir() if not p.name.startswith("python")]
        assert extra == [], name
        assert not [p for p in (env / "bin").iterdir() if p.is_dir() and not p.is_symlink()]
        assert kit.record_problems(site(stack, name)) == [], name
        for folder, dirs, files in os.walk(env):
            for entry in [*dirs, *files]:
                path = Path(folder, entry)
                if path.is_symlink():
                    assert not os.path.isabs(os.readlink(path)), path
                    assert path.exists(), f"dangling {path}"
    # Every venv had activate scripts and wheel installed its console script: all gone, and
    # wheel's RECORD no longer lists the script.
    assert not list(stack.env("framework-top").glob("bin/activate*"))
    assert not (stack.env("framework-top") / "bin" / "wheel").exists()
    (record,) = site(stack, "framework-top").glob("wheel-*.dist-info/RECORD")
    assert "bin/wheel" not in record.read_text()
    assert "wheel/__init__.py" in record.read_text()


def test_staged_layers_hold_no_build_paths(stack: object, kit: ModuleType, tmp_path: Path) -> None:
    targets = {name: s.install_target for name, s in lock_states(stack.spec).items()}
    assert targets["framework-base"] == "framework-base@1"
    for layer in stack.spec.enabled_layers:
        staged = stage_layer(
            stack.spec,
            layer,
            stack.env(layer.build_name),
            tmp_path / layer.build_name,
            install_targets=targets,
        )
        build_dir = os.fsencode(stack.spec.settings.build_dir)
        assert kit.files_containing(staged, build_dir) == [], layer.build_name
        assert not (staged / "pyvenv.cfg").exists()
        # Precompiled (the default); the regenerated chaining module keeps the built pyc only
        # where staging wrote the very text the build compiled (never a stale pyc).
        assert list(staged.rglob("*.cpython-312.pyc"))
        for pyc in staged.rglob(f"{CHAIN_MODULE}.*.pyc"):
            source = pyc.parent.parent / f"{CHAIN_MODULE}.py"
            built = stack.env(layer.build_name) / source.relative_to(staged)
            assert source.read_bytes() == built.read_bytes(), layer.build_name
            assert pyc.read_bytes() == (built.parent / "__pycache__" / pyc.name).read_bytes()
    site_dir = "lib/python3.12/site-packages"
    chain = tmp_path / "app-hello" / site_dir / f"{CHAIN_MODULE}.py"
    assert "framework-base@1/lib/python3.12/site-packages" in chain.read_text()
    assert "framework-base/" not in chain.read_text()
    # app-hello's chain names framework-base@1, not the build name: postinstall compiles it.
    assert not list((tmp_path / "app-hello").rglob(f"{CHAIN_MODULE}.*.pyc"))
    record = json.loads((tmp_path / "app-hello" / BYTECODE_RECORD).read_text())
    assert record["compile"] == [f"{site_dir}/{CHAIN_MODULE}.py"]
    # framework-base's chain names only the runtime, whose name did not change: shipped.
    assert list((tmp_path / "framework-base").rglob(f"{CHAIN_MODULE}.*.pyc"))


def test_rebuild_with_nothing_changed_does_nothing(stack: object, kit: ModuleType) -> None:
    reporter = RecordingReporter()
    before = {p: p.stat().st_mtime_ns for p in stack.env("app-hello").rglob("*") if p.is_file()}
    results = kit.build_stack(stack.spec, reporter, requested=True)
    assert [r.built for r in results] == [False] * 4
    assert kit.uv_calls(reporter) == []
    assert not [t for t in reporter.texts("debug") if "uv" in t and t.startswith("$")]
    after = {p: p.stat().st_mtime_ns for p in stack.env("app-hello").rglob("*") if p.is_file()}
    assert after == before
    for layer in stack.spec.enabled_layers:
        state = lock_states(stack.spec)[layer.build_name]
        assert needs_build(stack.spec, layer, state) == (False, "up to date")


def test_run_repairs_a_hand_modified_environment(stack: object, kit: ModuleType) -> None:
    target = site(stack, "framework-top")
    for path in target.glob("attrs*"):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    reporter = RecordingReporter()
    # "if needed" trusts the build record ...
    results = kit.build_stack(stack.spec, reporter, requested=False, names=["framework-top"])
    assert [r.built for r in results] == [False]
    # ... "run" checks the environment against its lock and syncs it.
    results = kit.build_stack(stack.spec, reporter, requested=True, names=["framework-top"])
    assert [(r.built, r.action) for r in results] == [(True, "update")]
    assert "attrs" in results[0].reason and "not installed" in results[0].reason
    assert len(kit.uv_calls(reporter)) == 1
    assert list(target.glob("attrs-*.dist-info"))


def test_run_repairs_stale_links(stack: object, kit: ModuleType) -> None:
    kit.build_stack(stack.spec, RecordingReporter(), requested=False)  # relink after the repair
    app = stack.env("app-hello")
    cfg = app / "pyvenv.cfg"
    good = cfg.read_text()
    cfg.write_text(good.replace(str(stack.spec.settings.build_dir), "/old/build/folder"))
    (app / "bin" / "python_").unlink()
    reporter = RecordingReporter()
    results = kit.build_stack(stack.spec, reporter, requested=True, names=["app-hello"])
    assert [r.action for r in results] == ["update"]
    assert "pyvenv.cfg is not the one envstacks wrote" in results[0].reason
    assert cfg.read_text() == good
    assert json.loads(run_app(stack, "-m", "hello").stdout)["files"]["six"]


def test_rebuilt_lower_layer_relinks_upper_layers(stack: object, kit: ModuleType) -> None:
    reporter = RecordingReporter()
    base = kit.build_stack(
        stack.spec, reporter, names=["framework-base"], options=BuildOptions(clean=True)
    )
    assert [(r.built, r.action) for r in base] == [(True, "clean")]
    # --clean is for the layers asked for; layers only needed "if needed" are kept.
    kept = kit.build_stack(
        stack.spec,
        reporter,
        requested=False,
        names=["cpython-3.12"],
        options=BuildOptions(clean=True),
    )
    assert [(r.built, r.action) for r in kept] == [(False, "none")]
    reporter = RecordingReporter()
    upper = kit.build_stack(stack.spec, reporter, requested=False)
    assert [(r.layer, r.action) for r in upper] == [
        ("cpython-3.12", "none"),
        ("framework-base", "none"),
        ("framework-top", "relink"),
        ("app-hello", "relink"),
    ]
    assert "'framework-base' rebuilt" in upper[2].reason
    assert kit.uv_calls(reporter) == []
    assert json.loads(run_app(stack, "-m", "hello").stdout)["files"]["idna"]


class FailingCheck:
    """A plugin whose post-build check rejects framework-top."""

    @hookimpl
    def envstacks_check_layer(self, layer: object) -> list[str]:
        return ["top is not acceptable"] if layer.build_name == "framework-top" else []


def test_failed_layer_stops_the_layers_above_it(stack: object, kit: ModuleType) -> None:
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(FailingCheck())
    with pytest.raises(BuildError) as caught:
        kit.build_stack(
            stack.spec,
            RecordingReporter(),
            names=["framework-top", "app-hello"],
            options=BuildOptions(clean=True),
            pm=pm,
        )
    message = caught.value.message
    assert "framework-top" in message and "top is not acceptable" in message
    assert "not built because of the failure: app-hello" in message
    # Nothing is built on top of a layer whose build failed (venvstacks #222).
    with pytest.raises(BuildError) as caught:
        kit.build_stack(stack.spec, RecordingReporter(), names=["app-hello"])
    assert "needs lower layer 'framework-top', which has no complete build" in caught.value.message
    # The failed layer has no record, so the next build starts it from scratch.
    results = kit.build_stack(stack.spec, RecordingReporter(), requested=False)
    assert [(r.layer, r.action) for r in results][2:] == [
        ("framework-top", "clean"),
        ("app-hello", "relink"),
    ]


def test_invalid_lock_is_a_build_error_naming_the_fix(stack: object, kit: ModuleType) -> None:
    stack.spec.spec_path.write_text(
        SPEC.format(app_requirements='"attrs", "idna", "six"'), encoding="utf-8"
    )
    spec = stack.reload()
    with pytest.raises(BuildError) as caught:
        kit.build_stack(spec, RecordingReporter(), names=["app-hello"])
    assert "app-hello" in caught.value.message and "lock" in caught.value.message
    assert "envstacks lock" in (caught.value.hint or "")
    assert "--lock-if-needed" in (caught.value.hint or "")


def test_package_dropped_from_the_lock_leaves_the_layer(stack: object, kit: ModuleType) -> None:
    # Continues the previous test: the spec no longer asks for iniconfig.
    reporter = RecordingReporter()
    kit.lock_stack(stack.spec, reporter, names=["app-hello"])
    results = kit.build_stack(stack.spec, reporter, names=["app-hello"])
    assert [(r.built, r.action) for r in results] == [(True, "update")]
    assert not list(site(stack, "app-hello").glob("iniconfig*"))
    assert [c for c in kit.uv_calls(reporter) if "pip sync" in c]
