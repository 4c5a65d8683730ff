"""Deltas and file indexes under attack (issue 20, classes 3, 5 and 6).

Crafted recipes, crafted installed trees and damaged kept indexes end in the full archive,
never in a link across layers, a crash or a memory blow-up.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.errors import DeployError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.published.archive_protocol import MemberKind
from envstacks.published.delta_recipe import DeltaRecipe
from envstacks.published.file_index import FileIndex, IndexEntry
from kits.layers import FRAMEWORK

from .test_delta_deploy import MODULE, _methods
from .test_delta_deploy import updated as updated  # noqa: PLC0414 - the fixture, re-exported

SHA = "0" * 64


def _base() -> FileIndex:
    return FileIndex(
        root="fw",
        entries=(
            IndexEntry(path="a", kind=MemberKind.DIR, mode=0o755),
            IndexEntry(path="a/x.py", kind=MemberKind.FILE, mode=0o644, size=1, sha256=SHA),
        ),
    )


def _recipe(body: str, base: FileIndex) -> bytes:
    return (
        f'{{"base_tree_sha256":"{base.tree_sha256}","changed":[],"format":"envstacks-delta",'
        f'"moved":[],"payload":[],{body},"root":"fw","tree_sha256":"{SHA}","version":1}}'
    ).encode()


def test_a_recipe_removing_millions_of_paths_is_refused_at_the_first_one_too_many() -> None:
    base = _base()
    # 2 million removals in 26 MB (the 18 million of the issue take the same path: see
    # benchmarks/recipe_memory.py for the memory): refused at the first path the base lacks.
    body = '"remove":[' + ",".join(f'"p{i}"' for i in range(2_000_000)) + "]"
    with pytest.raises(DeployError, match="a path its base does not have"):
        DeltaRecipe.from_bytes(_recipe(body, base), where="d", error=DeployError, base=base)
    twice = '"remove":["a/x.py","a/x.py"]'
    with pytest.raises(DeployError, match="or twice"):
        DeltaRecipe.from_bytes(_recipe(twice, base), where="d", error=DeployError, base=base)


def test_a_recipe_with_more_changed_entries_than_the_new_tree_has_is_refused() -> None:
    base = _base()
    rows = ",".join(f'["n{i}","d",493]' for i in range(10))
    text = _recipe('"remove":[]', base).replace(b'"changed":[]', f'"changed":[{rows}]'.encode())
    with pytest.raises(DeployError, match="more changed entries than the 5"):
        DeltaRecipe.from_bytes(text, where="d", error=DeployError, base=base, max_entries=5)


@pytest.mark.parametrize(
    "text",
    [b"[" * 200_000 + b"]" * 200_000, b'{"changed":' + b"[" * 5000 + b"]" * 5000 + b"}"],
    ids=["deep", "deep-list"],
)
def test_a_deeply_nested_recipe_is_refused_not_a_bug(text: bytes) -> None:
    with pytest.raises(DeployError, match="nested more than 64 levels deep"):
        DeltaRecipe.from_bytes(text, where="d", error=DeployError, base=_base())


def test_a_damaged_kept_index_is_discarded_and_fetched_again(
    updated: tuple[Path, Path, Path],
    pm: Any,
) -> None:
    _one, two, target = updated
    kept = target / "__venvstacks__" / "file_indexes" / f"{FRAMEWORK}.files.json.gz"
    kept.write_bytes(gzip.compress(b"[" * 1_000_000 + b"]" * 1_000_000))
    reporter = RecordingReporter()
    result = deploy(two, target, pm=pm, reporter=reporter)
    warnings = [m for level, m in reporter.messages if level == "warning"]
    assert any("kept file index is damaged and was discarded" in m for m in warnings), warnings
    assert _methods(result)[FRAMEWORK] == "delta"  # the published base index served instead
    FileIndex.from_bytes(kept.read_bytes(), where="kept", error=DeployError)  # rebuilt


def test_assembly_never_follows_a_link_in_the_installed_version(
    updated: tuple[Path, Path, Path],
    pm: Any,
    tmp_path: Path,
) -> None:
    """A folder of the installed base replaced by a link to identical files elsewhere."""
    _one, two, target = updated
    site = target / FRAMEWORK / MODULE
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(site, elsewhere)
    shutil.rmtree(site)
    site.symlink_to(elsewhere)
    reporter = RecordingReporter()
    result = deploy(two, target, pm=pm, reporter=reporter)
    assert _methods(result)[FRAMEWORK] == "full"
    warnings = [m for level, m in reporter.messages if level == "warning"]
    assert any("missing or modified" in m for m in warnings), warnings
    outside = {(p.stat().st_dev, p.stat().st_ino) for p in elsewhere.rglob("*") if p.is_file()}
    for folder, _dirs, files in os.walk(target / FRAMEWORK):
        for name in files:
            info = (Path(folder) / name).lstat()
            assert (info.st_dev, info.st_ino) not in outside  # nothing linked from outside
