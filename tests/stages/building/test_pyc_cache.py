"""The pyc cache: warm builds install the bytes a cold build compiles, and compile nothing else.

Layers here are folders of real modules (a slice of the interpreter's standard library plus a
few of their own) compiled by a real CPython 3.12 in separate processes, as a build does;
each test has its own cache folder.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from envstacks.floor.content_cache import ContentCache
from envstacks.floor.errors import SettingError
from envstacks.floor.report import RecordingReporter
from envstacks.stages.building.bytecode import precompile_layer
from envstacks.stages.building.pyc_cache import CACHE_DIR_VARIABLE, pyc_cache
from kits.module_trees import make_module_layer, pyc_files

MODULES = {
    "consts.py": "KINDS = frozenset({'alpha', 'beta', 'gamma'})\n",
    "shapes/__init__.py": "class Square:\n    def area(self, side):\n        return side * side\n",
    "broken.py": "def oops(:\n",
}
STDLIB = ["json", "email", "argparse.py"]
SITE = "lib/python3.12/site-packages"


def make_layer(root: Path, python: Path) -> Path:
    return make_module_layer(root, python, "3.12", MODULES, STDLIB)


pycs = pyc_files


def compile_layer(layer: Path, python: Path) -> list[str]:
    """Precompile ``layer``; return the modules the interpreter was asked to compile."""
    reporter = RecordingReporter()
    precompile_layer(layer, python, layer="app-x", reporter=reporter)
    messages = [message for _level, message in reporter.messages]
    listed = [message for message in messages if "--compile-listed" in message]
    counted = [message for message in messages if "modules compiled" in message]
    assert len(counted) == 1
    return [str(len(listed)), *counted[0].split()[1:2]]


@pytest.fixture
def python(python_for) -> Path:
    return python_for("3.12")


@pytest.fixture
def cold(python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The pyc files of the layer compiled with the cache off (what builds did before it)."""
    monkeypatch.setenv(CACHE_DIR_VARIABLE, "off")
    layer = make_layer(tmp_path / "cold" / "app-x", python)
    precompile_layer(layer, python, layer="app-x", reporter=RecordingReporter())
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(tmp_path / "pyc-cache"))
    return pycs(layer)


def test_a_warm_build_installs_the_cold_bytes_and_compiles_nothing(
    python: Path, tmp_path: Path, cold: dict[str, bytes]
) -> None:
    first = make_layer(tmp_path / "first" / "app-x", python)
    assert compile_layer(first, python) == ["1", f"{len(cold) + 1}"]  # + broken.py, which fails
    second = make_layer(tmp_path / "elsewhere" / "_build" / "app-x", python)
    assert compile_layer(second, python) == ["0", "0"]  # broken.py is known not to compile
    assert len(cold) > 30
    assert pycs(first) == pycs(second) == cold
    pyc = f"{SITE}/__pycache__/consts.cpython-312.pyc"
    assert (second / pyc).stat().st_nlink == 3  # linked from the cache: no new file written
    assert compile_layer(second, python) == ["0", "0"]  # a rebuild changes nothing
    assert pycs(second) == cold


def test_a_changed_source_is_compiled_again_and_only_it(
    python: Path, tmp_path: Path, cold: dict[str, bytes]
) -> None:
    compile_layer(make_layer(tmp_path / "first" / "app-x", python), python)
    layer = make_layer(tmp_path / "second" / "app-x", python)
    (layer / SITE / "consts.py").write_text("KINDS = 'changed'\n")
    assert compile_layer(layer, python) == ["1", "1"]
    compiled = pycs(layer)
    pyc = f"{SITE}/__pycache__/consts.cpython-312.pyc"
    assert compiled[pyc] != cold[pyc]
    assert b"changed" in compiled[pyc]
    assert {k: v for k, v in compiled.items() if k != pyc} == {
        k: v for k, v in cold.items() if k != pyc
    }


def test_a_damaged_entry_is_found_recompiled_and_never_installed(
    python: Path, tmp_path: Path, cold: dict[str, bytes]
) -> None:
    first = make_layer(tmp_path / "first" / "app-x", python)
    compile_layer(first, python)
    pyc = f"{SITE}/__pycache__/consts.cpython-312.pyc"
    entries = [
        entry for entry in (tmp_path / "pyc-cache").rglob("*.*") if entry.read_bytes() == cold[pyc]
    ]
    assert len(entries) == 1
    (first / pyc).unlink()  # the build's link: only the cache's copy is damaged below
    damaged = bytearray(entries[0].read_bytes())
    damaged[-3] ^= 0xFF
    entries[0].write_bytes(bytes(damaged))
    second = make_layer(tmp_path / "second" / "app-x", python)
    assert compile_layer(second, python) == ["1", "1"]
    assert pycs(second) == cold
    assert entries[0].read_bytes() == cold[pyc]  # removed, and replaced by a good entry
    assert compile_layer(make_layer(tmp_path / "third" / "app-x", python), python) == ["0", "0"]


def test_concurrent_builds_share_a_cold_cache(
    python: Path, tmp_path: Path, cold: dict[str, bytes]
) -> None:
    layers = [make_layer(tmp_path / f"build-{n}" / "app-x", python) for n in range(3)]
    threads = [threading.Thread(target=compile_layer, args=(layer, python)) for layer in layers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for layer in layers:
        assert pycs(layer) == cold
    assert not [p for p in (tmp_path / "pyc-cache").rglob("*") if p.name.startswith(".envstacks")]


def test_off_compiles_everything_without_a_cache(
    python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cold: dict[str, bytes]
) -> None:
    monkeypatch.setenv(CACHE_DIR_VARIABLE, "OFF")
    assert pyc_cache() is None
    layer = make_layer(tmp_path / "first" / "app-x", python)
    precompile_layer(layer, python, layer="app-x", reporter=RecordingReporter())
    assert pycs(layer) == cold
    assert not (tmp_path / "pyc-cache").exists()


def test_pruning_removes_the_least_recently_used_entries(tmp_path: Path) -> None:
    cache = ContentCache(tmp_path / "cache", max_bytes=10_000)
    sources = tmp_path / "pycs"
    sources.mkdir()
    for n in range(8):
        pyc = sources / f"{n}.pyc"
        pyc.write_bytes(bytes([n]) * 2_000)
        cache.store(f"{n:02d}" * 32, pyc)
        entry = cache.find(f"{n:02d}" * 32)
        assert entry is not None
        os.utime(entry, (1_000_000 + n, 1_000_000 + n))
    assert cache.prune() == 4  # 16 kB > 10 kB: down to 8 kB, oldest first
    fresh = ContentCache(tmp_path / "cache", max_bytes=10_000)
    assert [fresh.find(f"{n:02d}" * 32) is not None for n in range(8)] == [False] * 4 + [True] * 4
    assert fresh.prune() == 0


def test_a_bad_size_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVSTACKS_PYC_CACHE_MB", "1GB")
    with pytest.raises(SettingError, match=r"ENVSTACKS_PYC_CACHE_MB='1GB': not a whole number"):
        pyc_cache()
    monkeypatch.setenv("ENVSTACKS_PYC_CACHE_MB", "0")
    assert pyc_cache() is None


def test_compile_listed_refuses_a_module_outside_the_layer(python: Path, tmp_path: Path) -> None:
    layer = make_layer(tmp_path / "app-x", python)
    (tmp_path / "outside.py").write_text("X = 1\n")
    from envstacks._injected import postinstall

    script = Path(postinstall.__file__)
    done = subprocess.run(
        [python, "-s", "-S", script, "--compile-listed", layer],
        input="../outside.py\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "'../outside.py' lies outside the layer" in done.stderr
    assert not (tmp_path / "__pycache__").exists()


def test_compile_listed_names_only_the_modules_whose_source_does_not_compile(
    python: Path, tmp_path: Path, read_only_bind
) -> None:
    """The build remembers those as failed; one a file system error stopped is tried again."""
    layer = make_layer(tmp_path / "app-x", python)
    folder = layer / SITE / "shapes" / "__pycache__"
    folder.mkdir()
    read_only_bind(folder)  # its pyc cannot be written there (EROFS), as on a full disk
    from envstacks._injected import postinstall

    done = subprocess.run(
        [python, "-s", "-S", Path(postinstall.__file__), "--compile-listed", layer],
        input=f"{SITE}/broken.py\n{SITE}/shapes/__init__.py\n{SITE}/consts.py\n",
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines() == [f"{SITE}/broken.py"]
    assert not list(folder.iterdir())
    assert (layer / SITE / "__pycache__" / "consts.cpython-312.pyc").is_file()
