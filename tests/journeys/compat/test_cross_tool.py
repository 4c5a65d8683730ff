"""venvstacks 0.8 and envstacks take turns on one stack, as a team migrating one tool at a time.

The stack is small (pure-Python wheels, so every platform is served) but has what tripped the
tools up: a requirement with an environment marker (the lock-input hash), a layer with no
requirements (venvstacks' lock of it has no ``packages`` key), a versioned framework and a
shared package. The turns:

* venvstacks locks; ``envstacks lock --if-needed`` runs no uv and rewrites no file, and a full
  ``envstacks lock`` (nothing changed) rewrites no file either;
* envstacks locks; ``venvstacks lock --if-needed`` keeps the locks;
* venvstacks publishes; ``envstacks deploy`` installs it and the applications run;
* envstacks publishes (a venvstacks.toml: ``tar.xz``); venvstacks' documented procedure
  (unpack, postinstall.py) deploys it and the applications run;
* venvstacks' procedure deploys; ``envstacks deploy`` into the same folder adopts every layer
  (its files checked against the archive) and a second one finds them up to date.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kits.venvstacks_peer import Venvstacks

from .conftest import Envstacks

pytestmark = pytest.mark.network

#: venvstacks 0.8.0b2 (the newest on PyPI) records ``linux_target`` and ``macosx_target`` among
#: a lock's inputs only when a layer sets them; 0.8.0 (the release upstream's material comes
#: from, which envstacks follows) whenever the layer targets Linux or macOS. Every layer sets
#: both, so that the locks of either release check as valid for the other.
TARGETS = 'linux_target = "glibc@2.28"\nmacosx_target = "13.0"'
SPEC = f"""\
[[runtimes]]
name = "cpython-3.12"
python_implementation = "cpython@{{python}}"
requirements = ["six", "colorama; sys_platform == 'win32'"]
{TARGETS}

[[frameworks]]
name = "web"
runtime = "cpython-3.12"
versioned = true
requirements = ["idna"]
{TARGETS}

[[frameworks]]
name = "nothing"
runtime = "cpython-3.12"
requirements = []
{TARGETS}

[[applications]]
name = "hello"
launch_module = "hello.py"
frameworks = ["web"]
requirements = ["six"]
{TARGETS}

[tool.uv]
exclude-newer = "2025-10-01T00:00:00Z"

[tool.envstacks]
runtime-provider = "local"
"""
HELLO = """\
import idna
import six

if __name__ == "__main__":
    print("hello from", idna.__name__, six.__name__)
"""


def _write_stack(folder: Path, python: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "hello.py").write_text(HELLO)
    spec = folder / "venvstacks.toml"
    spec.write_text(SPEC.format(python=python))
    return spec


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _below_headers(files: dict[str, bytes]) -> dict[str, list[str]]:
    """The files' lines after their leading comments (the lines naming the tool that wrote them)."""
    result = {}
    for name, data in files.items():
        lines = data.decode().splitlines()
        start = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
        result[name] = lines[start:]
    return result


@pytest.fixture(scope="module")
def python312(local_versions: dict[str, str]) -> str:
    return local_versions["3.12"]


@pytest.fixture(scope="module")
def venvstacks_locked(
    tmp_path_factory: pytest.TempPathFactory, venvstacks: Venvstacks, python312: str
) -> Path:
    """The stack, locked by venvstacks."""
    spec = _write_stack(tmp_path_factory.mktemp("cross") / "vs-locked", python312)
    venvstacks.run(["lock", spec])
    return spec


def test_envstacks_keeps_venvstacks_locks(venvstacks_locked: Path, envstacks: Envstacks) -> None:
    requirements = venvstacks_locked.parent / "requirements"
    locked_by_venvstacks = _files(requirements)
    # The empty layer's lock, as venvstacks writes it: no `packages` key.
    nothing = requirements / "framework-nothing" / "pylock.framework-nothing.toml"
    assert "packages" not in nothing.read_text()

    checked = json.loads(
        envstacks("lock", "--if-needed", "--json-results", venvstacks_locked).stdout
    )
    assert [entry["ran_uv"] for entry in checked["locked"]] == [False] * 4
    assert _files(requirements) == locked_by_venvstacks
    relocked = json.loads(envstacks("lock", "--json-results", venvstacks_locked).stdout)
    assert [(entry["ran_uv"], entry["changed"]) for entry in relocked["locked"]] == [
        (True, False)
    ] * 4
    assert _files(requirements) == locked_by_venvstacks


def test_venvstacks_keeps_envstacks_locks(
    tmp_path: Path, venvstacks: Venvstacks, envstacks: Envstacks, python312: str
) -> None:
    spec = _write_stack(tmp_path / "es-locked", python312)
    envstacks("lock", spec)
    requirements = spec.parent / "requirements"
    locked_by_envstacks = _files(requirements)
    venvstacks.run(["lock", "--if-needed", spec])
    after = _files(requirements)
    # The locks and their metadata are kept byte for byte; venvstacks rewrites the summaries
    # with its own header, and nothing else.
    kept = [name for name in after if name.endswith((".toml", ".meta.json"))]
    assert kept and {name: after[name] for name in kept} == {
        name: locked_by_envstacks[name] for name in kept
    }
    assert _below_headers(after) == _below_headers(locked_by_envstacks)


@pytest.fixture(scope="module")
def venvstacks_published(venvstacks_locked: Path, venvstacks: Venvstacks) -> Path:
    """The stack built and published by venvstacks (its own locks)."""
    venvstacks.run(["build", "--publish", venvstacks_locked])
    return venvstacks_locked.parent / "_artifacts"


def test_envstacks_deploys_what_venvstacks_published(
    venvstacks_published: Path, envstacks: Envstacks, venvstacks: Venvstacks, tmp_path: Path
) -> None:
    target = tmp_path / "deployed"
    result = json.loads(
        envstacks("deploy", venvstacks_published, "--target", target, "--json").stdout
    )
    assert sorted(result["installed"]) == sorted(_install_targets(venvstacks_published))
    assert "hello from idna six" in venvstacks.run_apps(target)


def test_venvstacks_procedure_deploys_what_envstacks_published(
    tmp_path: Path,
    venvstacks_locked: Path,
    envstacks: Envstacks,
    venvstacks: Venvstacks,
) -> None:
    # envstacks builds from venvstacks' locks (the empty layer's included) and publishes what
    # venvstacks' consumers read.
    stack = tmp_path / "es-published"
    shutil.copytree(venvstacks_locked.parent, stack, ignore=shutil.ignore_patterns("_*"))
    envstacks("build", "--publish", stack / "venvstacks.toml")
    output = stack / "_artifacts"
    archives = sorted(path.name for path in output.glob("*.tar.xz"))
    assert len(archives) == 4, sorted(p.name for p in output.iterdir())
    target = tmp_path / "deployed"
    venvstacks.deploy_documented(output, target)
    assert "hello from idna six" in venvstacks.run_apps(target)


def test_envstacks_deploy_takes_over_a_documented_deploy(
    venvstacks_published: Path, envstacks: Envstacks, venvstacks: Venvstacks, tmp_path: Path
) -> None:
    target = tmp_path / "deployed"
    venvstacks.deploy_documented(venvstacks_published, target)
    result = json.loads(
        envstacks("deploy", venvstacks_published, "--target", target, "--json").stdout
    )
    assert result["installed"] == [] and result["refused"] == []
    assert sorted(result["adopted"]) == sorted(_install_targets(venvstacks_published))
    assert "hello from idna six" in venvstacks.run_apps(target)
    again = json.loads(
        envstacks("deploy", venvstacks_published, "--target", target, "--json").stdout
    )
    assert sorted(again["reused"]) == sorted(result["adopted"])


def _install_targets(output: Path) -> list[str]:
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    return [layer["install_target"] for kind in manifest["layers"].values() for layer in kind]
