"""venvstacks' local wheels project through envstacks' CLI: upstream's ``TestBuildEnvironment``.

Two wheels are built from the project's C sources with meson (``build-requirements.txt``): a
publisher of a shared library and a consumer linking against it. The stack is locked against
them alone (``--no-index --local-wheels``) for this platform, built, and exported; the checks
are upstream's: locks name the local wheels relative to themselves with ``/``, each exported
application loads the consumer, which finds the publisher's library in its own layer or in a
lower one (``dynlib_import.py``), and a lower layer that publishes none (``dynlib_exclude``)
leaves the consumer unable to load it (``windows_only_dynlib_import.py``); a rebuild keeps
the exports working.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import tomlkit

from envstacks.floor.platforms import host_platform
from envstacks.floor.uvrun import uv_bin
from kits import upstream
from kits.deployed_checks import check_deployed, manifest_layers

from .conftest import Envstacks

pytestmark = pytest.mark.network

EXPECTED_APP_OUTPUT = "Environment launch module executed successfully"


def _uv(*args: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    subprocess.run([uv_bin(), *map(os.fspath, args)], check=True, capture_output=True, env=env)


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory, python_for: Callable[[str], Path]) -> Path:
    """The publisher and consumer wheels, built as upstream builds them (with Python 3.11)."""
    project = upstream.upstream() / "tests" / "local_wheels_project"
    work = tmp_path_factory.mktemp("wheels")
    out, venv = work / "wheels", work / "build_venv"
    _uv("venv", "--python", python_for("3.11"), venv)
    python = venv / "bin" / "python"
    requirements = project / "build-requirements.txt"
    _uv("pip", "install", "--python", python, "--only-binary", ":all:", "-r", requirements)
    env = {**os.environ, "PKGCONF_PYPI_EMBEDDED_ONLY": "1"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    for package in ("dynlib-publisher", "dynlib-consumer"):
        _uv(
            "build", "--wheel", "--python", python, "--no-index", "--no-build-isolation",
            "--out-dir", out, project / "packages" / package, env=env,
        )  # fmt: skip
        if package == "dynlib-publisher":  # the consumer links against it
            install = ["pip", "install", "--python", python, "--no-index", "--find-links", out]
            _uv(*install, "venvstacks-testing-dynlib-publisher")
    shutil.rmtree(venv)  # the publisher's library must not be found there
    return out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, local_versions: dict[str, str]) -> Path:
    """The project's spec, every layer for this platform only, with the local runtime."""
    tests = upstream.copy_tests_folder(
        tmp_path_factory.mktemp("local wheels"), ["local_wheels_project"], local_versions
    )
    spec = tests / "local_wheels_project" / "venvstacks.toml"
    document = tomlkit.parse(spec.read_text("utf-8"))
    for kind in ("runtimes", "frameworks", "applications"):
        for layer in document[kind]:  # type: ignore[union-attr]
            layer["platforms"] = [host_platform()]
    spec.write_text(tomlkit.dumps(document), "utf-8")
    return spec


def test_locking_building_and_exporting(
    project: Path, wheels: Path, envstacks: Envstacks, tmp_path: Path
) -> None:
    args = ("--no-index", "--local-wheels", wheels, project)
    envstacks("build", "--lock-if-needed", *args)
    for pylock in (project.parent / "requirements").rglob("pylock.*.toml"):
        for package in tomllib.loads(pylock.read_text("utf-8")).get("packages", []):
            for wheel in package.get("wheels", ()):
                path = Path(wheel["path"])
                assert not path.is_absolute() and "\\" not in wheel["path"], wheel
                assert (pylock.parent / path).is_file(), wheel
                assert "url" not in wheel and "sdist" not in package
    export = tmp_path / "_export🦎"
    envstacks("local-export", "--output-dir", export, project)
    check_deployed(export, manifest_layers(export), EXPECTED_APP_OUTPUT)
    # Rebuilding keeps the links (upstream: "symlinks aren't corrupted").
    envstacks("build", "--clean", *args)
    envstacks("local-export", "--force", "--output-dir", export, project)
    check_deployed(export, manifest_layers(export), EXPECTED_APP_OUTPUT)
