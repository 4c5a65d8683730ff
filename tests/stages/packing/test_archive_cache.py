"""The archive cache: a tree packed once is linked into any later publish folder, checked."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.published.archive_tar import TarZstFormat
from envstacks.stages.packing.archive_cache import CACHE_DIR_VARIABLE, archive_key

from .conftest import Stack

CACHED = "the same tree was packed before (cached)"


def _cached_layers(reporter: RecordingReporter) -> list[str]:
    return sorted(
        message.split(":")[0] for _level, message in reporter.messages if CACHED in message
    )


def _digests(output: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(output.glob("*.tar.*"))
    }


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "archive-cache"
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(folder))
    return folder


def test_a_second_folder_gets_the_same_archives_without_packing(
    stack: Stack, cache: Path, tmp_path: Path
) -> None:
    first = stack.publish(output_dir=tmp_path / "one")
    reporter = RecordingReporter()
    second = stack.publish(output_dir=tmp_path / "two", reporter=reporter)
    assert _cached_layers(reporter) == ["app-app", "cpython-3.12", "framework-fw"]
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")
    assert [item.metadata for item in first.layers] == [item.metadata for item in second.layers]
    assert (tmp_path / "two" / "app-app.tar.zst").stat().st_nlink == 3  # linked, not written

    # Another compression, another tree, a damaged entry: packed again.
    reporter = RecordingReporter()
    stack.publish(output_dir=tmp_path / "max", compression="max", reporter=reporter)
    assert _cached_layers(reporter) == []
    stack.rebuild("app-app", "postinstall.py", "print('v2')\n")
    entry = next(
        path
        for path in cache.rglob("*.*")
        if path.read_bytes() == (tmp_path / "one" / "framework-fw@1.tar.zst").read_bytes()
    )
    (tmp_path / "one" / "framework-fw@1.tar.zst").unlink()
    (tmp_path / "two" / "framework-fw@1.tar.zst").unlink()
    damaged = bytearray(entry.read_bytes())
    damaged[100] ^= 1
    entry.write_bytes(bytes(damaged))
    reporter = RecordingReporter()
    third = stack.publish(output_dir=tmp_path / "three", reporter=reporter)
    assert _cached_layers(reporter) == ["cpython-3.12"]
    fw = next(item for item in third.layers if item.layer == "framework-fw")
    assert fw.metadata["archive_hashes"] == first.layers[1].metadata["archive_hashes"]


def test_off_packs_every_time(stack: Stack, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_DIR_VARIABLE, "off")
    stack.publish(output_dir=tmp_path / "one")
    reporter = RecordingReporter()
    stack.publish(output_dir=tmp_path / "two", reporter=reporter)
    assert _cached_layers(reporter) == []
    assert (tmp_path / "two" / "app-app.tar.zst").stat().st_nlink == 1


def test_the_key_covers_what_decides_the_bytes() -> None:
    class PluginZst(TarZstFormat):
        name = "tar.zst-plugin"

    plain = TarZstFormat()
    key = archive_key(plain, tree_sha256="a" * 64, mtime=1)
    assert key is not None
    assert archive_key(plain, tree_sha256="b" * 64, mtime=1) != key
    assert archive_key(plain, tree_sha256="a" * 64, mtime=2) != key
    assert (
        archive_key(plain.with_compression("max", where="x"), tree_sha256="a" * 64, mtime=1) != key
    )
    assert archive_key(PluginZst(), tree_sha256="a" * 64, mtime=1) is None  # a plugin's: never
