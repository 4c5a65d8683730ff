"""Shared libraries across layers, with wheels compiled in the test (gcc; no network).

``framework-clib`` installs ``demo-lib``, which ships ``libdemo.so.1`` (a versioned soname,
which venvstacks would not link). ``app-useext`` installs ``demo-ext``, whose extension module
links ``libdemo.so.1`` without an rpath, so it loads only if the app's ``bin/python`` wrapper
puts the framework's ``share/venv/dynlib`` on ``LD_LIBRARY_PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from types import ModuleType

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.published.layer_config import DYNLIB_DIR
from envstacks.stages.locking import LockOptions
from envstacks.stages.stackspec import load

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("gcc") is None,
    reason="needs Linux and gcc",
)

SPEC = """\
[project]
name = "dynlib-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "clib"
runtime = "cpython-3.12"
requirements = ["demo-lib"]

[[tool.venvstacks.applications]]
name = "useext"
frameworks = ["clib"]
launch_module = "useext.py"
requirements = ["demo-ext"]
"""


@pytest.fixture(scope="module")
def stack(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory, python_for) -> object:
    python = python_for("3.12")
    root = tmp_path_factory.mktemp("dynlib")
    kit.build_dynlib_wheels(root, python)
    (root / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (root / "useext.py").write_text("import demo_ext\nprint('answer', demo_ext.answer())\n")
    spec = load(root / "pyproject.toml")
    reporter = RecordingReporter()
    # Offline: the two wheels are the only packages, found through --local-wheels.
    kit.lock_stack(
        spec, reporter, options=LockOptions(index=False, local_wheels=(root / "wheels",))
    )
    results = kit.build_stack(spec, reporter)
    return kit.Stack(spec=spec, reporter=reporter, results=results)


def test_versioned_soname_is_published_by_the_lower_layer(stack: object) -> None:
    dynlib = stack.env("framework-clib") / DYNLIB_DIR
    link = dynlib / "libdemo.so.1"
    assert link.is_symlink()
    assert os.readlink(link) == "../../../lib/python3.12/site-packages/demo_lib/libdemo.so.1"
    assert link.resolve().is_file()
    assert sorted(p.name for p in dynlib.iterdir()) == ["libdemo.so.1"]
    # The app's extension module is a Python extension, not a library to publish.
    assert list((stack.env("app-useext") / DYNLIB_DIR).iterdir()) == []


def test_app_extension_finds_the_library_through_the_wrapper(stack: object) -> None:
    app = stack.env("app-useext")
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [app / "bin" / "python", "-m", "useext"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "answer 42"
    # A value the user set keeps priority: the wrapper appends.
    probe = "import os; print(os.environ['LD_LIBRARY_PATH'])"
    shown = (
        subprocess.run(
            [app / "bin" / "python", "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            env={**env, "LD_LIBRARY_PATH": "/opt/mine"},
        )
        .stdout.strip()
        .split(":")
    )
    assert shown[0] == "/opt/mine"
    assert shown[1:] == [
        str(stack.env("framework-clib") / DYNLIB_DIR),
        str(stack.env("cpython-3.12") / DYNLIB_DIR),
    ]


def test_without_the_wrapper_the_library_is_not_found(stack: object) -> None:
    app = stack.env("app-useext")
    # bin/python_ is the runtime interpreter itself: no LD_LIBRARY_PATH, so the load fails.
    out = subprocess.run(
        ["/bin/bash", "-c", f'exec -a "{app}/bin/python" "{app}/bin/python_" -m useext'],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert out.returncode != 0
    assert "libdemo.so.1" in out.stderr


def test_local_wheel_installs_leave_no_build_paths(stack: object, kit: ModuleType) -> None:
    for name in ("framework-clib", "app-useext"):
        site = stack.env(name) / "lib" / "python3.12" / "site-packages"
        assert not list(site.glob("*.dist-info/uv_cache.json"))
        assert not list(site.glob("*.dist-info/direct_url.json"))
        assert kit.record_problems(site) == []
