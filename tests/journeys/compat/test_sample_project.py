"""venvstacks' sample project, built by envstacks from venvstacks' committed locks.

The committed locks check as valid (nothing is relocked, no lock file is rewritten); the build
uses them as they are; the published metadata is ``expected_manifests/linux_x86_64``'s, field
for field, but for what depends on the runtime build (``python_implementation`` names the local
CPython that replaces the one upstream downloads; archive sizes and hashes depend on its
binaries); and every application runs from a local export, as upstream's checks run it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envstacks.stages.stackspec import load
from kits import upstream
from kits.deployed_checks import check_deployed, manifest_layers

from .conftest import Envstacks

pytestmark = pytest.mark.network

#: What depends on the runtime build rather than on the locks and the spec.
RUNTIME_DERIVED = ("python_implementation", "archive_size", "archive_hashes")
EXPECTED_APP_OUTPUT = "Environment launch module executed successfully"


def _lock_files(spec: Path) -> dict[Path, bytes]:
    folder = spec.parent / "requirements"
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def sample(
    tmp_path_factory: pytest.TempPathFactory, local_versions: dict[str, str], envstacks: Envstacks
) -> Path:
    """The sample project, copied with local runtimes, checked and built from its locks."""
    tests = upstream.copy_tests_folder(
        tmp_path_factory.mktemp("sample"), ["sample_project", "minimal_project"], local_versions
    )
    spec = tests / "sample_project" / "venvstacks.toml"
    committed = _lock_files(spec)
    checked = json.loads(envstacks("lock", "--if-needed", "--json-results", spec).stdout)
    assert len(checked["locked"]) == 8  # every layer: locks are cross-platform
    assert not [entry["layer"] for entry in checked["locked"] if entry["ran_uv"]]
    assert _lock_files(spec) == committed
    envstacks("build", spec)
    return spec


def test_the_committed_locks_are_used_as_they_are(sample: Path) -> None:
    meta = sample.parent / "requirements" / "cpython-3.11" / "pylock.cpython-3_11.meta.json"
    shown = json.loads(meta.read_text("utf-8"))
    # The runtime whose requirement has an environment marker (reference issue 18, item 1).
    assert shown["lock_input_hash"] == (
        "sha256:34f67095a5c54ac8c79639119968ef8942844cfe4f4284ca586e243544b107be"
    )


def test_the_published_metadata_is_venvstacks(sample: Path, envstacks: Envstacks) -> None:
    spec = load(sample)
    published = json.loads(envstacks("publish", "--dry-run", "--json-results", sample).stdout)
    actual = {item["layer"]: item["metadata"] for item in published["layers"]}
    expected_dir = sample.parent / "expected_manifests" / "linux_x86_64" / "env_metadata"
    expected: dict[str, dict[str, Any]] = {
        path.stem: json.loads(path.read_text("utf-8")) for path in expected_dir.glob("*.json")
    }
    assert sorted(actual) == sorted(expected)
    for layer, wanted in expected.items():
        got = actual[layer]
        for field, value in wanted.items():
            if field not in RUNTIME_DERIVED:
                assert got.get(field) == value, (layer, field)
        runtime = spec.layer(got["runtime_layer"].partition("@")[0])
        assert got["python_implementation"] == runtime.python_implementation


def test_every_application_runs_as_venvstacks_checks_it(
    sample: Path, envstacks: Envstacks, tmp_path: Path
) -> None:
    export = tmp_path / "_export🦎"
    envstacks("local-export", "--output-dir", export, sample)
    check_deployed(export, manifest_layers(export), EXPECTED_APP_OUTPUT)
