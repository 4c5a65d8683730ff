"""The uv-managed provider against a local python-build-standalone mirror (no network).

The archive is made in the test from a local CPython made relocatable by envstacks' own
local provider, in the layout python-build-standalone uses (a ``python/`` top folder,
``.tar.gz``), and is announced by a downloads JSON with a ``file://`` URL and its sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import RuntimeProvisionError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.runtime import provision_runtime, runtime_python

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
    reason="the test mirror is made from a local Linux x86_64 CPython",
)


@dataclass(frozen=True)
class Mirror:
    downloads_json: Path
    version: str


@pytest.fixture(scope="module")
def mirror(
    tmp_path_factory: pytest.TempPathFactory,
    python_for: Callable[[str], Path],
    python_runner: Callable[..., Any],
    isolated: Callable[..., Any],
    stack_writer: Callable[..., Any],
) -> Mirror:
    """A downloads JSON announcing one relocatable CPython 3.12 archive on the local disk."""
    tmp = tmp_path_factory.mktemp("mirror")
    source = python_for("3.12")
    prefix = python_runner(source, "import sys; print(sys.prefix)").stdout.strip()
    with isolated(tmp / "cache", ENVSTACKS_PYTHON_SEARCH_PATH=prefix):
        spec = stack_writer(tmp / "maker", python="cpython@3.12", provider="local")
        made = provision_runtime(
            spec,
            spec.runtimes[0],
            tmp / "python",
            pm=get_plugin_manager(load_entrypoints=False),
            reporter=RecordingReporter(),
        )
    archive = tmp / f"cpython-{made.version}-test-x86_64-unknown-linux-gnu-install_only.tar.gz"
    # compresslevel 1: the archive is read once; compressing harder only costs CPU here.
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(tmp / "python", arcname="python")
    major, minor, patch = (int(part) for part in made.version.split("."))
    key = f"cpython-{made.version}-linux-x86_64-gnu"
    entry = {
        "name": "cpython",
        "arch": {"family": "x86_64", "variant": None},
        "os": "linux",
        "libc": "gnu",
        "major": major,
        "minor": minor,
        "patch": patch,
        "prerelease": "",
        "url": archive.as_uri(),
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "variant": None,
        "build": "20240101",
    }
    downloads = tmp / "downloads.json"
    downloads.write_text(json.dumps({key: entry}), encoding="utf-8")
    return Mirror(downloads_json=downloads, version=made.version)


def _provision(spec: Any, destination: Path) -> tuple[Any, RecordingReporter]:
    reporter = RecordingReporter()
    result = provision_runtime(
        spec,
        spec.runtimes[0],
        destination,
        pm=get_plugin_manager(load_entrypoints=False),
        reporter=reporter,
    )
    return result, reporter


def _check_runtime(destination: Path, version: str, python_runner: Callable[..., Any]) -> None:
    moved = destination.parent / "moved" / "runtime"
    moved.parent.mkdir()
    destination.rename(moved)
    out = python_runner(
        runtime_python(moved),
        "import ssl, sqlite3, ctypes, zlib, lzma, bz2, venv, sys, platform; "
        "print(sys.prefix); print(platform.python_version())",
    )
    assert out.stdout.split() == [os.fspath(moved), version]
    stdlib = moved / "lib" / f"python{version.rsplit('.', 1)[0]}"
    assert list((stdlib / "site-packages").iterdir()) == []
    # uv marks its own installations as externally managed; a runtime layer must not be.
    assert not (stdlib / "EXTERNALLY-MANAGED").exists()


def test_downloads_json_from_the_environment(
    mirror: Mirror, tmp_path: Path, isolated, stack_writer, python_runner
) -> None:
    cache = tmp_path / "cache"
    with isolated(cache, UV_PYTHON_DOWNLOADS_JSON_URL=os.fspath(mirror.downloads_json)):
        spec = stack_writer(
            tmp_path / "project", python=f"cpython@{mirror.version}", provider="uv-managed"
        )
        result, reporter = _provision(spec, tmp_path / "runtime")
    assert result.provider == "uv-managed"
    assert result.version == mirror.version
    assert os.fspath(cache / "uv-python") in result.source
    assert os.fspath(mirror.downloads_json) in result.source
    # The interpreter was installed into envstacks' cache, not the user's uv folder.
    assert list((cache / "uv-python").glob(f"cpython-{mirror.version}-*/bin/python3*"))
    assert any("'uv-managed'" in text for text in reporter.texts("info"))
    _check_runtime(tmp_path / "runtime", mirror.version, python_runner)


def test_downloads_json_from_the_stack_uv_settings(
    mirror: Mirror, tmp_path: Path, isolated, stack_writer, python_runner
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    # A relative path in [tool.venvstacks.uv] is taken relative to the pyproject.toml.
    (project / "pythons.json").write_bytes(mirror.downloads_json.read_bytes())
    with isolated(tmp_path / "cache"):
        spec = stack_writer(
            project,
            python="cpython@3.12",
            provider="auto",
            uv={"python-downloads-json-url": "pythons.json"},
        )
        result, reporter = _provision(spec, tmp_path / "runtime")
    assert result.provider == "uv-managed"
    assert os.fspath(project / "pythons.json") in result.source
    assert not [text for text in reporter.texts() if text.startswith("cpython-3.12: local:")]
    _check_runtime(tmp_path / "runtime", mirror.version, python_runner)


def test_offline_mode_reuses_the_cached_install(
    mirror: Mirror, tmp_path: Path, isolated, stack_writer
) -> None:
    cache = tmp_path / "cache"
    with isolated(cache, UV_PYTHON_DOWNLOADS_JSON_URL=os.fspath(mirror.downloads_json)):
        spec = stack_writer(
            tmp_path / "project", python=f"cpython@{mirror.version}", provider="uv-managed"
        )
        _provision(spec, tmp_path / "first")
    # Offline and without the downloads JSON: only the cache can serve the request.
    with isolated(cache, UV_OFFLINE="1"):
        result, _reporter = _provision(spec, tmp_path / "second")
        assert result.provider == "uv-managed"
        assert "already in" in result.source
        spec_other = stack_writer(
            tmp_path / "other", python="cpython@3.12.99", provider="uv-managed"
        )
        with pytest.raises(RuntimeProvisionError, match="offline mode") as caught:
            _provision(spec_other, tmp_path / "third")
    assert "python-downloads-json-url" in str(caught.value)
    assert not (tmp_path / "third").exists()
