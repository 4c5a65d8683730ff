"""venvstacks' minimal project through envstacks' CLI: upstream's ``test_locking_and_publishing``.

Every layer is empty (``requirements = []``), so venvstacks' locks of them have no ``packages``
key; envstacks locks, builds, exports and publishes the project and the checks are upstream's
(``EXPECTED_MANIFEST`` read from its test file): the dry-run metadata; lock times that stay when
a relock changes nothing and move when the requirements "change"; an export whose launch modules
run; untagged and tagged publications whose manifests, snippets and archives are named as
expected and which deploy by venvstacks' documented procedure (unpack, then postinstall.py with
an unrelated Python) into layers whose ``sys.path`` is right.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.platforms import host_platform
from kits import upstream
from kits.deployed_checks import check_deployed

from .conftest import Envstacks

pytestmark = pytest.mark.network

#: The minimal project's launch module prints nothing (upstream's DeploymentTestCase default).
EXPECTED_APP_OUTPUT = ""
#: Upstream's build folder, whose name needs quoting.
BUILD = "_build🐸"

# tarfile's extraction filters came with 3.11.4; older 3.11 releases extract as "fully_trusted".
TRUSTED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def _expected(tag: str = "") -> dict[str, Any]:
    manifest = upstream.module_value(
        "test_minimal_project.py",
        "EXPECTED_MANIFEST",
        {"ARCHIVE_SUFFIX": ".tar.xz", "BUILD_PLATFORM": host_platform()},
    )
    for layers in manifest["layers"].values():
        for layer in layers:
            layer["archive_name"] = f"{layer['install_target']}{tag}.tar.xz"
    return manifest


def _summary(metadata: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """Upstream's ``_filter_archive_manifest``: the checked keys that have a value."""
    return {key: metadata[key] for key in keys if metadata.get(key) is not None}


def _dry_run(envstacks: Envstacks, spec: Path, *options: str) -> tuple[dict[str, Any], dict]:
    """The dry-run manifest (upstream's checked keys) and the lock time of each layer."""
    result = json.loads(envstacks("publish", "--dry-run", "--json-results", *options, spec).stdout)
    keys = set(_expected()["layers"]["applications"][0])
    layers: dict[str, list[dict[str, Any]]] = {"applications": [], "frameworks": [], "runtimes": []}
    times = {}
    for item in result["layers"]:
        metadata = item["metadata"]
        layers[_kind(metadata["layer_name"])].append(_summary(metadata, keys))
        times[metadata["install_target"]] = datetime.fromisoformat(metadata["locked_at"])
    return {"layers": layers}, times


def _kind(layer_name: str) -> str:
    if layer_name.startswith("app-"):
        return "applications"
    return "frameworks" if layer_name.startswith("framework-") else "runtimes"


def _deploy_documented(output: Path, manifest_name: str, target: Path) -> None:
    """Unpack every archive, then run each postinstall.py with an unrelated Python, runtime first.

    As upstream's ``check_archive_deployment`` does (``shutil.unpack_archive``).
    """
    manifest = _manifest(output, manifest_name)
    layers = [m for kind in ("runtimes", "frameworks", "applications") for m in manifest[kind]]
    for metadata in layers:
        shutil.unpack_archive(output / metadata["archive_name"], target, **TRUSTED)
    assert sorted(p.name for p in target.iterdir()) == sorted(m["install_target"] for m in layers)
    for metadata in layers:
        script = target / metadata["install_target"] / "postinstall.py"
        subprocess.run([sys.executable, "-X", "utf8", "-I", script], check=True)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory, local_versions: dict[str, str]) -> Path:
    """The minimal project in a folder whose name needs quoting, with the local runtime."""
    root = tmp_path_factory.mktemp("minimal 🐸")
    tests = upstream.copy_tests_folder(root, ["minimal_project"], local_versions)
    return tests / "minimal_project" / "venvstacks.toml"


@pytest.fixture(scope="module")
def dry_runs(minimal: Path, envstacks: Envstacks) -> dict[str, Any]:
    """Lock and build the project; its untagged and tagged dry-run manifests and lock times."""
    started = datetime.now(UTC)
    envstacks("lock", "--build-dir", BUILD, minimal)
    # venvstacks writes no `packages` for these empty layers; either way they install nothing.
    envstacks("build", "--build-dir", BUILD, minimal)
    untagged, times = _dry_run(envstacks, minimal, "--build-dir", BUILD)
    tagged, tagged_times = _dry_run(envstacks, minimal, "--build-dir", BUILD, "--tag-outputs")
    return {
        "started": started,
        "untagged": untagged,
        "tagged": tagged,
        "times": times,
        "tagged_times": tagged_times,
    }


def test_dry_runs_name_what_venvstacks_would_publish(dry_runs: dict[str, Any]) -> None:
    assert dry_runs["untagged"] == _expected()
    assert all(moment >= dry_runs["started"] for moment in dry_runs["times"].values())
    assert dry_runs["tagged"] == _expected(f"-{host_platform()}-1")
    assert dry_runs["tagged_times"] == dry_runs["times"]


def test_lock_times_move_only_when_the_lock_changes(
    minimal: Path, envstacks: Envstacks, dry_runs: dict[str, Any], tmp_path: Path
) -> None:
    # A relock that resolves the same packages keeps every lock time...
    envstacks("lock", "--build-dir", BUILD, minimal)
    expected = (dry_runs["untagged"], dry_runs["times"])
    assert _dry_run(envstacks, minimal, "--build-dir", BUILD) == expected
    # ...and one whose recorded requirements differ records a new one.
    for meta in (minimal.parent / "requirements").rglob("*.meta.json"):
        data = json.loads(meta.read_text("utf-8"))
        data["requirements_hash"] = "ensure requirements appear to have changed"
        meta.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    relocked_from = datetime.now(UTC)
    envstacks("lock", "--if-needed", "--build-dir", BUILD, minimal)
    envstacks("build", "--build-dir", BUILD, minimal)
    relocked, relocked_times = _dry_run(envstacks, minimal, "--build-dir", BUILD)
    assert relocked == dry_runs["untagged"]
    assert all(moment >= relocked_from for moment in relocked_times.values())
    # The export runs (upstream's "Check environment export").
    export = tmp_path / "_export🦎"
    envstacks("local-export", "--build-dir", BUILD, "--output-dir", export, minimal)
    check_deployed(export, _manifest(export, "venvstacks.json"), EXPECTED_APP_OUTPUT)


@pytest.mark.slow  # two publications of every layer as tar.xz, the runtime included
def test_publications_deploy_by_venvstacks_procedure(
    minimal: Path, envstacks: Envstacks, dry_runs: dict[str, Any], tmp_path: Path
) -> None:
    tag = f"-{host_platform()}"
    for options, manifest_name, expected in (
        ((), "venvstacks.json", dry_runs["untagged"]),
        (("--tag-outputs",), f"venvstacks{tag}.json", dry_runs["tagged"]),
    ):
        output = tmp_path / f"out{''.join(options)}"
        envstacks("build", "--build-dir", BUILD, minimal)  # the previous test relocked
        envstacks("publish", "--build-dir", BUILD, "--output-dir", output, *options, minimal)
        _check_publication(output, manifest_name, expected, tag if options else "")
        target = tmp_path / f"deployed{''.join(options)}"
        target.mkdir()
        _deploy_documented(output, manifest_name, target)
        check_deployed(target, _manifest(output, manifest_name), EXPECTED_APP_OUTPUT)


def _manifest(folder: Path, name: str) -> dict[str, Any]:
    return dict(json.loads((folder / "__venvstacks__" / name).read_text("utf-8"))["layers"])


def _check_publication(
    output: Path, manifest_name: str, expected: dict[str, Any], tag: str
) -> None:
    """Upstream's ``check_publication_result``: manifest, snippets and archives as expected."""
    keys = set(_expected()["layers"]["applications"][0])
    layers = _manifest(output, manifest_name)
    assert {k: [_summary(m, keys) for m in v] for k, v in layers.items()} == expected["layers"]
    snippets = output / "__venvstacks__" / "env_metadata"
    for kind in layers.values():
        for metadata in kind:
            snippet = snippets / f"{metadata['layer_name']}{tag}.json"
            assert _summary(json.loads(snippet.read_text("utf-8")), keys) == _summary(
                metadata, keys
            )
    archives = sorted(p.name for p in output.iterdir() if p.is_file())
    wanted = sorted(m["archive_name"] for kind in expected["layers"].values() for m in kind)
    assert archives == wanted
