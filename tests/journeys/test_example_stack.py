"""End to end on the bundled example stack: lock, build, export, publish, deploy, run both apps.

Real uv, real PyPI (numpy, scipy, scikit-learn wheels), real venvs and archives, and the real
CLI in subprocesses. The runtime comes from the local provider when python-build-standalone
cannot be downloaded (as on the CI machines).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "example_projects" / "sklearn-stack"
EXPECTED_LAYERS = {
    "classify": {
        "numpy": "cpython-3.12",
        "scipy": "framework-scipy",
        "sklearn": "framework-sklearn",
    },
    "stats": {"numpy": "cpython-3.12", "scipy.stats": "framework-scipy", "tabulate": "app-stats"},
}

pytestmark = pytest.mark.network


def envstacks(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "envstacks", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"envstacks {args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def run_app(folder: Path, app: str) -> dict[str, str]:
    result = subprocess.run(
        [folder / f"app-{app}" / "bin" / "python", "-m", app, "--layers"],
        capture_output=True,
        text=True,
        check=False,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example (so the repository stays clean), locked and built once."""
    dest = tmp_path_factory.mktemp("example") / "sklearn-stack"
    shutil.copytree(
        EXAMPLE, dest, ignore=shutil.ignore_patterns("_build", "_export", "_deploy", "dist")
    )
    return dest


def test_committed_locks_are_valid(project: Path) -> None:
    status = json.loads(envstacks("show", "--json", cwd=project).stdout)
    layers = status["runtimes"] + status["frameworks"] + status["applications"]
    assert [x["name"] for x in layers] == [
        "cpython-3.12",
        "framework-scipy",
        "framework-sklearn",
        "app-classify",
        "app-stats",
    ]
    assert all(x["has_valid_lock"] for x in layers), layers
    locked = json.loads(envstacks("lock", "--if-needed", "--json-results", cwd=project).stdout)[
        "locked"
    ]
    assert [r["ran_uv"] for r in locked] == [False] * 5


def test_build_export_move_and_run(project: Path, tmp_path: Path) -> None:
    built = json.loads(envstacks("build", "--json-results", cwd=project).stdout)["built"]
    assert {r["layer"] for r in built} == {
        "cpython-3.12",
        "framework-scipy",
        "framework-sklearn",
        "app-classify",
        "app-stats",
    }
    export = tmp_path / "export"
    envstacks("local-export", "--output-dir", export, cwd=project)
    for app, expected in EXPECTED_LAYERS.items():
        assert run_app(export, app) == expected

    # Move the whole export, relink every layer (runtime first), run again.
    moved = tmp_path / "moved" / "stack"
    moved.parent.mkdir()
    export.rename(moved)
    order = ["cpython-3.12", "framework-scipy", "framework-sklearn", "app-classify", "app-stats"]
    for layer in order:
        subprocess.run([sys.executable, moved / layer / "postinstall.py"], check=True)
    for app, expected in EXPECTED_LAYERS.items():
        assert run_app(moved, app) == expected
    cfg = (moved / "app-classify" / "pyvenv.cfg").read_text()
    assert str(moved) in cfg and str(export) not in cfg

    # Nothing changed: a second build does no work.
    again = json.loads(envstacks("build", "--json-results", cwd=project).stdout)["built"]
    assert not any(r["built"] for r in again)


def test_publish_deploy_and_run(project: Path, tmp_path: Path) -> None:
    envstacks("build", cwd=project)
    published = json.loads(envstacks("publish", "--json-results", cwd=project).stdout)
    out = project / "dist" / "venvstacks"
    manifest = json.loads((out / "__venvstacks__" / "venvstacks.json").read_text())
    names = sorted(x["install_target"] for kind in manifest["layers"].values() for x in kind)
    assert names == sorted(
        ["cpython-3.12", "framework-scipy", "framework-sklearn", "app-classify", "app-stats"]
    )
    assert published
    target = tmp_path / "deployed"
    first = json.loads(envstacks("deploy", out, "--target", target, "--json", cwd=project).stdout)
    assert len(first["installed"]) == 5 and not first["reused"] and not first["refused"]
    for app, expected in EXPECTED_LAYERS.items():
        assert run_app(target, app) == expected
    second = json.loads(envstacks("deploy", out, "--target", target, "--json", cwd=project).stdout)
    assert not second["installed"] and len(second["reused"]) == 5
