"""Portability clean-up on synthetic layers: scripts, build metadata, RECORD rows, symlinks."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from envstacks.stages.building.portability import (
    clean_scripts,
    convert_symlinks,
    drop_build_metadata,
    edit_records,
    ensure_portability,
)


def write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def record_rows(record: Path) -> list[str]:
    return [row[0] for row in csv.reader(record.read_text().splitlines()) if row]


def make_env(root: Path) -> tuple[Path, Path]:
    env = root / "build" / "framework-x"
    site = env / "lib" / "python3.12" / "site-packages"
    write(env / "bin" / "python", "#!/bin/bash\n")
    (env / "bin" / "python3").symlink_to("python")
    (env / "bin" / "python_").symlink_to("../../cpython/bin/python")
    write(env / "bin" / "activate")
    write(env / "bin" / "tool", "#!/abs/build/framework-x/bin/python\n")
    write(env / "bin" / "__pycache__" / "x.pyc")
    write(env / "bin" / "python-helpers" / "data")
    write(site / "pkg" / "__init__.py")
    info = site / "pkg-1.0.dist-info"
    write(info / "direct_url.json", json.dumps({"url": "file:///abs/wheels/pkg-1.0.whl"}))
    write(info / "uv_cache.json", '{"timestamp": 1}')
    rows = [
        "pkg/__init__.py,sha256=abc,1",
        "../../../bin/tool,sha256=def,2",
        "pkg-1.0.dist-info/direct_url.json,,",
        "pkg-1.0.dist-info/uv_cache.json,,",
        "pkg-1.0.dist-info/RECORD,,",
    ]
    write(info / "RECORD", "\n".join(rows) + "\n")
    other = site / "web-2.0.dist-info"
    write(other / "direct_url.json", json.dumps({"url": "https://example.org/web-2.0.whl"}))
    write(other / "RECORD", "web-2.0.dist-info/direct_url.json,,\nweb-2.0.dist-info/RECORD,,\n")
    return env, site


def test_bin_keeps_only_the_interpreter_names(tmp_path: Path) -> None:
    env, _ = make_env(tmp_path)
    removed = clean_scripts(env)
    assert sorted(p.name for p in (env / "bin").iterdir()) == ["python", "python3", "python_"]
    assert sorted(p.name for p in removed) == ["__pycache__", "activate", "python-helpers", "tool"]


def test_build_machine_metadata_goes_but_remote_urls_stay(tmp_path: Path) -> None:
    _, site = make_env(tmp_path)
    removed = drop_build_metadata(site)
    assert sorted(p.name for p in removed) == ["direct_url.json", "uv_cache.json"]
    assert (site / "web-2.0.dist-info" / "direct_url.json").exists()


def test_records_lose_exactly_the_removed_rows_and_are_replaced_not_edited(tmp_path: Path) -> None:
    env, site = make_env(tmp_path)
    record = site / "pkg-1.0.dist-info" / "RECORD"
    shared = tmp_path / "uv-cache-copy"
    os.link(record, shared)  # as if uv had hard-linked it from its cache
    original = shared.read_text()
    removed = clean_scripts(env) + drop_build_metadata(site)
    edited = edit_records(site, removed)
    assert edited == [record]
    assert record_rows(record) == ["pkg/__init__.py", "pkg-1.0.dist-info/RECORD"]
    assert shared.read_text() == original
    assert record.read_text().endswith("\n") and "\r" not in record.read_text()
    # The untouched distribution keeps its RECORD file (same inode).
    assert edit_records(site, removed) == []


def test_symlinks_inside_become_relative_and_outside_become_files(tmp_path: Path) -> None:
    env, site = make_env(tmp_path)
    boundary = tmp_path / "build"
    outside = write(tmp_path / "elsewhere" / "libext.so.1", "lib")
    write(tmp_path / "elsewhere" / "data" / "file.txt", "data")
    inside = write(boundary / "cpython" / "lib" / "libpython.so", "py")
    (site / "abs_inside.so").symlink_to(inside)
    (site / "abs_outside.so").symlink_to(outside)
    (site / "rel_outside").symlink_to(os.path.relpath(tmp_path / "elsewhere" / "data", site))
    (site / "dangling").symlink_to("/nonexistent/elsewhere")
    (site / "fine").symlink_to("pkg/__init__.py")
    fixed = convert_symlinks(env, boundary)
    assert sorted(p.name for p in fixed) == [
        "abs_inside.so",
        "abs_outside.so",
        "dangling",
        "rel_outside",
    ]
    assert os.readlink(site / "abs_inside.so") == os.path.relpath(inside, site)
    assert (site / "abs_inside.so").read_text() == "py"
    assert not (site / "abs_outside.so").is_symlink()
    assert (site / "abs_outside.so").stat().st_ino == outside.stat().st_ino
    assert (site / "rel_outside" / "file.txt").read_text() == "data"
    assert not (site / "rel_outside").is_symlink()
    assert not os.path.lexists(site / "dangling")
    assert os.readlink(site / "fine") == "pkg/__init__.py"
    assert os.readlink(env / "bin" / "python_") == "../../cpython/bin/python"


def test_ensure_portability_reports_everything(tmp_path: Path) -> None:
    env, site = make_env(tmp_path)
    report = ensure_portability(env, site, boundary=tmp_path / "build")
    assert len(report.removed) == 6
    assert report.records_edited == (site / "pkg-1.0.dist-info" / "RECORD",)
    assert report.symlinks_fixed == ()
