"""Console scripts on the target: a real PyPI distribution's launcher after deploy, move, export.

Stack (real uv, PyPI, a local CPython 3.12 made relocatable):

* runtime ``cpython-3.12``;
* ``framework-text`` with ``charset-normalizer`` (a framework exposes no scripts by default);
* ``app-detect`` with ``charset-normalizer`` of its own: its ``normalizer`` script by default;
* ``app-picked`` on ``framework-text``, ``scripts = ["normalizer"]``: a lower layer's script;
* ``app-quiet`` with ``charset-normalizer`` and ``scripts = []``: none.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from envstacks.floor.errors import BuildError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.layer_config import BYTECODE_RECORD, LAYER_CONFIG, SCRIPTS_CONFIG
from envstacks.stages.building.entry_scripts import layer_scripts
from envstacks.stages.deploying import ExportOptions, export_layers
from envstacks.stages.locking import lock_states
from envstacks.stages.packing.publisher import PublishOptions, publish_layers
from envstacks.stages.stackspec import load

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux"),
]

SPEC = """\
[project]
name = "scripts-demo"
version = "0"

[tool.venvstacks]
runtime-provider = "local"

[tool.venvstacks.uv]
exclude-newer = "2025-11-01T00:00:00Z"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []
platforms = ["linux_x86_64"]

[[tool.venvstacks.frameworks]]
name = "text"
runtime = "cpython-3.12"
requirements = ["charset-normalizer"]

[[tool.venvstacks.applications]]
name = "detect"
runtime = "cpython-3.12"
run_module = "charset_normalizer"
requirements = ["charset-normalizer"]

[[tool.venvstacks.applications]]
name = "picked"
frameworks = ["text"]
run_module = "charset_normalizer"
requirements = ["charset-normalizer"]
scripts = ["normalizer"]

[[tool.venvstacks.applications]]
name = "quiet"
runtime = "cpython-3.12"
run_module = "charset_normalizer"
requirements = ["charset-normalizer"]
scripts = []
"""

LAYERS = ("cpython-3.12", "framework-text", "app-detect", "app-picked", "app-quiet")
SAMPLE = "Les naïfs cœurs déçus à l'été: ça, c'est français.\n" * 20


@pytest.fixture(scope="module")
def built(kit: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> object:
    root = tmp_path_factory.mktemp("scripts")
    (root / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    spec = load(root / "pyproject.toml")
    reporter = RecordingReporter()
    kit.lock_stack(spec, reporter)
    return kit.Stack(spec=spec, reporter=reporter, results=kit.build_stack(spec, reporter))


@pytest.fixture(scope="module")
def deployed(built: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = built.spec  # type: ignore[attr-defined]
    work = tmp_path_factory.mktemp("deploy")
    pm = get_plugin_manager(load_entrypoints=False)
    publish_layers(
        spec,
        spec.enabled_layers,
        PublishOptions(output_dir=work / "dist", format_name="tar.zst"),
        pm=pm,
        reporter=RecordingReporter(),
        lock_states=lock_states(spec),
    )
    target = work / "deployed"
    result = deploy(work / "dist", target, pm=pm, reporter=RecordingReporter())
    assert result.installed == LAYERS
    (work / "sample.txt").write_bytes(SAMPLE.encode("utf-8"))
    return target


def normalizer(layer: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [layer / "bin" / "normalizer", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd="/",
        check=False,
    )


def detected(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["encoding"])


def test_build_records_the_scripts_of_each_layer(built: object) -> None:
    records = {
        name: json.loads((built.env(name) / SCRIPTS_CONFIG).read_text())  # type: ignore[attr-defined]
        for name in LAYERS
    }
    assert records["app-detect"]["console_scripts"] == {
        "normalizer": "charset_normalizer.cli:cli_detect"
    }
    assert records["app-picked"] == records["app-detect"]  # taken from the framework below
    assert records["framework-text"] == {"console_scripts": {}, "gui_scripts": {}}
    assert records["app-quiet"] == records["cpython-3.12"] == records["framework-text"]
    assert not (built.env("app-detect") / "bin" / "normalizer").exists()  # type: ignore[attr-defined]


def test_an_unknown_script_is_a_build_error_naming_what_exists(built: object) -> None:
    spec = built.spec  # type: ignore[attr-defined]
    layer = dataclasses.replace(spec.layer("app-picked"), scripts=("normaliser",))
    with pytest.raises(BuildError) as caught:
        layer_scripts(
            spec,
            layer,
            built.env("app-picked"),  # type: ignore[attr-defined]
            py_version="3.12",
            reporter=RecordingReporter(),
        )
    assert "tool.venvstacks.applications[1].scripts" in caught.value.message
    assert "'normaliser'" in caught.value.message
    assert "available: normalizer" in caught.value.message


def test_deployed_scripts_run_with_their_layer(deployed: Path) -> None:
    sample = str(deployed.parent / "sample.txt")
    assert detected(normalizer(deployed / "app-detect", sample)) == "utf_8"
    assert detected(normalizer(deployed / "app-picked", sample)) == "utf_8"
    version = normalizer(deployed / "app-detect", "--version")
    assert version.returncode == 0 and "Charset-Normalizer" in version.stdout, version.stderr
    for layer in ("cpython-3.12", "framework-text", "app-quiet"):
        assert not (deployed / layer / "bin" / "normalizer").exists(), layer
    launcher = (deployed / "app-picked" / "bin" / "normalizer").read_text()
    assert launcher.startswith("#!/bin/sh\n")
    assert "from charset_normalizer.cli import cli_detect" in launcher


def test_scripts_run_after_the_deployment_moves(deployed: Path, tmp_path: Path) -> None:
    moved = Path(shutil.move(deployed, tmp_path / "moved"))
    (tmp_path / "sample.txt").write_bytes(SAMPLE.encode("utf-8"))
    try:
        for name in LAYERS:  # runtime first, as documented
            subprocess.run(
                [sys.executable, "-I", moved / name / "postinstall.py"],
                check=True,
                capture_output=True,
            )
        sample = str(tmp_path / "sample.txt")
        assert detected(normalizer(moved / "app-detect", sample)) == "utf_8"
        assert detected(normalizer(moved / "app-picked", sample)) == "utf_8"
    finally:
        shutil.move(moved, deployed)


def test_exported_scripts_run(built: object, tmp_path: Path) -> None:
    spec = built.spec  # type: ignore[attr-defined]
    output = tmp_path / "exported"
    export_layers(
        spec,
        spec.enabled_layers,
        ExportOptions(output_dir=output),
        lock_states=lock_states(spec),
        reporter=RecordingReporter(),
    )
    (tmp_path / "sample.txt").write_bytes(SAMPLE.encode("utf-8"))
    assert detected(normalizer(output / "app-detect", str(tmp_path / "sample.txt"))) == "utf_8"
    assert not (output / "app-quiet" / "bin" / "normalizer").exists()


def _postinstall_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record every command envstacks runs through ``proc.run`` that names a postinstall.py."""
    from envstacks.floor import proc

    calls: list[list[str]] = []
    real_run = proc.run

    def recording(argv, **kwargs):  # type: ignore[no-untyped-def]
        if any(str(part).endswith("postinstall.py") for part in argv):
            calls.append([str(part) for part in argv])
        return real_run(argv, **kwargs)

    monkeypatch.setattr(proc, "run", recording)
    return calls


def test_envstacks_own_postinstall_runs_in_process(
    deployed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _postinstall_runs(monkeypatch)
    target = tmp_path / "again"
    reporter = RecordingReporter()
    dist = deployed.parent / "dist"
    result = deploy(dist, target, pm=get_plugin_manager(load_entrypoints=False), reporter=reporter)

    assert result.installed == LAYERS
    assert calls == []  # no interpreter was started for a postinstall.py
    in_process = [text for level, text in reporter.messages if "in this process" in text]
    assert len(in_process) == len(LAYERS)
    # ...and it did the whole job: configured layers, the chaining module's pyc, launchers.
    for name in LAYERS[1:]:
        assert (target / name / "pyvenv.cfg").is_file()
    sample = tmp_path / "sample.txt"
    sample.write_bytes(SAMPLE.encode("utf-8"))
    assert detected(normalizer(target / "app-detect", str(sample))) == "utf_8"
    pycache = target / "app-detect" / "lib" / "python3.12" / "site-packages" / "__pycache__"
    assert (pycache / "_envstacks_layers.cpython-312.pyc").is_file()
    for name in LAYERS:  # deployed names are the build names: the built pycs all ship
        record = json.loads((target / name / BYTECODE_RECORD).read_text())
        assert record["compile"] == []


def test_another_postinstall_runs_as_a_script_with_the_runtime(
    deployed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envstacks.stages.deploying.placement import postinstall_python, run_postinstall

    copy = tmp_path / "copy"
    shutil.copytree(deployed, copy, symlinks=True)
    script = copy / "app-detect" / "postinstall.py"
    script.write_text(script.read_text() + "# changed by the test\n")
    (copy / "app-detect" / "bin" / "normalizer").unlink()
    calls = _postinstall_runs(monkeypatch)
    python = postinstall_python(copy, "app-detect", "cpython-3.12")
    assert python is not None

    run_postinstall(
        copy / "app-detect",
        python=python,
        what="layer 'app-detect'",
        reporter=RecordingReporter(),
        error=BuildError,
    )

    assert [call[0] for call in calls] == [str(python)]
    assert (copy / "app-detect" / "bin" / "normalizer").is_file()


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"site_dir": "../../outside"}, "layers must be deployed side by side"),
        ({"python": None}, "'python'"),  # a key missing: the script's own KeyError, explained
    ],
)
def test_a_hostile_layer_config_is_a_clear_error_in_process(
    deployed: Path, tmp_path: Path, change: dict[str, object], words: str
) -> None:
    from envstacks.stages.deploying.placement import postinstall_python, run_postinstall

    copy = tmp_path / "copy"
    shutil.copytree(deployed, copy, symlinks=True)
    config_path = copy / "app-quiet" / LAYER_CONFIG
    config = json.loads(config_path.read_text())
    for key, value in change.items():
        if value is None:
            del config[key]
        else:
            config[key] = value
    config_path.write_text(json.dumps(config))
    python = postinstall_python(copy, "app-quiet", "cpython-3.12")
    assert python is not None

    with pytest.raises(BuildError) as caught:  # the error class asked for: no "bug" catch-all
        run_postinstall(
            copy / "app-quiet",
            python=python,
            what="layer 'app-quiet'",
            reporter=RecordingReporter(),
            error=BuildError,
        )

    assert "failed to run postinstall.py of layer 'app-quiet'" in caught.value.message
    assert words in caught.value.message
    assert caught.value.hint and "republish" in caught.value.hint
    assert not (tmp_path / "outside").exists()
