"""Deploying updates from deltas: the cheapest path, every file checked, a fallback on any doubt."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.stages.deploying import DeployOptions
from envstacks.stages.deploying.deploy_record import load_state
from kits.http_server import QuietHandler, serve
from kits.layers import FRAMEWORK, RUNTIME, Layer, Publisher, default_layers

from .test_kill import _deploy_and_die

MODULE = "lib/python3.12/site-packages"


def _v2() -> list[Layer]:
    """Version 2: the framework and app-one change one file each; the others are the same."""
    layers = default_layers()
    layers[1].files = {f"{MODULE}/fw_extra.py": "VALUE = 2\n"}
    layers[2].files = {f"{MODULE}/app_one_extra.py": "print('two')\n"}
    return layers


def _tree(root: Path) -> dict[str, Any]:
    """Every entry of a deployed layer as deploy leaves it (content, mode, link target)."""
    found: dict[str, Any] = {}
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            relative = str(path.relative_to(root))
            if relative in ("postinstall.json", "pyvenv.cfg") or "__pycache__" in relative:
                continue  # written by postinstall / placement, not from the archive
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[relative] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                found[relative] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
    return found


def _methods(result: Any) -> dict[str, str]:
    return {item.install_target: item.method for item in result.transfers}


def _delta_of(output: Path, install_target: str) -> dict[str, Any]:
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    entry = next(
        e for es in manifest["layers"].values() for e in es if e["install_target"] == install_target
    )
    (delta,) = entry["deltas"]
    return delta


@pytest.fixture
def updated(tmp_path: Path, publish_layers_to: Publisher, pm: Any) -> tuple[Path, Path, Path]:
    """Version 1 deployed into ``target``; version 2 published with deltas from version 1."""
    one = publish_layers_to(tmp_path / "one", indexes=True)
    target = tmp_path / "target"
    first = deploy(one, target, pm=pm, reporter=RecordingReporter())
    assert set(_methods(first).values()) == {"full"}
    kept = target / "__venvstacks__" / "file_indexes"
    assert sorted(p.name for p in kept.iterdir()) == sorted(
        f"{name}.files.json.gz" for name in first.installed
    )
    two = publish_layers_to(tmp_path / "two", _v2(), delta_from=one)
    return one, two, target


def test_an_update_installs_from_deltas_and_gives_the_published_tree(
    tmp_path: Path, updated: tuple[Path, Path, Path], pm: Any
):
    _, two, target = updated
    reporter = RecordingReporter()
    result = deploy(two, target, pm=pm, reporter=reporter)
    assert _methods(result) == {
        RUNTIME: "reused",
        FRAMEWORK: "delta",
        "app-one": "delta",
        "app-two@2": "reused",
    }
    transfers = {item.install_target: item for item in result.transfers}
    assert transfers[FRAMEWORK].downloaded_bytes == _delta_of(two, FRAMEWORK)["archive_size"]
    assert transfers[FRAMEWORK].base == FRAMEWORK
    assert transfers[RUNTIME].downloaded_bytes == 0
    # The same tree as a fresh deploy of the full archives, and postinstall ran.
    fresh = tmp_path / "fresh"
    deploy(two, fresh, pm=pm, reporter=RecordingReporter())
    for layer in (FRAMEWORK, "app-one"):
        assert _tree(target / layer) == _tree(fresh / layer)
        assert (target / layer / "postinstall.json").is_file()
    assert (target / FRAMEWORK / MODULE / "fw_extra.py").read_text() == "VALUE = 2\n"
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]
    # The next deploy of the same version reuses everything.
    again = deploy(two, target, pm=pm, reporter=RecordingReporter())
    assert set(_methods(again).values()) == {"reused"}


def test_a_modified_installed_file_makes_deploy_use_the_full_archive(
    tmp_path: Path, updated: tuple[Path, Path, Path], pm: Any
):
    _, two, target = updated
    module = target / FRAMEWORK / MODULE / "framework_fw.py"
    module.chmod(0o644)
    module.write_text("NAME = 'edited by hand'\n")
    reporter = RecordingReporter()
    result = deploy(two, target, pm=pm, reporter=reporter)
    assert _methods(result)[FRAMEWORK] == "full"
    assert _methods(result)["app-one"] == "delta"
    warnings = [m for level, m in reporter.messages if level == "warning"]
    assert any(FRAMEWORK in m and "modified" in m and "full archive" in m for m in warnings)
    assert module.read_text() == f"NAME = {FRAMEWORK!r}\n"
    delta = _delta_of(two, FRAMEWORK)["archive_size"]
    assert {t.install_target: t.downloaded_bytes for t in result.transfers}[FRAMEWORK] > delta


def test_a_tampered_delta_makes_deploy_use_the_full_archive(
    updated: tuple[Path, Path, Path], pm: Any
):
    _, two, target = updated
    archive = two / _delta_of(two, FRAMEWORK)["archive_name"]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    reporter = RecordingReporter()
    result = deploy(two, target, pm=pm, reporter=reporter)
    assert _methods(result)[FRAMEWORK] == "full"
    assert (target / FRAMEWORK / MODULE / "fw_extra.py").read_text() == "VALUE = 2\n"
    assert any("sha256" in m for level, m in reporter.messages if level == "warning")


def test_a_delta_for_another_base_is_not_applied(
    tmp_path: Path, updated: tuple[Path, Path, Path], publish_layers_to: Publisher, pm: Any
):
    one, _, target = updated
    other = default_layers()
    other[1].files = {f"{MODULE}/other.py": "OTHER = 1\n"}
    elsewhere = publish_layers_to(tmp_path / "elsewhere", other, indexes=True)
    two = publish_layers_to(tmp_path / "two-b", _v2(), delta_from=elsewhere)
    # A manifest that claims the delta applies to the installed version.
    installed = json.loads((one / "__venvstacks__" / "venvstacks.json").read_text())
    installed_tree = installed["layers"]["frameworks"][0]["tree_hashes"]
    manifest_path = two / "__venvstacks__" / "venvstacks.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["layers"]["frameworks"][0]["deltas"][0]["base_tree_hashes"] = installed_tree
    manifest_path.write_text(json.dumps(manifest))
    reporter = RecordingReporter()
    result = deploy(two, target, pm=pm, reporter=reporter)
    assert _methods(result)[FRAMEWORK] == "full"
    assert any("made against tree" in m for level, m in reporter.messages if level == "warning")
    assert (target / FRAMEWORK / MODULE / "fw_extra.py").is_file()
    assert not (target / FRAMEWORK / MODULE / "other.py").exists()


def test_without_a_kept_index_the_base_index_is_fetched_else_the_full_archive_is_used(
    tmp_path: Path, updated: tuple[Path, Path, Path], pm: Any
):
    _, two, target = updated
    kept = target / "__venvstacks__" / "file_indexes"
    copy = tmp_path / "copy"
    shutil.copytree(target, copy, symlinks=True)
    for path in (*kept.iterdir(), *(copy / "__venvstacks__" / "file_indexes").iterdir()):
        path.write_bytes(b"not an index")  # lost, or deployed before indexes were kept
    result = deploy(two, target, pm=pm, reporter=RecordingReporter())
    transfer = {t.install_target: t for t in result.transfers}[FRAMEWORK]
    delta = _delta_of(two, FRAMEWORK)
    assert transfer.method == "delta"
    assert transfer.downloaded_bytes == delta["archive_size"] + delta["base_file_index"]["size"]
    # Without the base's index in the source either, the full archive is used.
    (two / "__venvstacks__" / "env_metadata" / delta["base_file_index"]["name"]).unlink()
    shutil.rmtree(target)
    copy.rename(target)
    result = deploy(two, target, pm=pm, reporter=RecordingReporter())
    assert _methods(result)[FRAMEWORK] == "full"


def test_a_new_version_of_a_versioned_layer_is_assembled_beside_the_old_one(
    tmp_path: Path, publish_layers_to: Publisher, pm: Any
):
    big = {f"{MODULE}/big.txt": "".join(hashlib.sha256(b"%d" % i).hexdigest() for i in range(3000))}
    layers = default_layers()
    layers[3].files = big
    one = publish_layers_to(tmp_path / "one", layers, indexes=True)
    target = tmp_path / "target"
    deploy(one, target, pm=pm, reporter=RecordingReporter())
    layers = default_layers()
    layers[3] = Layer("app-two@3", "applications", files={**big, f"{MODULE}/more.py": "MORE = 3\n"})
    three = publish_layers_to(tmp_path / "three", layers, delta_from=one)
    result = deploy(
        three, target, DeployOptions(include=["app-two@3"]), pm=pm, reporter=RecordingReporter()
    )
    transfer = {t.install_target: t for t in result.transfers}["app-two@3"]
    assert (transfer.method, transfer.base) == ("delta", "app-two@2")
    assert (target / "app-two@2" / "postinstall.json").is_file()
    assert (target / "app-two@3" / "postinstall.json").is_file()
    assert (target / "app-two@3" / MODULE / "more.py").read_text() == "MORE = 3\n"
    assert (target / "app-two@3" / MODULE / "app_two.py").read_text() == "NAME = 'app-two@3'\n"
    shared = [target / name / MODULE / "big.txt" for name in ("app-two@2", "app-two@3")]
    assert shared[0].stat().st_ino == shared[1].stat().st_ino  # a hard link, not a copy


def test_deltas_from_a_publish_without_indexes_and_from_a_url(
    tmp_path: Path, publish_layers_to: Publisher, pm: Any
):
    # Published without file indexes (as venvstacks or an older envstacks would): the
    # earlier archives are read to index them, and their trees must hash as recorded.
    plain = publish_layers_to(tmp_path / "plain")
    two = publish_layers_to(tmp_path / "two", _v2(), delta_from=plain)
    plain_manifest = json.loads((plain / "__venvstacks__" / "venvstacks.json").read_text())
    old_tree = plain_manifest["layers"]["frameworks"][0]["tree_hashes"]
    assert _delta_of(two, FRAMEWORK)["base_tree_hashes"] == old_tree
    # Over HTTP, the published indexes are fetched instead.
    indexed = publish_layers_to(tmp_path / "indexed", indexes=True)
    with serve(indexed, QuietHandler) as url:
        three = publish_layers_to(tmp_path / "three", _v2(), delta_from=url)
    assert (
        _delta_of(three, FRAMEWORK)["archive_hashes"] == _delta_of(two, FRAMEWORK)["archive_hashes"]
    )  # the same two trees give the same delta bytes, whatever the source


@pytest.mark.parametrize("when", ["unpack", "postinstall"])
def test_a_deploy_killed_while_updating_from_a_delta_is_completed_by_the_next(
    tmp_path: Path, updated: tuple[Path, Path, Path], pm: Any, when: str
):
    _, two, target = updated
    _deploy_and_die(tmp_path, two, target, when, FRAMEWORK)
    if when == "unpack":  # killed while unpacking the delta: the installed version is intact
        assert load_state(target)[FRAMEWORK].state == "installed"
        assert not (target / FRAMEWORK / MODULE / "fw_extra.py").exists()
    else:
        assert load_state(target)[FRAMEWORK].state == "installing"
    result = deploy(two, target, pm=pm, reporter=RecordingReporter())
    assert FRAMEWORK in result.installed
    fresh = tmp_path / "fresh"
    deploy(two, fresh, pm=pm, reporter=RecordingReporter())
    assert _tree(target / FRAMEWORK) == _tree(fresh / FRAMEWORK)
    assert not [p for p in target.iterdir() if p.name.startswith(".envstacks")]
