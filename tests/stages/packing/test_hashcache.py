"""Archives not packed in this run are hash-checked, cheaply; ``verify`` re-hashes all of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envstacks.floor.report import RecordingReporter
from envstacks.published.layer_tree import content_size, scan_tree
from envstacks.stages.packing import hashcache
from envstacks.stages.stackspec import stack_paths

from .conftest import Stack


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The archives whose bytes the hash cache reads (file_sha256, counted)."""
    seen: list[str] = []
    real = hashcache.file_sha256

    def counting(path: Path, **kwargs: object) -> str:
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(hashcache, "file_sha256", counting)
    return seen


def test_unchanged_archives_are_not_read_again(stack: Stack, reads: list[str]):
    stack.publish()
    assert reads == []  # the hashes of archives just packed are known without reading
    again = stack.publish()
    assert [item.status for item in again.layers] == ["unchanged"] * 3
    assert reads == []
    assert (stack.spec.settings.build_dir / hashcache.CACHE_FILE).is_file()


def test_verify_reads_every_archive_again(stack: Stack, reads: list[str]):
    stack.publish()
    again = stack.publish(verify=True)
    assert [item.status for item in again.layers] == ["unchanged"] * 3
    assert sorted(set(reads)) == sorted(item.archive_path.name for item in again.layers)


def test_a_changed_archive_of_another_run_is_left_out_with_a_warning(stack: Stack):
    stack.publish()
    output = stack.spec.settings.output_dir
    archive = output / "framework-fw@1.tar.zst"  # published by an earlier run
    data = bytearray(archive.read_bytes())
    data[-20] ^= 1  # same size: a size check alone would not see it
    archive.write_bytes(bytes(data))
    reporter = RecordingReporter()

    result = stack.publish(["app-app"], reporter=reporter)

    listed = [e["archive_name"] for v in result.manifest["layers"].values() for e in v]
    assert "framework-fw@1.tar.zst" not in listed and "app-app.tar.zst" in listed
    (warning,) = reporter.texts("warning")
    assert str(archive) in warning and "left out of the manifest" in warning
    manifest = json.loads((output / "__venvstacks__" / "venvstacks.json").read_text())
    assert manifest == result.manifest
    healed = stack.publish()  # publishing that layer again puts it back
    assert [item.status for item in healed.layers] == ["unchanged", "published", "unchanged"]
    assert len([e for v in healed.manifest["layers"].values() for e in v]) == 3


def test_unpacked_size_and_entries_are_recorded(stack: Stack):
    result = stack.publish()
    for item in result.layers:
        entries = scan_tree(
            stack_paths.env_path(stack.spec, stack.layer(item.layer)), root_name="x"
        )
        assert item.metadata["unpacked_size"] == content_size(entries) > 0
        assert item.metadata["unpacked_entries"] == len(entries)
