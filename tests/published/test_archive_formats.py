"""Archive formats: byte-for-byte reproducible from any folder; normalised members; the hook."""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from envstacks.floor.errors import PublishError, SpecError
from envstacks.floor.hookmarkers import hookimpl
from envstacks.floor.report import RecordingReporter
from envstacks.orchestrator.plugins import get_plugin_manager
from envstacks.published.archive_formats import (
    BUILTIN_FORMATS,
    MemberKind,
    format_for_archive,
    get_format,
)
from envstacks.published.archive_tar import ZSTD_LEVEL, TarZstFormat, write_tar
from envstacks.published.file_index import tree_hash
from envstacks.published.layer_tree import lock_mtime, scan_tree
from kits.trees import LOCK_MTIME, make_tree, modes_of

FORMATS = sorted(BUILTIN_FORMATS)


def _pack(fmt_name: str, tree: Path, archive: Path, root: str = "framework-x@2") -> bytes:
    reporter = RecordingReporter()
    with reporter.task(root, "pack") as task:
        BUILTIN_FORMATS[fmt_name].pack(tree, archive, root_name=root, mtime=LOCK_MTIME, task=task)
    return archive.read_bytes()


def _uncompressed(fmt_name: str, data: bytes) -> bytes:
    if fmt_name == "tar.xz":
        return lzma.decompress(data)
    if fmt_name == "tar.zst":
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


@pytest.mark.parametrize("fmt_name", FORMATS)
def test_same_bytes_from_different_folders_users_umasks_and_times(tmp_path, fmt_name):
    one = make_tree(tmp_path / "build-one" / "env", umask=0o022, mtime=1_600_000_000.25)
    two = make_tree(
        tmp_path / "elsewhere" / "deeper" / "env",
        reverse=True,
        umask=0o077,
        owner=4321,
        mtime=1_900_000_000.75,
    )
    assert modes_of(one) != modes_of(two)  # the trees really differ on disk

    first = _pack(fmt_name, one, tmp_path / f"one.{fmt_name}")
    second = _pack(fmt_name, two, tmp_path / f"two.{fmt_name}")

    assert first == second
    raw = _uncompressed(fmt_name, first)
    for leak in (str(tmp_path), "build-one", "elsewhere", "4321"):
        assert leak.encode() not in raw
    # Staging decides what ships; the formats archive pyc files like any file (issue 10).
    assert b"__pycache__/__init__.cpython-312.pyc" in raw


@pytest.mark.parametrize("fmt_name", FORMATS)
def test_members_are_normalised_and_read_back(tmp_path, fmt_name):
    tree = make_tree(tmp_path / "env", umask=0o077)
    archive = tmp_path / f"x.{fmt_name}"
    _pack(fmt_name, tree, archive)
    with archive.open("rb") as raw, BUILTIN_FORMATS[fmt_name].open_reader(raw) as reader:
        members = {m.name: m for m in reader.members()}
    names = list(members)
    assert names[0] == "framework-x@2"
    assert names == sorted(names, key=lambda n: n.split("/"))  # depth first, sorted children
    # zip stores DOS times: two-second resolution.
    expected_mtime = LOCK_MTIME - LOCK_MTIME % 2 if fmt_name == "zip" else LOCK_MTIME
    assert {m.mtime for m in members.values()} == {expected_mtime}
    root = "framework-x@2/"
    assert members[root + "bin/tool"].mode == 0o755
    assert members[root + "lib/python3.12/site-packages/pkg/data.bin"].mode == 0o644
    assert members[root + "share/empty"].kind is MemberKind.DIR
    assert members[root + "share/empty"].mode == 0o755
    assert members[root + "bin/python"].kind is MemberKind.SYMLINK
    assert members[root + "bin/python"].link_target == "../../cpython-3.12/bin/python3"
    pyc = root + "lib/python3.12/site-packages/pkg/__pycache__/__init__.cpython-312.pyc"
    assert members[pyc].mode == 0o644
    assert members[pyc].mtime == expected_mtime
    assert root + "lib/python3.12/site-packages/\u00fcnicode_n\u00e4me.py" in members


@pytest.mark.parametrize("fmt_name", ["tar.xz", "tar.zst"])
def test_tar_headers_have_root_owner(tmp_path, fmt_name):
    tree = make_tree(tmp_path / "env", owner=4321)
    raw = _uncompressed(fmt_name, _pack(fmt_name, tree, tmp_path / "a"))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        infos = tar.getmembers()
    assert {(i.uid, i.gid, i.uname, i.gname) for i in infos} == {(0, 0, "root", "root")}
    assert {i.mtime for i in infos} == {LOCK_MTIME}


def test_tar_xz_is_what_tarfile_w_xz_writes(tmp_path):
    """Compatible with venvstacks: the same bytes as ``tarfile.open(..., "w:xz")`` would write."""
    tree = make_tree(tmp_path / "env")
    ours = _pack("tar.xz", tree, tmp_path / "ours.tar.xz")
    stream = io.BytesIO()
    with reporter_task() as task:
        write_tar(scan_tree(tree, root_name="framework-x@2"), stream, mtime=LOCK_MTIME, task=task)
    reference = tmp_path / "reference.tar.xz"
    with (
        tarfile.open(fileobj=io.BytesIO(stream.getvalue())) as src,
        tarfile.open(reference, "w:xz", format=tarfile.PAX_FORMAT) as dst,
    ):
        for info in src:
            dst.addfile(info, src.extractfile(info) if info.isreg() else None)
    assert ours == reference.read_bytes()


def reporter_task():  # type: ignore[no-untyped-def]
    return RecordingReporter().task("x", "pack")


def test_zstd_bytes_do_not_depend_on_the_number_of_threads(tmp_path):
    tree = tmp_path / "big"
    tree.mkdir()
    # Enough data for several zstd jobs (a job is a few MiB at this level).
    seed = hashlib.sha256(b"seed").digest()
    for index in range(24):
        block = b"".join(
            hashlib.sha256(seed + bytes([index, n % 7])).digest() * 4 for n in range(16384)
        )
        (tree / f"file{index:02}.bin").write_bytes(block)
    digests = set()
    for threads in (1, 2, 3):
        archive = tmp_path / f"t{threads}.tar.zst"
        with reporter_task() as task:
            TarZstFormat(threads=threads).pack(
                tree, archive, root_name="x", mtime=LOCK_MTIME, task=task
            )
        digests.add(hashlib.sha256(archive.read_bytes()).hexdigest())
    assert len(digests) == 1
    assert TarZstFormat().level == ZSTD_LEVEL


def test_tree_hash_is_the_same_for_every_format_and_changes_with_content(tmp_path):
    tree = make_tree(tmp_path / "env")
    first = tree_hash(scan_tree(tree, root_name="x"))
    assert first == tree_hash(
        scan_tree(make_tree(tmp_path / "other", reverse=True, umask=0o077), root_name="x")
    )
    (tree / "postinstall.py").write_text("changed\n")
    assert tree_hash(scan_tree(tree, root_name="x")) != first


def test_progress_counts_every_content_byte(tmp_path):
    tree = make_tree(tmp_path / "env")
    reporter = RecordingReporter()
    total = sum(e.size for e in scan_tree(tree, root_name="x"))
    with reporter.task("x", "pack", total=total) as task:
        BUILTIN_FORMATS["tar.zst"].pack(
            tree, tmp_path / "a", root_name="x", mtime=LOCK_MTIME, task=task
        )
    assert reporter.tasks[0].done == total > 0


def test_special_files_are_refused(tmp_path):
    tree = make_tree(tmp_path / "env")
    os.mkfifo(tree / "pipe")
    with pytest.raises(PublishError, match=r"env/pipe: it is a fifo"):
        _pack("tar.zst", tree, tmp_path / "a")


def test_lock_time_becomes_an_integer_utc_mtime():
    assert lock_mtime("2026-01-02T03:04:05+00:00") == LOCK_MTIME
    assert lock_mtime("2026-01-02T04:04:05.900+01:00") == LOCK_MTIME
    assert lock_mtime("2026-01-02T03:04:05Z") == LOCK_MTIME
    with pytest.raises(PublishError, match="'yesterday' is not an ISO 8601 time"):
        lock_mtime("yesterday")


def test_unknown_format_suggests_the_closest_name():
    pm = get_plugin_manager(load_entrypoints=False)
    with pytest.raises(SpecError) as caught:
        get_format(pm, "tar.zstd", where="tool.venvstacks.archive-format")
    text = str(caught.value)
    assert text.startswith("tool.venvstacks.archive-format: unknown archive format 'tar.zstd'")
    assert "did you mean 'tar.zst'?" in text
    assert "(known: 'tar.xz', 'tar.zst', 'zip')" in text


def test_a_plugin_can_add_a_format_and_deploy_finds_it_by_suffix(tmp_path):
    class PlainTar:
        name = "tar"
        suffix = ".tar"

        def pack(self, source, archive, *, root_name, mtime, task):  # type: ignore[no-untyped-def]
            with archive.open("wb") as out:
                write_tar(scan_tree(source, root_name=root_name), out, mtime=mtime, task=task)

        def open_reader(self, archive, *, task=None):  # type: ignore[no-untyped-def]
            from envstacks.published.archive_tar import TarReader

            return TarReader(archive, what="plain tar")

    class Plugin:
        @hookimpl
        def envstacks_archive_formats(self):  # type: ignore[no-untyped-def]
            return (PlainTar(),)

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(Plugin())
    assert get_format(pm, "tar").suffix == ".tar"
    assert format_for_archive(pm, "x@1.tar").name == "tar"
    assert format_for_archive(pm, "x@1.tar.xz").name == "tar.xz"  # longest suffix wins
    with pytest.raises(Exception, match=r"no archive format reads it.*known formats: tar, tar.xz"):
        format_for_archive(pm, "x.rar")
