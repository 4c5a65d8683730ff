"""`envstacks deploy` on the command line: summaries, refusals and exit statuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.frontends.cli import main
from envstacks.orchestrator.distribution import deploy
from kits.layers import RUNTIME, Layer


def _tamper(archive: Path) -> None:
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


def test_json_summary_lists_installed_then_reused(
    publish_layers_to, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = publish_layers_to(tmp_path / "out")
    target = tmp_path / "target"
    assert main(["deploy", str(output), "--target", str(target), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["installed"]) == 4 and first["refused"] == [] and first["reused"] == []
    assert main(["deploy", str(output), "--target", str(target), "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["installed"] == [] and sorted(second["reused"]) == sorted(first["installed"])


def test_refusal_is_in_the_json_summary_and_the_exit_status(
    publish_layers_to, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = publish_layers_to(
        tmp_path / "out", [Layer(RUNTIME, "runtimes"), Layer("app-one", "applications")]
    )
    _tamper(output / "app-one.tar.zst")
    target = tmp_path / "target"
    assert main(["deploy", str(output), "--target", str(target), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert [r["install_target"] for r in summary["refused"]] == ["app-one"]
    assert summary["installed"] == [RUNTIME]
    assert not (target / "app-one").exists()


def test_refusal_without_json_is_an_error_without_traceback(
    publish_layers_to, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = publish_layers_to(
        tmp_path / "out", [Layer(RUNTIME, "runtimes"), Layer("app-one", "applications")]
    )
    _tamper(output / "app-one.tar.zst")
    assert main(["deploy", str(output), "--target", str(tmp_path / "target")]) == 1
    err = capsys.readouterr().err
    error = err[err.index("error: ") :]
    assert "app-one.tar.zst" in error and "Traceback" not in err


def test_no_postinstall_runs_no_code_from_the_archives(
    publish_layers_to, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "share/venv/metadata/venvstacks_layer.json": json.dumps(
            {
                "python": "bin/python",
                "base_python": f"../{RUNTIME}/bin/python3",
                "site_dir": "lib/python3.12/site-packages",
                "py_version": "3.12.1",
            }
        )
    }
    layers = [Layer(RUNTIME, "runtimes"), Layer("app-one", "applications", files=config)]
    output = publish_layers_to(tmp_path / "out", layers)
    target = tmp_path / "target"

    assert main(["deploy", str(output), "--target", str(target), "--no-postinstall"]) == 0

    assert not list(target.rglob("postinstall.json"))  # no postinstall.py ran
    assert not (target / "postinstall-order.txt").exists()
    assert f"home = {target / RUNTIME / 'bin'}" in (target / "app-one" / "pyvenv.cfg").read_text()
    assert "installed: app-one" in capsys.readouterr().out


def test_a_target_that_is_a_file_is_a_clear_error(
    publish_layers_to, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = publish_layers_to(tmp_path / "out")
    target = tmp_path / "target"
    target.write_text("a file\n")
    assert main(["deploy", str(output), "--target", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"error: deploy: {target} is a file, but a folder is needed there" in err
    assert "bug in envstacks" not in err


def test_deploy_ends_with_the_summary_line_and_quiet_prints_nothing(
    publish_layers_to, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = publish_layers_to(tmp_path / "out")
    target = tmp_path / "target"
    assert main(["deploy", str(output), "--target", str(target)]) == 0
    first = capsys.readouterr()
    assert first.out.count("installed: ") == 4
    assert re.search(r"^done in \d+\.\d s: 4 layers installed$", first.err, flags=re.MULTILINE)
    assert main(["-q", "deploy", str(output), "--target", str(target)]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["deploy", str(output), "--target", str(target)]) == 0
    again = capsys.readouterr().err
    assert re.search(r"^done in \d+\.\d s: 4 layers up to date$", again, re.M)


def test_a_target_given_with_dot_dot_deploys_where_it_points(
    real_publishes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``deploy(source, Path("../t"))`` from a sibling folder: the layers' configs stay inside.

    (Real layers: the configs are checked against the deployment folder, which was taken as
    ``here/../t`` and seemed left by every path in it. The CLI resolves its ``--target``.)
    """
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    result = deploy(real_publishes.untagged_v1, Path("../t"), reporter=RecordingReporter())
    assert result.installed and result.ok
    apps = [p for p in (tmp_path / "t").iterdir() if p.name.startswith("app-")]
    assert apps and all((app / "bin" / "python").exists() for app in apps)
    assert list((tmp_path / "here").iterdir()) == []
