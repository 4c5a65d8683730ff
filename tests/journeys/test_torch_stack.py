"""The torch example at full size: CUDA 13 and PyTorch from PyPI, several GB, end to end.

Real uv, real PyPI wheels (torch, triton, cuda-*, nvidia-*), real venvs, real archives and
the real CLI in subprocesses: the committed locks are checked (no relock), the stack is
built, published, deployed, and the deployed app run. It must import torch, compute on the
CPU and show in ``/proc/self/maps`` that ``libcudart`` and ``libcublas`` came from the
``framework-cuda`` layer (the dynlib rule of docs/torch.md). No GPU is needed: importing
torch loads the CUDA libraries whether or not a device is present.

Marked ``scale`` (deselected by default; ``tox -e scale`` runs it): about 25 GB of disk
(uv cache, build, publish, deployment) and minutes of CPU.
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
EXAMPLE = REPO / "example_projects" / "torch-stack"
LAYERS = ["cpython-3.12", "framework-cuda", "framework-torch", "app-torch-check"]

pytestmark = [pytest.mark.scale, pytest.mark.network]


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


def test_torch_stack_end_to_end(tmp_path: Path) -> None:
    try:
        _lock_build_publish_deploy_run(tmp_path)
    finally:  # pytest keeps the last runs' folders: not 14 GB of them
        shutil.rmtree(tmp_path, ignore_errors=True)


def _lock_build_publish_deploy_run(tmp_path: Path) -> None:
    project = tmp_path / "torch-stack"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("_build", "_export", "_deploy", "dist")
    )
    locked = json.loads(envstacks("lock", "--if-needed", "--json-results", cwd=project).stdout)
    assert [r["ran_uv"] for r in locked["locked"]] == [False] * len(LAYERS)

    envstacks("build", cwd=project)
    envstacks("publish", cwd=project)
    shutil.rmtree(project / "_build")  # the deployment below must not lean on the build
    out = project / "dist" / "venvstacks"
    target = tmp_path / "deployed"
    deployed = json.loads(
        envstacks("deploy", out, "--target", target, "--json", cwd=project).stdout
    )
    assert sorted(deployed["installed"]) == sorted(LAYERS), deployed

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run = subprocess.run(
        [target / "app-torch-check" / "bin" / "python", "-m", "torch_check", "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "torch.cuda.is_available() = " in run.stdout
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["torch"] == "framework-torch"
    libraries = report["libraries"]
    assert any(name.startswith("libcudart.so") for name in libraries), libraries
    assert any(name.startswith("libcublas.so") for name in libraries), libraries
    assert set(libraries.values()) == {"framework-cuda"}, libraries
    # The maps name the files themselves, under the deployed cuda layer.
    for line in run.stdout.splitlines():
        if " loaded from " in line:
            assert line.split(" loaded from ")[1].startswith(str(target / "framework-cuda")), line
