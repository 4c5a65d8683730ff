"""Build-time byte-compiling: reproducible pyc files, refreshed when sources change, staged right.

The layers here are folders holding real modules (a slice of the interpreter's own standard
library plus modules with sets, f-strings and classes), compiled by real CPython 3.11-3.13
interpreters in separate processes, as a build does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.published.layer_config import BYTECODE_RECORD
from envstacks.stages.building.bytecode import drop_bytecode, precompile_layer
from envstacks.stages.building.staging import copy_tree
from kits.module_trees import make_module_layer, pyc_files

VERSIONS = ["3.11", "3.12", "3.13"]
MODULES = {
    "consts.py": 'KINDS = frozenset({"alpha", "beta", "gamma", "delta"})\n'
    "def kind(x):\n    return x in {'one', 'two', 'three', 'four', 'five'}\n",
    "shapes/__init__.py": "from .square import Square\n",
    "shapes/square.py": "class Square:\n    def __init__(self, side):\n        self.side = side\n"
    "    def __repr__(self):\n        return f'Square({self.side!r})'\n",
    "broken.py": "def oops(:\n",
}
STDLIB = ["argparse.py", "dataclasses.py", "json", "email", "asyncio", "xml", "unittest"]


def make_layer(root: Path, python: Path, version: str) -> Path:
    """A layer-like folder: ``lib/pythonX.Y/site-packages`` with real modules."""
    return make_module_layer(root, python, version, MODULES, STDLIB)


pycs = pyc_files


def compile_on_one_core(layer: Path, python: Path, *, seed: str) -> None:
    """What postinstall does on a target (compile missing modules), on one core, another seed."""
    script = Path(sys.modules["envstacks._injected.postinstall"].__file__ or "")
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    one_core = getattr(os, "sched_setaffinity", None)
    subprocess.run(
        [python, "-s", "-S", script, "--compile", layer],
        env=env,
        check=True,
        preexec_fn=(lambda: one_core(0, {min(os.sched_getaffinity(0))})) if one_core else None,
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_pyc_files_are_identical_across_folders_processes_seeds_and_workers(
    version: str, python_for, tmp_path: Path
) -> None:
    python = python_for(version)
    one = make_layer(tmp_path / "build-one" / "app-x", python, version)
    two = make_layer(tmp_path / "elsewhere" / "deeper" / "_build" / "app-x", python, version)
    three = make_layer(tmp_path / "third" / "app-x", python, version)
    precompile_layer(one, python, layer="app-x", reporter=RecordingReporter())
    precompile_layer(two, python, layer="app-x", reporter=RecordingReporter())
    compile_on_one_core(three, python, seed="12345")  # no worker processes, another seed

    first, second, third = pycs(one), pycs(two), pycs(three)
    assert len(first) > 100
    assert first == second == third
    tag = f"cpython-{version.replace('.', '')}"
    site = f"lib/python{version}/site-packages"
    assert f"{site}/__pycache__/consts.{tag}.pyc" in first
    assert f"{site}/__pycache__/broken.{tag}.pyc" not in first  # a syntax error: no pyc
    for data in first.values():
        assert data[4:8] == b"\x01\x00\x00\x00"  # PEP 552 hash-based, unchecked
        assert b"build-one" not in data
        assert str(tmp_path).encode() not in data
    assert f"{site}/consts.py".encode() in first[f"{site}/__pycache__/consts.{tag}.pyc"]
    record = json.loads((one / BYTECODE_RECORD).read_text())
    assert record["cache_tag"] == tag
    assert bytes.fromhex(record["magic"]) == first[f"{site}/__pycache__/consts.{tag}.pyc"][:4]


def test_python_loads_them_without_writing_and_reports_real_paths(
    python_for, tmp_path: Path
) -> None:
    python = python_for("3.12")
    layer = make_layer(tmp_path / "app-x", python, "3.12")
    precompile_layer(layer, python, layer="app-x", reporter=RecordingReporter())
    site = layer / "lib" / "python3.12" / "site-packages"
    compiled = sorted(site.rglob("*.pyc"))
    for path in site.rglob("*"):
        os.utime(path, (1, 1), follow_symlinks=False)  # any mtimes (an archive's lock time)
    os.chmod(site / "__pycache__", 0o555)
    try:
        out = subprocess.run(
            [
                python,
                "-s",
                "-c",
                "import sys, shapes, consts, json; "
                "print(shapes.Square(2), consts.kind('two'), shapes.__file__, "
                "consts.kind.__code__.co_filename, sys.dont_write_bytecode)",
            ],
            cwd=site,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.chmod(site / "__pycache__", 0o755)
    assert out.stdout.split() == [
        "Square(2)",
        "True",
        str(site / "shapes" / "__init__.py"),
        str(site / "consts.py"),  # Python puts the real path back on import
        "False",
    ]
    assert sorted(site.rglob("*.pyc")) == compiled  # nothing written, nothing rewritten
    assert {path.stat().st_mtime_ns for path in compiled} == {1_000_000_000}


def test_refresh_recompiles_changed_sources_and_removes_what_is_not_theirs(
    python_for, tmp_path: Path
) -> None:
    python = python_for("3.13")
    layer = make_layer(tmp_path / "app-x", python, "3.13")
    reporter = RecordingReporter()
    precompile_layer(layer, python, layer="app-x", reporter=reporter)
    site = layer / "lib" / "python3.13" / "site-packages"
    cache = site / "__pycache__"
    kept = cache / "argparse.cpython-313.pyc"
    kept_inode = kept.stat().st_ino
    (site / "consts.py").write_text("KINDS = 'changed'\n")
    (site / "dataclasses.py").unlink()
    for stray in ("consts.cpython-313.opt-1.pyc", "consts.cpython-311.pyc", "gone.cpython-313.pyc"):
        (cache / stray).write_bytes(b"stray")
    precompile_layer(layer, python, layer="app-x", reporter=reporter)
    names = {path.name for path in cache.iterdir()}
    assert "consts.cpython-313.pyc" in names
    assert not names & {
        "consts.cpython-313.opt-1.pyc",
        "consts.cpython-311.pyc",
        "gone.cpython-313.pyc",
        "dataclasses.cpython-313.pyc",
    }
    assert kept.stat().st_ino == kept_inode  # unchanged sources keep their pyc
    source_hash = subprocess.check_output(
        [
            python,
            "-c",
            "import importlib.util, sys; sys.stdout.buffer.write("
            f"importlib.util.source_hash(open({str(site / 'consts.py')!r}, 'rb').read()))",
        ]
    )
    assert (cache / "consts.cpython-313.pyc").read_bytes()[8:16] == source_hash


def test_dropping_bytecode_and_staging_keep_only_what_ships(python_for, tmp_path: Path) -> None:
    python = python_for("3.12")
    layer = make_layer(tmp_path / "app-x", python, "3.12")
    precompile_layer(layer, python, layer="app-x", reporter=RecordingReporter())
    site = "lib/python3.12/site-packages"
    staged = tmp_path / "staged"
    copy_tree(layer, staged, skip={f"{site}/consts.py"}, bytecode=True)
    names = {p.name for p in (staged / site / "__pycache__").iterdir()}
    assert "argparse.cpython-312.pyc" in names
    assert "consts.cpython-312.pyc" not in names  # its source is regenerated, not shipped
    for pyc in staged.rglob("*.pyc"):
        assert pyc.stat().st_ino == (layer / pyc.relative_to(staged)).stat().st_ino  # linked
    copy_tree(layer, tmp_path / "cold", skip=set(), bytecode=False)
    assert not list((tmp_path / "cold").rglob("__pycache__"))
    assert drop_bytecode(layer) > 1
    assert not list(layer.rglob("__pycache__"))
