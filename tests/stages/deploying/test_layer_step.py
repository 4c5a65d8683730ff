"""A layer's own post-install step (``postinstall_script``), on a really built and published stack.

Stack (offline, no packages): runtime ``cpython-3.12`` (a local CPython) -> ``framework-base``
(with a step) -> ``app-stepper`` (with a step). Each step records how it was run into its
layer (argument, ``ENVSTACKS_LAYER_PATH``, ``sys.prefix``, what it could import) and prints
two lines; ``STEP_FAIL`` and ``STEP_SLEEP`` in the environment (which a step inherits) make
the application's step fail or hang, so one build serves every case. Deploy and local-export
go through the real CLI, for its exit status and messages.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.building.build_record import build_inputs
from envstacks.stages.locking import LockOptions, lock_states
from envstacks.stages.packing.publisher import PublishOptions, publish_layers
from envstacks.stages.stackspec import load

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux")

SPEC = """\
[project]
name = "step-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "base"
runtime = "cpython-3.12"
requirements = []
postinstall_script = "steps/base_step.py"

[[tool.venvstacks.applications]]
name = "stepper"
frameworks = ["base"]
launch_module = "stepper.py"
support_modules = ["helper.py"]
requirements = []
postinstall_script = "steps/app_step.py"
"""

STEP = """\
import json, os, sys, time
from pathlib import Path

layer = Path(sys.argv[1])
if os.environ.get("STEP_SLEEP") and layer.name.startswith("app-"):
    time.sleep(float(os.environ["STEP_SLEEP"]))
try:
    import helper
    helper_found = helper.__file__
except ImportError:
    helper_found = None
(layer / "step-ran.json").write_text(json.dumps({
    "argv": sys.argv[1:],
    "env": os.environ.get("ENVSTACKS_LAYER_PATH"),
    "prefix": sys.prefix,
    "cwd": os.getcwd(),
    "helper": helper_found,
}))
print(f"preparing {layer.name}")
print("a warning on stderr", file=sys.stderr)
if os.environ.get("STEP_FAIL") and layer.name.startswith("app-"):
    sys.exit(3)
"""

LAYERS = ("cpython-3.12", "framework-base", "app-stepper")


@pytest.fixture(scope="module")
def published(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The stack's project (locked and built) and its publish folder."""
    root = tmp_path_factory.mktemp("steps")
    (root / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (root / "stepper.py").write_text("print('stepper')\n", encoding="utf-8")
    (root / "helper.py").write_text("", encoding="utf-8")
    (root / "steps").mkdir()
    for name in ("base_step.py", "app_step.py"):
        (root / "steps" / name).write_text(STEP, encoding="utf-8")
    spec = load(root / "pyproject.toml")
    reporter = RecordingReporter()
    kit.lock_stack(spec, reporter, options=LockOptions(index=False))
    kit.build_stack(spec, reporter)
    output = root / "dist"
    publish_layers(
        spec,
        spec.enabled_layers,
        PublishOptions(output_dir=output, format_name="tar.zst"),
        lock_states=lock_states(spec),
        pm=get_plugin_manager(load_entrypoints=False),
        reporter=reporter,
    )
    return root, output


def _ran(layer: Path) -> dict[str, object] | None:
    marker = layer / "step-ran.json"
    return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None


def _assert_step_failed(err: str, what: str) -> None:
    """The error names the layer, the script and its exit status, and repeats its output."""
    assert (
        f"{what}: its postinstall_script app_step.py "
        "(share/venv/postinstall/app_step.py) failed with exit status 3" in err
    )
    assert "  preparing app-stepper" in err  # its last lines, in the error
    assert "Traceback" not in err


def test_deploy_runs_each_layer_step_with_its_own_interpreter(
    published: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _root, output = published
    target = tmp_path / "deployed"
    assert main(["deploy", str(output), "--target", str(target)]) == 0
    err = capsys.readouterr().err
    for name in LAYERS[1:]:
        ran = _ran(target / name)
        assert ran is not None, name
        assert ran["argv"] == [str(target / name)]
        assert ran["env"] == str(target / name)
        assert ran["cwd"] == str(target / name)
        assert ran["prefix"] == str(target / name)  # the layer's own interpreter
        assert f"{name}: preparing {name}" in err
        assert f"{name}: a warning on stderr" in err
    # The application's step imports what the layer ships (its support module).
    assert _ran(target / "app-stepper")["helper"] == str(  # type: ignore[index]
        target / "app-stepper" / "lib" / "python3.12" / "site-packages" / "helper.py"
    )
    assert _ran(target / "cpython-3.12") is None  # runtimes have no step


def test_no_postinstall_runs_no_step(
    published: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, output = published
    target = tmp_path / "deployed"
    assert main(["deploy", str(output), "--target", str(target), "--no-postinstall"]) == 0
    assert all(_ran(target / name) is None for name in LAYERS)
    exported = tmp_path / "exported"
    argv = ["local-export", str(root / "pyproject.toml"), "--output-dir", str(exported)]
    assert main([*argv, "--no-postinstall"]) == 0
    assert all(_ran(exported / name) is None for name in LAYERS)
    assert "preparing" not in capsys.readouterr().err
    # Without the flag, local-export runs each step in the exported layer.
    assert main([*argv, "--force"]) == 0
    assert _ran(exported / "app-stepper")["argv"] == [str(exported / "app-stepper")]  # type: ignore[index]
    assert _ran(exported / "framework-base") is not None


def test_a_failing_step_is_a_clear_error_and_the_next_deploy_repairs(
    published: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _root, output = published
    target = tmp_path / "deployed"
    monkeypatch.setenv("STEP_FAIL", "1")
    assert main(["deploy", str(output), "--target", str(target)]) == 1
    _assert_step_failed(capsys.readouterr().err, "layer 'app-stepper'")
    # The layer is not left in place, nor recorded; the layers below it are deployed.
    assert not (target / "app-stepper").exists()
    record = json.loads((target / "__venvstacks__" / "deployed.json").read_text())
    assert "app-stepper" not in json.dumps(record)
    assert _ran(target / "framework-base") is not None
    monkeypatch.delenv("STEP_FAIL")
    assert main(["deploy", str(output), "--target", str(target)]) == 0
    assert _ran(target / "app-stepper") is not None


def test_a_failing_step_keeps_the_previous_export(
    published: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, _output = published
    exported = tmp_path / "exported"
    argv = ["local-export", str(root / "pyproject.toml"), "--output-dir", str(exported)]
    assert main(argv) == 0
    before = _ran(exported / "app-stepper")
    monkeypatch.setenv("STEP_FAIL", "1")
    assert main([*argv, "--force"]) == 1
    _assert_step_failed(capsys.readouterr().err, f"the exported layer {exported / 'app-stepper'}")
    assert _ran(exported / "app-stepper") == before  # the previous export is back


def test_a_step_out_of_time_is_stopped(
    published: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _root, output = published
    monkeypatch.setenv("STEP_SLEEP", "60")
    monkeypatch.setenv("ENVSTACKS_POSTINSTALL_TIMEOUT", "1")
    assert main(["deploy", str(output), "--target", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err
    assert "app_step.py (share/venv/postinstall/app_step.py) did not finish within 1 s" in err
    assert "ENVSTACKS_POSTINSTALL_TIMEOUT" in err
    monkeypatch.setenv("ENVSTACKS_POSTINSTALL_TIMEOUT", "soon")
    assert main(["deploy", str(output), "--target", str(tmp_path / "t")]) == 1
    err = capsys.readouterr().err
    assert "ENVSTACKS_POSTINSTALL_TIMEOUT='soon': not a number of seconds" in err


def test_the_script_is_a_build_input(published: tuple[Path, Path], tmp_path: Path) -> None:
    root, _output = published
    copy = tmp_path / "project"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("_build", "dist"))
    spec = load(copy / "pyproject.toml")
    app = spec.layer("app-stepper")

    def inputs() -> dict[str, object]:
        return build_inputs(
            spec, app, requirements_hash="h", platform="linux_x86_64", project_wheel=None
        )

    first = inputs()
    assert first["postinstall_script"]["name"] == "app_step.py"  # type: ignore[index]
    (copy / "steps" / "app_step.py").write_text(STEP + "# changed\n", encoding="utf-8")
    assert inputs() != first
    # A layer without a step has no such input (builds made before it stay current).
    base_less = load(copy / "pyproject.toml").layer("cpython-3.12")
    runtime_inputs = build_inputs(
        spec, base_less, requirements_hash="h", platform="linux_x86_64", project_wheel=None
    )
    assert "postinstall_script" not in runtime_inputs
