"""A real stack, locked and built once per session by the real CLI, in an awkwardly named folder.

Every folder of these tests has spaces, quotes, a dollar sign and non-ASCII letters in its path.

Runtime ``cpython-3.12`` (a local CPython made relocatable) -> ``framework-clib@1`` (ships
``libdemo.so.1``) -> ``app-useext`` (an extension module linking it), as in
tests/stages/packing/test_publish_real.py; wheels are compiled here and locked with
``--local-wheels``, so no network is needed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from kits import clib_stack

#: What every folder of these tests has in its name: what shells, shebangs and configs trip on.
AWKWARD = 'it\'s "quoted" ünï cödé $HOME'

#: The stack of :mod:`kits.clib_stack`, under its own project name.
SPEC = clib_stack.SPEC.replace('name = "publish-demo"', 'name = "robust-demo"')
APP = clib_stack.APP
LAYERS = clib_stack.LAYERS
APP_LAYER = "app-useext"


def envstacks(
    *args: str | Path, cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess."""
    done = subprocess.run(
        [sys.executable, "-m", "envstacks", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check:
        assert done.returncode == 0, f"envstacks {args}:\n{done.stdout}\n{done.stderr}"
    return done


def start(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """Start the real CLI in a subprocess (output piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "envstacks", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_app(folder: Path) -> dict[str, object]:
    """Run the app layer deployed or exported in ``folder``; its JSON report."""
    done = subprocess.run(
        [folder / APP_LAYER / "bin" / "python", "-m", "useext"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def leftovers(*folders: Path) -> list[str]:
    """Temporaries (``.envstacks-tmp.*``) left anywhere under ``folders``."""
    return [
        str(path)
        for folder in folders
        if folder.exists()
        for path in folder.rglob(".envstacks-tmp.*")
    ]


@dataclass(frozen=True)
class BuiltStack:
    """The project folder and its build folder."""

    project: Path
    build_dir: Path
    root: Path

    def cli(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``envstacks ARGS`` in the project folder."""
        return envstacks(*args, cwd=self.project, check=check)

    def start(self, *args: str | Path) -> subprocess.Popen[str]:
        """Start ``envstacks ARGS`` in the project folder."""
        return start(*args, cwd=self.project)

    def folder(self, name: str) -> Path:
        """A fresh folder beside the project, with an awkward name."""
        path = self.root / f"{name} {AWKWARD}"
        assert not path.exists()
        return path


def make_project(root: Path, python: Path, kit: object, names: Sequence[str] = ()) -> Path:
    """Write the project (spec, app, compiled wheels) into ``root / <awkward name>``."""
    project = root / f"project {AWKWARD}"
    project.mkdir(parents=True)
    plain = root / "csrc-plain"  # gcc gets plain paths; the project's are awkward
    kit.build_dynlib_wheels(plain, python)  # type: ignore[attr-defined]
    shutil.copytree(plain / "wheels", project / "wheels")
    (project / "pyproject.toml").write_text(SPEC, encoding="utf-8")
    (project / "useext.py").write_text(APP, encoding="utf-8")
    return project


@pytest.fixture(scope="session")
def built_stack(tmp_path_factory: pytest.TempPathFactory, python_for, kit) -> BuiltStack:
    """The stack, locked and built by the CLI (``lock``, then ``build``)."""
    if not sys.platform.startswith("linux") or shutil.which("gcc") is None:
        pytest.skip("needs Linux and gcc")
    root = tmp_path_factory.mktemp("robust") / AWKWARD
    project = make_project(root, python_for("3.12"), kit)
    envstacks("lock", "--no-index", "--local-wheels", "wheels", cwd=project)
    envstacks("build", cwd=project)
    return BuiltStack(project=project, build_dir=project / "_build", root=root)
