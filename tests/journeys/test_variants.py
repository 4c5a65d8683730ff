"""Accelerator variants end to end with the real CLI: lock, build, publish, deploy, switch.

Offline: the stack of ``kits.variant_stack`` (two wheels providing the import name
``accelrt``, as ``onnxruntime`` and ``onnxruntime-gpu`` do). Deploys go over a real HTTP
server so that every byte fetched is counted. This machine has no NVIDIA driver, so the
selector of the ``gpu`` variant does not match and the fallback ``cpu`` is deployed; the
switch to ``gpu`` is by ``--variant``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from envstacks.frontends.cli import main
from kits.http_server import QuietHandler, serve
from kits.variant_stack import write_project

pytestmark = pytest.mark.skipif(
    os.path.exists("/proc/driver/nvidia/version"), reason="this machine has an NVIDIA driver"
)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _run(target: Path) -> str:
    result = subprocess.run(
        [target / "app-infer" / "bin" / "python", "-m", "infer"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return result.stdout.strip()


def _published(output: Path, name: str) -> int:
    """Bytes a full deploy of a layer fetches: its archive and its file index."""
    index = output / "__venvstacks__" / "env_metadata" / f"{name}.tar.zst.files.json.gz"
    return (output / f"{name}.tar.zst").stat().st_size + index.stat().st_size


def _bytes(summary: dict) -> dict[str, tuple[str, int]]:
    return {t["install_target"]: (t["method"], t["downloaded_bytes"]) for t in summary["transfers"]}


def test_two_variants_one_app_archive_chosen_per_machine_and_switched_by_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENVSTACKS_VARIANT_ACCEL", raising=False)
    project = write_project(tmp_path / "project").parent
    monkeypatch.chdir(project)
    _cli(capsys, "lock", "--no-index", "--local-wheels", "wheels")
    shown = _cli(capsys, "show")
    assert "framework-accel-gpu [variant 'gpu' of 'accel', select nvidia]" in shown
    _cli(capsys, "build")
    _cli(capsys, "publish")
    output = project / "dist" / "venvstacks"
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    assert sorted(p.name for p in output.glob("*.tar.zst")) == [
        "app-infer.tar.zst",
        "cpython-3.12.tar.zst",
        "framework-accel-cpu.tar.zst",
        "framework-accel-gpu.tar.zst",
    ]
    assert manifest["variants"]["accel"]["fallback"] == "framework-accel-cpu"
    assert [v["select"] for v in manifest["variants"]["accel"]["variants"]] == [[], ["nvidia"]]

    target = tmp_path / "deployed"
    with serve(output, QuietHandler) as url:
        first = json.loads(_cli(capsys, "deploy", url, "--target", str(target), "--json"))
        (choice,) = first["variants"]
        assert (choice["variant"], choice["install_target"]) == ("cpu", "framework-accel-cpu")
        assert choice["reason"] == (
            "fallback: 'gpu' not selected (nvidia: no NVIDIA driver found "
            "(no /proc/driver/nvidia/version, no loadable libnvidia-ml))"
        )
        fetched = _bytes(first)
        assert "framework-accel-gpu" not in fetched  # never downloaded
        assert fetched["framework-accel-cpu"] == ("full", _published(output, "framework-accel-cpu"))
        assert (target / "framework-accel").readlink() == Path("framework-accel-cpu")
        assert _run(target) == "cpu"

        second = json.loads(
            _cli(capsys, "deploy", url, "--target", str(target), "--variant", "accel=gpu", "--json")
        )
        assert second["variants"][0]["reason"] == "chosen by --variant accel=gpu"
        assert _bytes(second) == {
            "framework-accel-gpu": ("full", _published(output, "framework-accel-gpu")),
            "cpython-3.12": ("reused", 0),
            "app-infer": ("reused", 0),  # the same app archive serves both variants
        }
        assert _run(target) == "gpu"
        assert not (target / "framework-accel-cpu").exists()
        record = json.loads((target / "__venvstacks__" / "deployed.json").read_text())
        assert record["variants"]["accel"]["install_target"] == "framework-accel-gpu"
        assert "framework-accel-cpu" not in record["layers"]

        text = _cli(capsys, "deploy", url, "--target", str(target))
        assert "variant: accel = cpu (framework-accel-cpu): fallback: 'gpu' not selected" in text
        assert _run(target) == "cpu"


HATCH_TABLES = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.envs.gpu]
type = "venvstacks"
layer = "infer"
variant = "gpu"
skip-install = true

[tool.hatch.envs.tpu]
type = "venvstacks"
layer = "infer"
variant = "tpu"
skip-install = true

[tool.hatch.build.targets.venvstacks]
dependencies = ["envstacks @ {plugin}"]

[tool.venvstacks.uv]
no-index = true
find-links = ["wheels"]
"""


@pytest.mark.network  # the Hatch target installs the plugin copy's dependencies
def test_hatch_and_pdm_front_ends_build_develop_and_deploy_variants(
    tmp_path: Path, run_tool, plugin_source: Path
) -> None:
    pyproject = write_project(tmp_path / "project")
    tables = HATCH_TABLES.replace("{plugin}", plugin_source.as_uri())
    pyproject.write_text(pyproject.read_text() + tables)
    project = pyproject.parent
    ran = run_tool("hatch", ["run", "gpu:python", "-m", "infer"], cwd=project)
    assert ran.stdout.strip().splitlines()[-1] == "gpu"
    found = Path(run_tool("hatch", ["env", "find", "gpu"], cwd=project).stdout.strip())
    assert (found.parent / "framework-accel-gpu").is_dir()  # built beside the fallback
    assert (found.parent / "framework-accel-cpu").is_dir()
    wrong = run_tool("hatch", ["env", "create", "tpu"], cwd=project, check=False)
    assert wrong.returncode == 1
    assert (
        "error: Field `tool.hatch.envs.tpu.variant`: framework 'accel' has no variant 'tpu' "
        "(its variants: 'cpu', 'gpu')" in wrong.stderr
    )
    assert "Traceback" not in wrong.stderr

    # The build target builds and publishes every variant; PDM deploys the one asked for.
    run_tool("hatch", ["build", "-t", "venvstacks"], cwd=project)
    output = project / "dist" / "venvstacks"
    assert (output / "framework-accel-cpu.tar.zst").is_file()
    assert (output / "framework-accel-gpu.tar.zst").is_file()
    target = tmp_path / "deployed"
    deployed = run_tool(
        "pdm",
        ["venvstacks", "deploy", output, "--target", target, "--variant", "accel=gpu", "--json"],
        cwd=project,
    )
    assert json.loads(deployed.stdout)["variants"][0]["variant"] == "gpu"
    assert _run(target) == "gpu"


def test_registry_platform_manifest_carries_every_variant_and_deploy_fetches_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, registry
) -> None:
    monkeypatch.delenv("ENVSTACKS_VARIANT_ACCEL", raising=False)
    project = write_project(tmp_path / "project").parent
    monkeypatch.chdir(project)
    _cli(capsys, "lock", "--no-index", "--local-wheels", "wheels")
    _cli(capsys, "build")
    url = registry.url("demo/variants", "1")
    pushed = json.loads(_cli(capsys, "publish", "--to", url, "--json-results"))["pushed"]
    (platform_manifest,) = pushed["manifests"].values()
    image = json.loads(registry.blob_file(platform_manifest).read_text())
    titles = {
        layer["annotations"]["org.opencontainers.image.title"]: layer["digest"]
        for layer in image["layers"]
    }
    assert {"framework-accel-cpu.tar.zst", "framework-accel-gpu.tar.zst"} <= set(titles)
    config = json.loads(registry.blob_file(image["config"]["digest"]).read_text())
    assert [v["name"] for v in config["variants"]["accel"]["variants"]] == ["cpu", "gpu"]

    mark = registry.mark()
    target = tmp_path / "deployed"
    summary = json.loads(_cli(capsys, "deploy", url, "--target", str(target), "--json"))
    assert summary["variants"][0]["variant"] == "cpu"
    fetched = set(registry.blob_gets(mark))
    assert titles["framework-accel-cpu.tar.zst"] in fetched
    assert titles["framework-accel-gpu.tar.zst"] not in fetched
    assert _run(target) == "cpu"

    mark = registry.mark()
    _cli(capsys, "deploy", url, "--target", str(target), "--variant", "accel=gpu", "--json")
    fetched = set(registry.blob_gets(mark))
    assert titles["framework-accel-gpu.tar.zst"] in fetched
    assert (
        titles["app-infer.tar.zst"] not in fetched
        and titles["framework-accel-cpu.tar.zst"] not in fetched
    )
    assert _run(target) == "gpu"


#: Deploys with ``--variant accel=gpu`` and kills itself (SIGKILL) at the step named.
SWITCH_AND_DIE = """
import os, signal, sys
from pathlib import Path
from envstacks.orchestrator.distribution import deploy
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.deploying import DeployOptions
from envstacks.floor.report import NullReporter

source, target, when = sys.argv[1:4]

class Reporter(NullReporter):
    def task(self, name, action, total=None, *, unit=""):
        if when == "unpack" and action == "unpack" and name == "framework-accel-gpu":
            os.kill(os.getpid(), signal.SIGKILL)
        return super().task(name, action, total, unit=unit)

    def info(self, text):
        if when == "linked" and text.startswith("framework-accel -> "):
            os.kill(os.getpid(), signal.SIGKILL)

pm = get_plugin_manager(load_entrypoints=False)
deploy(source, Path(target), DeployOptions(jobs=1, variants={"accel": "gpu"}), pm=pm,
       reporter=Reporter())
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The variant stack locked, built and published once (its publish folder)."""
    project = write_project(tmp_path_factory.mktemp("variants") / "project").parent
    spec = str(project / "pyproject.toml")
    wheels = str(project / "wheels")
    assert main(["lock", spec, "--no-index", "--local-wheels", wheels]) == 0
    assert main(["build", spec]) == 0
    assert main(["publish", spec]) == 0
    return project / "dist" / "venvstacks"


@pytest.mark.parametrize(("when", "running"), [("unpack", "cpu"), ("linked", "gpu")])
def test_a_switch_killed_part_way_leaves_a_working_app_and_the_next_deploy_completes(  # noqa: PLR0917 - fixtures
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    published: Path,
    when: str,
    running: str,
) -> None:
    monkeypatch.delenv("ENVSTACKS_VARIANT_ACCEL", raising=False)
    output = published
    target = tmp_path / "deployed"
    _cli(capsys, "deploy", str(output), "--target", str(target))
    assert _run(target) == "cpu"

    script = tmp_path / "switch_and_die.py"
    script.write_text(SWITCH_AND_DIE)
    killed = subprocess.run(
        [sys.executable, script, output, target, when], capture_output=True, check=False
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert _run(target) == running  # the slot always names a variant in place

    _cli(capsys, "deploy", str(output), "--target", str(target), "--variant", "accel=gpu")
    assert _run(target) == "gpu"
    assert sorted(p.name for p in target.iterdir()) == [
        "__venvstacks__",
        "app-infer",
        "cpython-3.12",
        "framework-accel",
        "framework-accel-gpu",
    ]
