"""Refusals: tampered archives and crafted archives (made with tarfile) never change the target."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from envstacks.floor.errors import DeployError, UnsafeArchiveError, VerificationError
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.distribution import deploy
from envstacks.published.safe_unpack import _Refusal, check_symlink
from envstacks.stages.deploying import DeployOptions
from kits.layers import RUNTIME, Layer, manifest_entry, snapshot, write_manifest

EVIL = "app-evil"


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def _special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = kind, 1, 3
    return info, b""


CRAFTED: dict[str, tuple[Callable[[], list[tuple[tarfile.TarInfo, bytes]]], str]] = {
    "dotdot": (lambda: [_file(f"{EVIL}/../../escaped.txt")], "'..' components"),
    "absolute": (lambda: [_file("/tmp/envstacks-escaped.txt")], "absolute paths are not allowed"),
    "outside-layer": (
        lambda: [_file(f"{RUNTIME}/bin/python3")],
        f"outside the layer's top folder '{EVIL}/'",
    ),
    "symlink-escape": (
        lambda: [_link(f"{EVIL}/lib/escape", "../../../outside")],
        "points outside the deployment folder",
    ),
    "symlink-absolute": (lambda: [_link(f"{EVIL}/etc", "/etc")], "is absolute"),
    "symlink-climb-after-name": (
        lambda: [_link(f"{EVIL}/sneaky", f"../{RUNTIME}/bin/../../..")],
        "'..' after a folder name",
    ),
    "write-through-symlink": (
        lambda: [
            _link(f"{EVIL}/rt", f"../{RUNTIME}"),
            _file(f"{EVIL}/rt/bin/python3", b"#!/bin/sh\n"),
        ],
        "written through the symlink",
    ),
    "hardlink-escape": (
        lambda: [_link(f"{EVIL}/passwd", "../../etc/passwd", tarfile.LNKTYPE)],
        "hard link target '../../etc/passwd' points outside the layer folder",
    ),
    "hardlink-other-layer": (
        lambda: [_link(f"{EVIL}/py", f"{RUNTIME}/bin/python3", tarfile.LNKTYPE)],
        "points outside the layer folder",
    ),
    "device": (lambda: [_special(f"{EVIL}/null", tarfile.CHRTYPE)], "it is a character device"),
    "fifo": (lambda: [_special(f"{EVIL}/pipe", tarfile.FIFOTYPE)], "it is a fifo"),
    "setuid": (
        lambda: [_file(f"{EVIL}/bin/su", b"#!/bin/sh\n", 0o4755)],
        "sets the setuid/setgid bit",
    ),
    "setgid": (
        lambda: [_file(f"{EVIL}/bin/sg", b"#!/bin/sh\n", 0o2755)],
        "sets the setuid/setgid bit",
    ),
    "duplicate": (lambda: [_file(f"{EVIL}/a"), _file(f"{EVIL}/a", b"y")], "appears twice"),
    # Names the file system cannot hold, and entries clashing with a folder an earlier entry
    # made: refused like any other bad entry (they used to reach the "bug" message).
    "name-too-long": (lambda: [_file(f"{EVIL}/" + "n" * 300)], "longer than 255 bytes"),
    "path-too-long": (
        lambda: [_file(f"{EVIL}/" + "/".join(["d" * 200] * 25) + "/f")],
        "cannot be created by that name (File name too long)",
    ),
    "file-after-folder": (
        lambda: [_file(f"{EVIL}/d/x"), _file(f"{EVIL}/d")],
        "an earlier entry made a folder of that name",
    ),
    "symlink-after-folder": (
        lambda: [_file(f"{EVIL}/d/x"), _link(f"{EVIL}/d", "x")],
        "an earlier entry made a folder of that name",
    ),
    "hardlink-after-folder": (
        lambda: [
            _file(f"{EVIL}/a"),
            _file(f"{EVIL}/d/x"),
            _link(f"{EVIL}/d", f"{EVIL}/a", tarfile.LNKTYPE),
        ],
        "an earlier entry made a folder of that name",
    ),
}


def _crafted_archive(folder: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    archive = folder / f"{EVIL}.tar.xz"
    with tarfile.open(archive, "w:xz", format=tarfile.PAX_FORMAT) as tar:
        top = tarfile.TarInfo(EVIL)
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(top)
        post = tarfile.TarInfo(f"{EVIL}/postinstall.py")
        post.size = 0
        tar.addfile(post, io.BytesIO(b""))
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data else None)
    return archive


@pytest.fixture
def deployed_runtime(tmp_path, publish_layers_to, pm):
    """A target with the runtime already deployed, and the publish folder it came from."""
    output = publish_layers_to(tmp_path / "dist", [Layer(RUNTIME, "runtimes")])
    target = tmp_path / "deployed"
    deploy(output, target, pm=pm, reporter=RecordingReporter())
    return output, target


def _publish_crafted(output: Path, archive: Path) -> None:
    manifest = output / "__venvstacks__" / "venvstacks.json"
    data = json.loads(manifest.read_text())
    evil = Layer(EVIL, "applications")
    entry = manifest_entry(evil, archive, fmt="tar.xz", tree=None)
    runtimes = [(Layer(RUNTIME, "runtimes"), data["layers"]["runtimes"][0])]
    write_manifest(output, [*runtimes, (evil, entry)])


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_archive_is_refused_and_target_unchanged(case, deployed_runtime, pm):
    output, target = deployed_runtime
    make_members, message = CRAFTED[case]
    _publish_crafted(output, _crafted_archive(output, make_members()))
    before = snapshot(target)
    state_before = (target / "__venvstacks__" / "deployed.json").read_bytes()

    with pytest.raises(UnsafeArchiveError) as caught:
        deploy(output, target, pm=pm, reporter=RecordingReporter())

    assert message in str(caught.value)
    assert f"archive '{EVIL}.tar.xz'" in str(caught.value)
    assert snapshot(target) == before
    assert (target / "__venvstacks__" / "deployed.json").read_bytes() == state_before
    assert not (target.parent / "escaped.txt").exists()
    assert not (target.parent / "outside").exists()


def test_tampered_archive_fails_verification_naming_both_hashes(
    deployed_runtime, publish_layers_to, pm, tmp_path
):
    output, target = deployed_runtime
    publish_layers_to(output, [Layer(RUNTIME, "runtimes"), Layer("app-one", "applications")])
    archive = output / "app-one.tar.zst"
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    expected = manifest["layers"]["applications"][0]["archive_hashes"]["sha256"]
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    archive.write_bytes(bytes(data))
    before = snapshot(target)

    with pytest.raises(VerificationError) as caught:
        deploy(output, target, pm=pm, reporter=RecordingReporter())

    text = str(caught.value)
    assert "archive 'app-one.tar.zst'" in text and f"the manifest records {expected}" in text
    assert "sha256 is " in text
    assert snapshot(target) == before


def test_truncated_archive_fails_on_size(deployed_runtime, publish_layers_to, pm):
    output, target = deployed_runtime
    publish_layers_to(output, [Layer(RUNTIME, "runtimes"), Layer("app-one", "applications")])
    archive = output / "app-one.tar.zst"
    size = archive.stat().st_size
    archive.write_bytes(archive.read_bytes()[:-7])
    with pytest.raises(
        VerificationError, match=rf"size is {size - 7} bytes, the manifest records {size} bytes"
    ):
        deploy(output, target, pm=pm, reporter=RecordingReporter())


def test_other_layers_still_deploy_when_one_is_refused(deployed_runtime, publish_layers_to, pm):
    output, target = deployed_runtime
    publish_layers_to(output, [Layer(RUNTIME, "runtimes"), Layer("app-one", "applications")])
    manifest_file = output / "__venvstacks__" / "venvstacks.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["layers"]["applications"][0]["archive_hashes"]["sha256"] = "0" * 64
    manifest_file.write_text(json.dumps(manifest))
    result = deploy(
        output, target, DeployOptions(raise_on_refusal=False), pm=pm, reporter=RecordingReporter()
    )
    assert [entry.error for entry in result.refused] == ["VerificationError"]
    assert result.reused == (RUNTIME,)
    assert not result.ok


def test_manifest_names_must_be_plain(deployed_runtime, pm):
    output, target = deployed_runtime
    manifest_file = output / "__venvstacks__" / "venvstacks.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["layers"]["runtimes"][0]["install_target"] = "../outside"
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(Exception, match=r"install_target: '../outside' is not a plain file name"):
        deploy(output, target, pm=pm, reporter=RecordingReporter())


@pytest.mark.parametrize(
    ("link", "target", "ok"),
    [
        ("app/bin/python_", "../../cpython/bin/python", True),
        ("app/bin/python3", "python", True),
        ("app/lib/x", "./y/./z", True),
        ("app/a", "..", True),
        ("app/a", "../..", False),
        ("app/bin/x", "../../../x", False),
        ("app/bin/x", "../lib/../..", False),
        ("app/bin/x", "", False),
        ("app/bin/x", "/usr/bin/python3", False),
        ("app/bin/x", "C:/Windows", False),
    ],
)
def test_symlink_rule(link, target, ok):
    refuse = _Refusal("a.tar", Path("/deploy"))
    parts = tuple(link.split("/"))
    if ok:
        check_symlink(parts, target, refuse)
    else:
        with pytest.raises(UnsafeArchiveError):
            check_symlink(parts, target, refuse)


def _set_bounds(output: Path, install_target: str, **fields: int) -> None:
    manifest_file = output / "__venvstacks__" / "venvstacks.json"
    manifest = json.loads(manifest_file.read_text())
    for entries in manifest["layers"].values():
        for entry in entries:
            if entry["install_target"] == install_target:
                entry.update(fields)
    manifest_file.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ({"unpacked_size": 100_000}, "expands beyond the 100000 bytes its manifest records"),
        ({"unpacked_entries": 5}, "holds more than the 5 entries its manifest records"),
    ],
    ids=["size", "entries"],
)
def test_archive_expanding_beyond_its_recorded_bounds_is_refused(
    deployed_runtime, publish_layers_to, pm, bounds, message
):
    """A small archive that unpacks to far more than publish recorded (a decompression bomb)."""
    output, target = deployed_runtime
    bomb = Layer("app-one", "applications", files={"zeros.txt": "0" * 20_000_000})
    publish_layers_to(output, [Layer(RUNTIME, "runtimes"), bomb])
    assert (output / "app-one.tar.zst").stat().st_size < 100_000
    _set_bounds(output, "app-one", **bounds)
    before = snapshot(target)

    with pytest.raises(UnsafeArchiveError, match=message):
        deploy(output, target, pm=pm, reporter=RecordingReporter())

    assert snapshot(target) == before  # the work folder, and what it held, is gone


def test_archive_within_its_recorded_bounds_deploys(deployed_runtime, publish_layers_to, pm):
    output, target = deployed_runtime
    layer = Layer("app-one", "applications", files={"zeros.txt": "0" * 1_000_000})
    publish_layers_to(output, [Layer(RUNTIME, "runtimes"), layer])
    _set_bounds(output, "app-one", unpacked_size=1_000_000 + 10_000, unpacked_entries=20)
    result = deploy(output, target, pm=pm, reporter=RecordingReporter())
    assert result.installed == ("app-one",)


@pytest.mark.parametrize("value", [-1, "big", True, 1.5])
def test_a_bad_unpacked_bound_in_the_manifest_is_refused(deployed_runtime, pm, value):
    output, target = deployed_runtime
    _set_bounds(output, RUNTIME, unpacked_size=value)
    with pytest.raises(DeployError, match=r"unpacked_size: expected a non-negative integer"):
        deploy(output, target, pm=pm, reporter=RecordingReporter())


def test_a_manifest_nested_too_deeply_is_a_clear_error(tmp_path, pm):
    output = tmp_path / "dist"
    (output / "__venvstacks__").mkdir(parents=True)
    depth = 100_000
    (output / "__venvstacks__" / "venvstacks.json").write_text(
        '{"layers": {"runtimes": ' + "[" * depth + "]" * depth + "}}"
    )
    with pytest.raises(DeployError, match=r"venvstacks\.json: nested more than 64 levels deep"):
        deploy(output, tmp_path / "target", pm=pm, reporter=RecordingReporter())
