"""End to end: two versions of a real stack, the second deployed over HTTP from deltas only.

Real uv and PyPI (packaging 24.1, then 24.2), real builds, the real CLI in subprocesses, a
real HTTP server on 127.0.0.1, and the applications run after each deploy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kits.http_server import QuietHandler, serve

pytestmark = pytest.mark.network

SPEC = """\
[project]
name = "delta-e2e"
version = "1.0.0"
requires-python = ">=3.12"

[tool.venvstacks]
build-dir = "_build"
output-dir = "dist"
requirements-dir = "requirements"

[tool.venvstacks.uv]
exclude-newer = "2026-11-01T00:00:00Z"

[[tool.venvstacks.runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@3.12"
requirements = []

[[tool.venvstacks.frameworks]]
name = "fw"
runtime = "cpython-3.12"
requirements = ["{packaging}"]

[[tool.venvstacks.applications]]
name = "hello"
launch_module = "src/hello.py"
frameworks = ["fw"]
requirements = []
"""
APP = "import packaging\n\nprint('{greeting}', packaging.__version__)\n"


def envstacks(*args: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "envstacks", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"envstacks {args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def write_version(project: Path, *, packaging: str, greeting: str) -> None:
    (project / "pyproject.toml").write_text(SPEC.replace("{packaging}", packaging))
    (project / "src").mkdir(exist_ok=True)
    (project / "src" / "hello.py").write_text(APP.replace("{greeting}", greeting))


def run_app(target: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [target / "app-hello" / "bin" / "python", "-m", "hello"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def deploy_json(url: str, target: Path, cwd: Path) -> dict[str, Any]:
    out = envstacks("-q", "deploy", url, "--target", target, "--json", cwd=cwd)
    return json.loads(out)


def test_second_version_deploys_over_http_from_deltas_only(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    write_version(project, packaging="packaging==24.1", greeting="hello")
    envstacks("build", "--lock-if-needed", "--publish", cwd=project)
    dist = project / "dist"
    first, edited = tmp_path / "deployed", tmp_path / "edited"
    with serve(dist, QuietHandler) as url:
        for target in (first, edited):
            summary = deploy_json(url, target, tmp_path)
            assert {t["method"] for t in summary["transfers"]} == {"full"}
    assert run_app(first) == "hello 24.1"

    # Version B: a package bumped in the framework, the application's code changed.
    write_version(project, packaging="packaging==24.2", greeting="hello again")
    envstacks("build", "--lock-if-needed", "--publish", "--delta-from", dist, cwd=project)
    manifest = json.loads((dist / "__venvstacks__" / "venvstacks.json").read_text())
    entries = {e["install_target"]: e for es in manifest["layers"].values() for e in es}
    assert sorted(name for name, e in entries.items() if e.get("deltas")) == [
        "app-hello",
        "framework-fw",
    ]
    # Someone edited a file of the framework (one that version B keeps) in the second deployment.
    script = edited / "framework-fw" / "postinstall.py"
    script.write_text(script.read_text() + "\n# edited\n")

    with serve(dist, QuietHandler) as url:
        summary = deploy_json(url, first, tmp_path)
        fallback = deploy_json(url, edited, tmp_path)
    transfers = {t["install_target"]: t for t in summary["transfers"]}
    assert {name: t["method"] for name, t in transfers.items()} == {
        "cpython-3.12": "reused",
        "framework-fw": "delta",
        "app-hello": "delta",
    }
    for name in ("framework-fw", "app-hello"):
        (delta,) = entries[name]["deltas"]
        assert (
            transfers[name]["downloaded_bytes"]
            <= delta["archive_size"] + entries[name]["file_index"]["size"]
        )
        assert delta["archive_size"] < entries[name]["archive_size"]
    assert run_app(first) == "hello again 24.2"
    assert {t["install_target"]: t["method"] for t in fallback["transfers"]}["framework-fw"] == (
        "full"
    )
    assert run_app(edited) == "hello again 24.2"
    shutil.rmtree(project / "_build", ignore_errors=True)
